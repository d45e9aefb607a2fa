"""From a record's samples to windows: lead choice, gap filling, resampling, windowing and the
per-window quality flags; the lead layout of ``--lead-set`` (:mod:`~ecgspec.signal.lead_sets`,
:mod:`~ecgspec.signal.record_layout`) and torch_ecg's preprocessing (:mod:`~ecgspec.signal.preprocess`,
streamed over long records by :mod:`~ecgspec.signal.preprocess_stream`); NumPy and SciPy, no torch."""
