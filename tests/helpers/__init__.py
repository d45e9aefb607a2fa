"""What several test modules share: paths, the CLI runner, record builders, comparisons, references.

Test modules import from here (``from tests.helpers.cli import invoke``), never from one another.
"""
