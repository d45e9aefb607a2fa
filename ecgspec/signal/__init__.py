"""What happens to a record's signals between reading and the windows: the lead layout
(:mod:`~ecgspec.signal.lead_sets`) and torch_ecg's preprocessing (:mod:`~ecgspec.signal.preprocess`,
streamed over long records by :mod:`~ecgspec.signal.preprocess_stream`)."""
