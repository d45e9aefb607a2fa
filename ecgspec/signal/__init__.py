"""From a record's samples to windows: lead choice, gap filling, resampling, windowing and the
per-window quality flags; NumPy and SciPy, no torch."""
