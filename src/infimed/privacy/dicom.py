"""DICOM de-identification by allowlist: keep what describes the pixels, remove everything else.

``deidentify_dataset`` keeps only the attributes named in ``infimed.privacy.dicom_allowlist`` (pixel data and
its description, geometry, modality, acquisition physics), walking sequences with the same list; every other
attribute is removed, including unknown public tags, retired tags, overlays, curves, icons, digital
signatures and every date. UIDs are remapped consistently for a ``salt`` (``2.25.`` + hash), so a study's
series and instances stay linked across files and runs; registered DICOM UIDs (SOP classes) stay. The
Type 2 patient/study attributes stay present and empty. Every text value that is kept goes through the text
PHI scrubber (``infimed.privacy.text``): a hit is replaced by its placeholder, or the value is emptied where
its VR cannot hold one. Private attributes are removed unless ``keep_private`` names them
(creator, group, element byte). The 128-byte preamble is zeroed and the file meta rebuilt. Texts in the
headers of a compressed pixel stream (JPEG COM/APPn, JPEG 2000 COM) are scrubbed too: one with an
identifier makes the file refused, since the pixel data is never altered.

Measured against PS3.15 Table E.1-1 (2025a, 621 rows): no attribute of the table is kept except the UIDs
(remapped) and the Type 2 ones (emptied); where the profile allows a dummy value (D) we remove instead.
Burned-in annotation: ``BurnedInAnnotation == YES`` raises ``DicomDeidError``; so does an unstated one in a
modality that usually carries it (``BURNED_IN_MODALITIES``, secondary capture), unless ``allow_burned_in``.
Pixels are never altered; with ``allow_burned_in`` the copy says ``PatientIdentityRemoved = NO``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from infimed.privacy import dicom_allowlist as allow
from infimed.privacy.dicom_stream import stream_texts

# PS3.16 CID 7050 De-identification Method: only codes for what is actually applied are written.
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
RETAIN_SAFE_PRIVATE = ("113111", "Retain Safe Private Option")
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"})
FREE_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})  # can hold a "[NAME]" placeholder
MAX_LEN = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240}


class DicomDeidError(ValueError):
    """A dataset that cannot be de-identified safely (e.g. identifiers burned into the pixels)."""


class TextScrubber(Protocol):
    def scrub(self, text: str) -> Any: ...  # returns an object with ``.text`` and ``.found``


@dataclass
class DeidReport:
    """What one de-identification did: kept/removed attribute counts and the removed keywords."""

    kept: int = 0
    removed: int = 0
    emptied: int = 0
    uid_remapped: int = 0
    text_scrubbed: int = 0
    private_removed: int = 0
    private_kept: int = 0
    removed_names: Counter[str] = field(default_factory=Counter)

    def counts(self) -> Counter[str]:
        return Counter({k: v for k, v in vars(self).items() if isinstance(v, int) and v})


def remap_uid(uid: str, salt: str) -> str:
    """Deterministic replacement UID under the UUID-derived root ``2.25``."""
    digest = hashlib.sha256(f"{salt}\x00{uid}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _is_registered_uid(uid: str) -> bool:
    from pydicom.uid import UID_dictionary

    return uid in UID_dictionary


@lru_cache(maxsize=1)
def default_scrubber() -> TextScrubber:
    """The project's text PHI scrubber, built once (~1 s)."""
    from infimed.privacy.text import Deidentifier

    return Deidentifier()


def burned_in_risk(ds: Any) -> str | None:
    """Why the pixels may carry identifiers, or None: a stated YES, or an unstated one in a risky modality."""
    stated = str(ds.get("BurnedInAnnotation") or "").strip().upper()
    if stated == "YES":
        return "BurnedInAnnotation is YES: identifiers may be in the pixels"
    if stated == "NO":
        return None
    modality = str(ds.get("Modality") or "").strip().upper()
    if modality in allow.BURNED_IN_MODALITIES:
        return f"BurnedInAnnotation not stated and Modality {modality} usually carries burned-in text"
    if str(ds.get("SOPClassUID") or "").startswith(allow.SECONDARY_CAPTURE_PREFIX):
        return "BurnedInAnnotation not stated in a secondary capture (often a screenshot with burned-in text)"
    return None


class _Cleaner:
    def __init__(self, salt: str, scrubber: TextScrubber, keep_private: Collection[tuple[str, int, int]]):
        self.salt = salt
        self.scrubber = scrubber
        self.keep_private = {(c.strip(), g, e) for c, g, e in keep_private}
        self.report = DeidReport()
        self._scrubbed: dict[str, str | None] = {}

    def _scrub_one(self, text: str, vr: str) -> str | None:
        """The value to keep (the text itself when clean), or None to empty it."""
        key = f"{vr}\x00{text}"
        if key not in self._scrubbed:
            out = self.scrubber.scrub(text)
            if not out.found:
                self._scrubbed[key] = text
            elif vr in FREE_TEXT_VRS:
                self._scrubbed[key] = out.text[: MAX_LEN.get(vr, len(out.text))]
            else:
                self._scrubbed[key] = None
        return self._scrubbed[key]

    def _text(self, elem: Any) -> None:
        from pydicom.multival import MultiValue

        if elem.VR == "UI" or elem.value in (None, "", b""):
            return
        values = list(elem.value) if isinstance(elem.value, MultiValue | list | tuple) else [elem.value]
        if elem.VR in ("DS", "IS"):  # numbers carry no text; a value that is not a number is emptied
            try:
                [float(v) for v in values]
            except (TypeError, ValueError):
                elem.value = None
                self.report.text_scrubbed += 1
            return
        name = elem.keyword
        if name in allow.ENUMERATED:
            bad = [v for v in values if str(v).strip().upper() not in allow.ENUMERATED[name]]
            if bad:
                raise DicomDeidError(f"field {name}: a value ({len(str(bad[0]))} characters, not shown) is not one "
                                     f"of its defined terms {sorted(allow.ENUMERATED[name])}")
            return
        new = [self._scrub_one(str(v), elem.VR) for v in values]
        if new != [str(v) for v in values]:
            self.report.text_scrubbed += 1
            kept = [v if v is not None else "" for v in new]
            elem.value = kept if len(kept) > 1 else kept[0]

    def _uid(self, elem: Any) -> None:
        from pydicom.multival import MultiValue

        values = [str(v) for v in (elem.value if isinstance(elem.value, MultiValue | list) else [elem.value]) if v]
        new = [v if _is_registered_uid(v) else remap_uid(v, self.salt) for v in values]
        if new != values:
            elem.value = new if len(new) > 1 else new[0]
            self.report.uid_remapped += 1

    def _private_key(self, ds: Any, tag: Any) -> tuple[str, int, int] | None:
        if tag.element < 0x1000:
            return None
        creator = ds.get((tag.group, tag.element >> 8))
        return (str(creator.value).strip(), tag.group, tag.element & 0xFF) if creator is not None else None

    def _private(self, ds: Any) -> None:
        """Remove private attributes except allowlisted ones (and the creator elements they need)."""
        private = [elem.tag for elem in ds if elem.tag.is_private]
        blocks_used = set()
        for tag in private:
            if 0x0010 <= tag.element <= 0x00FF:
                continue  # a private creator: kept below only if its block keeps an element
            key = self._private_key(ds, tag)
            vr = ds[tag].VR
            if key is not None and key in self.keep_private and vr not in ("SQ", "UN"):  # UN text is uncheckable
                blocks_used.add((tag.group, tag.element >> 8))
                if vr in TEXT_VRS:
                    self._text(ds[tag])
                self.report.private_kept += 1
            else:
                del ds[tag]
                self.report.private_removed += 1
        for tag in private:
            if 0x0010 <= tag.element <= 0x00FF and (tag.group, tag.element) not in blocks_used:
                del ds[tag]
                self.report.private_removed += 1

    def clean(self, ds: Any) -> None:
        if self.keep_private:
            self._private(ds)
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private and self.keep_private:
                continue  # decided by _private
            name = elem.keyword
            if tag.is_private or elem.VR == "UN" or name not in allow.ALLOWED:
                del ds[tag]
                if tag.is_private:
                    self.report.private_removed += 1
                else:
                    self.report.removed += 1
                    self.report.removed_names[name or f"({tag.group:04X},{tag.element:04X})"] += 1
                continue
            self.report.kept += 1
            if name in allow.EMPTY:
                elem.value = None
                self.report.emptied += 1
            elif elem.VR == "SQ":
                for item in elem.value:
                    self.clean(item)
            elif name in allow.UIDS:
                self._uid(elem)
            elif elem.VR in TEXT_VRS:
                self._text(elem)


def _code(value: str, meaning: str) -> Any:
    from pydicom.dataset import Dataset

    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
    return code


def deidentify_dataset(
    ds: Any,
    *,
    salt: str = "infimed",
    allow_burned_in: bool = False,
    scrubber: TextScrubber | None = None,
    keep_private: Collection[tuple[str, int, int]] = (),
) -> DeidReport:
    """De-identify a pydicom ``Dataset`` in place (see the module docstring); returns what was done.

    ``keep_private``: private attributes to keep, as (private creator, group, element byte), e.g.
    ``("SIEMENS MR HEADER", 0x0019, 0x0C)`` for (0019,xx0C); their text values are scrubbed too, and one
    whose VR is unknown (UN) or a sequence is removed anyway.
    """
    from pydicom.sequence import Sequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if "SOPClassUID" not in ds:
        raise DicomDeidError("no SOPClassUID: not a DICOM instance that can be written de-identified")
    risk = burned_in_risk(ds)
    if risk and not allow_burned_in:
        raise DicomDeidError(f"{risk}; pass allow_burned_in to accept it")
    cleaner = _Cleaner(salt, scrubber or default_scrubber(), keep_private)
    for text in stream_texts(ds):
        if cleaner.scrubber.scrub(text).found:
            raise DicomDeidError("a comment in the compressed pixel stream holds an identifier (not shown); the "
                                 "pixel data is never altered, so the file cannot be de-identified")
    cleaner.clean(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for elem in list(meta):
            if elem.keyword not in ("FileMetaInformationVersion", "MediaStorageSOPClassUID", "TransferSyntaxUID"):
                del meta[elem.tag]
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        if "TransferSyntaxUID" not in meta:  # files without one were read as uncompressed little endian
            implicit = (getattr(ds, "original_encoding", None) or (True, True))[0]
            meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\0" * 128
    method = [f"infimed DICOM allowlist {allow.VERSION}: unlisted attributes removed",
              "PS3.15 Basic Application Confidentiality Profile", "kept text scanned by a PHI scrubber",
              "all dates removed; UIDs remapped"]
    codes = [_code(*BASIC_PROFILE)]
    if cleaner.report.private_kept:
        method.append(f"Retain Safe Private Option: {len(cleaner.keep_private)} allowlisted")
        codes.append(_code(*RETAIN_SAFE_PRIVATE))
    else:
        method.append("all private attributes removed")
    if risk:
        method.append("burned-in annotation NOT removed from pixels")
    ds.PatientIdentityRemoved = "NO" if risk else "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = method
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    return cleaner.report


def deidentify_file(
    src: str | Path,
    dst: str | Path,
    *,
    salt: str = "infimed",
    allow_burned_in: bool = False,
    scrubber: TextScrubber | None = None,
    keep_private: Collection[tuple[str, int, int]] = (),
) -> DeidReport:
    """Read ``src``, de-identify, write ``dst`` (atomically: temp file + rename). Errors name the file."""
    import os
    import tempfile

    import pydicom

    src, dst = Path(src), Path(dst)
    try:
        ds = pydicom.dcmread(str(src))
        report = deidentify_dataset(ds, salt=salt, allow_burned_in=allow_burned_in, scrubber=scrubber,
                                    keep_private=keep_private)
    except DicomDeidError as exc:
        raise DicomDeidError(f"{src}: {exc}") from exc
    except Exception as exc:
        raise DicomDeidError(f"{src}: cannot de-identify ({type(exc).__name__}: {exc})") from exc
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report
