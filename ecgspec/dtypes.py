"""The dtypes ``/spectrograms`` may hold: a leaf module (no h5py, no NumPy), so that checking
``--dtype`` in :mod:`ecgspec.config` keeps ``ecgspec shape`` and ``--help`` light."""

STORE_DTYPES = ("float32", "float16")
