"""The real records of ``../shared/data/real/physionet`` whose WFDB record lines depart from the
format (issue 34), each with its line corrected by hand, the start it states and the notes
ecgspec makes of it; and corrected copies of them for wfdb to read."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.paths import DATA

PHYSIONET = DATA / "real" / "physionet"
ISO_FIRST = "start date before the time"
# record -> (its record line corrected to the WFDB format by hand, /records/start_time, header_warnings)
DEPARTURES = {
    "cinc2017/A00004": ("A00004 1 300 9000 11:05:48 01/05/2014", "2014-05-01T11:05:48",
                        f"start date '2014-05-01' (YYYY-MM-DD) read as 2014-05-01; {ISO_FIRST}"),
    "cinc2017/A00105": ("A00105 1 300 18170 09:06:28 07/06/2014", "2014-06-07T09:06:28",
                        f"start date '2014-06-07' (YYYY-MM-DD) read as 2014-06-07; {ISO_FIRST}"),
    "cinc2020-georgia/E00009": ("E00009 12 500 5000 14:50:55 05/05/2020", "2020-05-05T14:50:55",
                                "record name 'E00009.mat' (its signal file's name) read as 'E00009'; start date"
                                f" '05-May-2020' (DD-Mon-YYYY) read as 2020-05-05; {ISO_FIRST}"),
    "cinc2021-georgia/E00666": ("E00666 12 500 5000 14:50:55 05/05/2020", "2020-05-05T14:50:55",
                                "record name 'E00666.mat' (its signal file's name) read as 'E00666'; start date"
                                f" '05-May-2020' (DD-Mon-YYYY) read as 2020-05-05; {ISO_FIRST}"),
    "cinc2021-chapman/JS00666": ("JS00666 12 500 5000 20:59:55 23/03/2021", "2021-03-23T20:59:55",
                                 f"start date '23-Mar-2021' (DD-Mon-YYYY) read as 2021-03-23; {ISO_FIRST}"),
    "cinc2020-ptb/S0001": ("S0001 12 1000 38400 15:22:05 15/05/2020", "2020-05-15T15:22:05",
                           f"start date '15-May-2020' (DD-Mon-YYYY) read as 2020-05-15; {ISO_FIRST}"),
}


def corrected(folder: Path, name: str, line: str) -> Path:
    """A copy of the real header ``name`` in ``folder`` with its record line replaced (its line end
    kept), beside links to the real signal files."""
    source = PHYSIONET / f"{name}.hea"
    first, newline, rest = source.read_bytes().partition(b"\n")
    (folder / source.name).write_bytes(line.encode() + b"\r" * first.endswith(b"\r") + newline + rest)
    for file in source.parent.glob(source.stem + ".*"):
        if file.suffix != ".hea":
            os.symlink(file, folder / file.name)
    return folder / source.name
