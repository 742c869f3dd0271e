"""Audit a DICOM de-identifier: plant known identifiers in a dataset, then look for them in the written bytes.

``plant_identifiers(ds)`` overwrites every text-valued element (PN, LO, SH, ST, LT, UT, UC, UR, AE, CS and the
dates DA/DT/TM), in the file meta and inside every sequence item, with a unique identifier, and adds more
where a real file often has them: OperatorsName, InstitutionName, StudyDescription, a text inside a new
sequence item (kept by the allowlist, so the text scrubber must catch it), a private tag and an unknown
public tag. ``surviving(raw, planted)`` lists the ones still present in the bytes, as ASCII/UTF-8 or UTF-16.
Not planted: SpecificCharacterSet (needed to read the rest) and the enumerated pixel descriptors, which the
de-identifier validates instead of scrubbing (``dicom_allowlist.ENUMERATED``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from infimed.privacy.dicom_allowlist import ENUMERATED

PLANTED_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "CS", "DA", "DT", "TM"})
NOT_PLANTED = frozenset({"SpecificCharacterSet", *ENUMERATED})
UNKNOWN_PUBLIC_TAG = 0x00100099  # an even-group tag that no DICOM edition defines (checked by the test)
NAMES = ("Okafor", "Ngozi")  # planted in every PN; a PN is never kept, so neither may survive


@dataclass
class Planted:
    tokens: list[str] = field(default_factory=list)  # every string that must not survive
    elements: int = 0  # elements planted (overwritten or added)

    def _next(self) -> int:
        return 7300000000 + 7919 * len(self.tokens)


def _value(vr: str, planted: Planted) -> str:
    n = planted._next()
    if vr in ("DA", "DT", "TM"):
        day = dt.date(1901, 1, 1) + dt.timedelta(days=len(planted.tokens) * 37 % 36000)
        tm = f"1011{len(planted.tokens) % 60:02d}.3{len(planted.tokens):05d}"
        value = {"DA": day.strftime("%Y%m%d"), "TM": tm, "DT": day.strftime("%Y%m%d") + tm}[vr]
        planted.tokens.append(value)
        return value
    planted.tokens.append(str(n))
    if vr == "PN":
        return f"{NAMES[0]}^{NAMES[1]} {n}"
    if vr == "UR":
        return f"http://example.org/mrn/{n}"
    return f"MRN{n}" if vr == "AE" else f"MRN {n}"


def _plant_existing(ds: Any, planted: Planted) -> None:
    from pydicom.multival import MultiValue

    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                _plant_existing(item, planted)
        elif elem.VR in PLANTED_VRS and elem.keyword not in NOT_PLANTED:
            vm = len(elem.value) if isinstance(elem.value, MultiValue | list) else 1
            values = [_value(elem.VR, planted) for _ in range(max(vm, 1))]
            elem.value = values if len(values) > 1 else values[0]
            planted.elements += 1


def plant_identifiers(ds: Any) -> Planted:
    """Plant identifiers in place (see the module docstring); returns what to search for afterwards."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    planted = Planted(tokens=list(NAMES))
    _plant_existing(ds, planted)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        meta.SourceApplicationEntityTitle = _value("AE", planted)
        _plant_existing(meta, planted)
    ds.OperatorsName = _value("PN", planted)
    ds.InstitutionName = _value("LO", planted)
    ds.StudyDescription = _value("LO", planted)
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator = _value("SH", planted), "SCT"
    region.CodeMeaning = _value("LO", planted)
    request = Dataset()
    request.RequestedProcedureDescription = _value("LO", planted)
    request.ScheduledProcedureStepID = _value("SH", planted)
    ds.AnatomicRegionSequence = Sequence([region])
    ds.RequestAttributesSequence = Sequence([request])
    block = ds.private_block(0x0011, "INFIMED PLANT", create=True)
    block.add_new(0x01, "LO", _value("LO", planted))
    ds.add_new(UNKNOWN_PUBLIC_TAG, "LO", _value("LO", planted))
    planted.elements += 9
    return planted


def plant_attributes(ds: Any, tags: list[int]) -> Planted:
    """Add each public ``tag`` (VR from the DICOM dictionary) with a planted value; a sequence gets one item
    whose CodeMeaning is planted. Tags pydicom does not know, and non-text VRs other than SQ, are skipped."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    planted = Planted()
    for tag in tags:
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        if vr == "SQ":
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = "1234", "99X"
            item.CodeMeaning = _value("LO", planted)
            ds.add_new(tag, "SQ", Sequence([item]))
        elif vr in PLANTED_VRS:
            ds.add_new(tag, vr, _value(vr, planted))
        else:
            continue
        planted.elements += 1
    return planted


def surviving(raw: bytes, planted: Planted) -> list[str]:
    """The planted identifiers present anywhere in ``raw`` (ASCII/UTF-8, UTF-16 LE or BE)."""
    return [t for t in planted.tokens
            if any(t.encode(codec) in raw for codec in ("utf-8", "utf-16-le", "utf-16-be"))]
