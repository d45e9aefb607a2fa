"""The docs site builds with warnings as errors and names what a user looks up: every ``ecgspec extract``
option, every public name, every dataset of the HDF5 layout; the README stays a front page; the code map
names every module."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ecgspec
from ecgspec.cli import main
from tests.docs.test_hdf5_page import PAGE as HDF5_PAGE
from tests.docs.test_hdf5_page import table_rows
from tests.helpers.paths import ROOT

PUBLIC = sorted({*ecgspec.__all__, "open", "BlockSampler", "WindowSubset", "Window", "WindowColumns"} - {"__version__"})


def extract_options() -> list[str]:
    """Every spelling of every option of ``ecgspec extract`` (``--to1d`` and ``--no-to1d``)."""
    command = main.commands["extract"]
    return [opt for p in command.params if p.param_type_name == "option"
            for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")]


def site_text(site: Path) -> str:
    """The text of every built page, tags dropped."""
    pages = [p.read_text() for p in site.rglob("*.html")]
    return html.unescape(re.sub(r"<[^>]+>", " ", "\n".join(pages)))


@pytest.mark.slow  # mkdocs with mkdocstrings: ~5-10 s here
def test_the_site_builds_strict_and_names_every_option_public_name_and_dataset(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = site_text(tmp_path / "site")
    missing = [o for o in extract_options() if o not in text]
    assert not missing, f"options no built page names: {missing}"
    missing = [n for n in PUBLIC if not re.search(rf"\b{re.escape(n)}\b", text)]
    assert not missing, f"public names no built page names: {missing}"
    datasets = [n for names, _ in table_rows(HDF5_PAGE.read_text()) for n in names if "@" not in n]
    assert len(datasets) > 25 and not [d for d in datasets if d not in text]
    api = site_text(tmp_path / "site" / "reference" / "api")
    for name in ("extract", "open", "SpectrogramFile", "split", "InputConfig", "SpectrogramInput"):
        assert re.search(rf"\b{name}\b", api), name
    assert "Parameters:" in api and "Raises:" in api and "Examples:" in api


def test_the_option_list_is_the_commands() -> None:
    options = extract_options()
    assert {"--lead-set", "--to1d", "--no-to1d", "--targets", "--resume"} <= set(options) and "--help" not in options


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count("\n") <= 250
    first_block = readme[readme.index("```bash\n") + 8:]
    commands = [line.split("#")[0].strip() for line in first_block[: first_block.index("```")].splitlines()]
    assert commands[:2] == ["make demo", "make test"]
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_the_code_map_names_every_module() -> None:
    page = (ROOT / "docs" / "development.md").read_text()
    modules = sorted(p.relative_to(ROOT / "ecgspec") for p in (ROOT / "ecgspec").rglob("*.py"))
    unnamed = [str(m) for m in modules if m.name != "__init__.py" and m.name not in page and m.stem != "__main__"]
    assert not unnamed, f"modules docs/development.md's code map does not name: {unnamed}"
