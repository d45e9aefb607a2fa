"""WFDB records without wfdb's reader: headers (:mod:`.header`), signal files (:mod:`.signal`),
single-segment records (:mod:`.record`) and multi-segment ones (:mod:`.segments`)."""
