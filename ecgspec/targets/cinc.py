"""The PhysioNet/CinC Challenges' scored classes, as published (2020 and 2021; ``dx_mapping_scored.csv``
and ``weights.csv`` of the challenges' evaluation code, as torch_ecg 0.0.33 ships them in
``torch_ecg/databases/aux_data/cinc2020_aux_data.py`` and ``cinc2021_aux_data.py``).

A record's class comes from the SNOMED CT codes of its header's ``Dx`` line; codes the challenge
did not score are ignored. Pairs the challenge scores as one class are one class, named by the
abbreviation of torch_ecg's representative code (2021: the first code of the ``weights.csv``
column, e.g. CRBBB for ``713427006|59118001``; 2020: torch_ecg's ``equiv_class_dict``, which
merges CRBBB into RBBB). Classes are in the order of ``weights.csv``'s columns; a 2020 pair sits at
the first column of its codes. ``tests/targets/test_cinc.py`` checks these tables against torch_ecg's.
"""

from __future__ import annotations

__all__ = ["ABBREVIATIONS", "CHALLENGES", "challenge_classes"]

# dx_mapping_scored.csv: SNOMED CT code -> abbreviation (the 30 codes 2021 scores; 2020 scores 27 of them)
ABBREVIATIONS = {
    "164889003": "AF", "164890007": "AFL", "6374002": "BBB", "426627000": "Brady", "733534002": "CLBBB",
    "713427006": "CRBBB", "270492004": "IAVB", "713426002": "IRBBB", "39732003": "LAD", "445118002": "LAnFB",
    "164909002": "LBBB", "251146004": "LQRSV", "698252002": "NSIVCB", "426783006": "NSR", "284470004": "PAC",
    "10370003": "PR", "365413008": "PRWP", "427172004": "PVC", "164947007": "LPR", "111975006": "LQT",
    "164917005": "QAb", "47665007": "RAD", "59118001": "RBBB", "427393009": "SA", "426177001": "SB",
    "427084000": "STach", "63593006": "SVPB", "164934002": "TAb", "59931005": "TInv", "17338001": "VPB",
}

# weights.csv's columns, in order; a|b: two codes scored as one class (2021 writes its pairs so)
_WEIGHTS_2021 = (
    "164889003 164890007 6374002 426627000 733534002|164909002 713427006|59118001 270492004 713426002 39732003"
    " 445118002 164947007 251146004 111975006 698252002 426783006 284470004|63593006 10370003 365413008"
    " 427172004|17338001 164917005 47665007 427393009 426177001 427084000 164934002 59931005")
_WEIGHTS_2020 = (
    "270492004 164889003 164890007 426627000 713427006 713426002 445118002 39732003 164909002 251146004 698252002"
    " 10370003 284470004 427172004 164947007 111975006 164917005 47665007 59118001 427393009 426177001 426783006"
    " 427084000 63593006 164934002 59931005 17338001")
# 2020's weights.csv lists each code of a pair apart; torch_ecg's equiv_class_dict names the representative
_EQUIVALENT_2020 = {"713427006": "59118001", "63593006": "284470004", "17338001": "427172004"}

CHALLENGES = {"cinc2021": (_WEIGHTS_2021, {}), "cinc2020": (_WEIGHTS_2020, _EQUIVALENT_2020)}


def challenge_classes(name: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """``(classes, codes)`` of challenge ``name`` (``cinc2021`` or ``cinc2020``): the class names in
    ``weights.csv`` order and, for each, its SNOMED CT codes (the representative first)."""
    weights, equivalent = CHALLENGES[name]
    members: dict[str, list[str]] = {}
    for column in weights.split():
        codes = column.split("|")
        representative = equivalent.get(codes[0], codes[0])
        found = members.setdefault(representative, [representative])
        found.extend(c for c in codes if c not in found)
    return tuple(ABBREVIATIONS[r] for r in members), tuple(tuple(c) for c in members.values())
