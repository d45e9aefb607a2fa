"""The HDF5 output: its schema and layout, the crash-safe writer and its recovery (resume in place),
the reader behind :func:`ecgspec.open`, and the merge of parts; h5py and NumPy, no torch."""
