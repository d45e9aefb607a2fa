"""The label sets models are trained on, and the splits that keep them balanced: pure (NumPy, no HDF5,
no torch).

:mod:`.vocabulary` says which classes a ``--targets`` vocabulary has and which source codes each
merges; :mod:`.cinc` and :mod:`.ptbxl` hold the published tables they come from, :mod:`.codes`
reads a record's codes from a cell, and :mod:`.splits` assigns groups to parts (published folds,
grouped iterative stratification). :mod:`ecgspec.store.targets` writes ``/records/targets`` from
them; :mod:`ecgspec.run.targets` checks a run's vocabulary before any record is read.
"""
