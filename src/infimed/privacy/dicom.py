"""DICOM de-identification after PS3.15 Annex E, the Basic Application Confidentiality Profile.

Per attribute the profile names an action; we apply the strictest one the profile allows:
``X`` remove, ``Z`` replace with an empty value, ``D`` replace with a dummy value, ``U`` remap a UID.
Beyond the table: every private tag is dropped, every UID that is not a registered DICOM UID (SOP
classes and transfer syntaxes are kept) is remapped, sequences are walked recursively, and
PatientIdentityRemoved / DeidentificationMethod(CodeSequence) are set. UID remapping is deterministic
for a given ``salt`` (``2.25.`` + hash), so a study's series and instances stay linked across files and runs.
Not covered (documented, not silently skipped): burned-in text in the pixels (flagged via
BurnedInAnnotation == "YES" -> ``DicomDeidError`` unless ``allow_burned_in``) and overlay/curve planes,
which are removed wholesale (groups 0x50xx and 0x60xx).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

# keyword -> action (X remove, Z empty, D dummy). A subset of PS3.15 Table E.1-1 that covers the
# attributes present in practice; UIDs are handled generically (see module docstring).
BASIC_PROFILE: dict[str, str] = {
    "AccessionNumber": "Z", "AcquisitionComments": "X", "AcquisitionDate": "X", "AcquisitionDateTime": "X",
    "AcquisitionTime": "X", "AdditionalPatientHistory": "X", "AdmissionID": "X", "AdmittingDiagnosesDescription": "X",
    "Allergies": "X", "Arbitrary": "X", "AuthorObserverSequence": "X", "BranchOfService": "X",
    "ContentCreatorName": "Z", "ContentDate": "Z", "ContentTime": "Z", "ContrastBolusAgent": "D",
    "CountryOfResidence": "X", "CurrentPatientLocation": "X", "DerivationDescription": "X",
    "DeviceSerialNumber": "X", "EthnicGroup": "X", "FillerOrderNumberImagingServiceRequest": "Z",
    "ImageComments": "X", "InstanceCreationDate": "X", "InstanceCreationTime": "X", "InstitutionAddress": "X",
    "InstitutionName": "X", "InstitutionalDepartmentName": "X", "IssuerOfPatientID": "X",
    "MedicalAlerts": "X", "MedicalRecordLocator": "X", "MilitaryRank": "X", "NameOfPhysiciansReadingStudy": "X",
    "Occupation": "X", "OperatorsName": "X", "OtherPatientIDs": "X", "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X", "PatientAddress": "X", "PatientAge": "X", "PatientBirthDate": "Z",
    "PatientBirthName": "X", "PatientBirthTime": "X", "PatientComments": "X", "PatientID": "Z",
    "PatientInsurancePlanCodeSequence": "X", "PatientMotherBirthName": "X", "PatientName": "Z",
    "PatientReligiousPreference": "X", "PatientSex": "Z", "PatientSize": "X", "PatientState": "X",
    "PatientTelephoneNumbers": "X", "PatientWeight": "X", "PerformedProcedureStepID": "X",
    "PerformedProcedureStepStartDate": "X", "PerformedProcedureStepStartTime": "X",
    "PerformingPhysicianName": "X", "PersonName": "D", "PhysiciansOfRecord": "X", "PlacerOrderNumberImagingServiceRequest": "Z",
    "PregnancyStatus": "X", "ReferringPhysicianAddress": "X", "ReferringPhysicianName": "Z",
    "ReferringPhysicianTelephoneNumbers": "X", "RequestAttributesSequence": "X", "RequestingPhysician": "X",
    "RequestingService": "X", "RequestedProcedureID": "X", "ResponsiblePerson": "X", "ResponsibleOrganization": "X",
    "ScheduledProcedureStepID": "X", "SeriesDate": "X", "SeriesTime": "X", "SmokingStatus": "X",
    "SpecialNeeds": "X", "StationName": "X", "StudyComments": "X", "StudyDate": "Z", "StudyDescription": "X",
    "SeriesDescription": "X", "StudyID": "Z", "StudyTime": "Z", "TextComments": "X", "TextString": "X",
    "TimezoneOffsetFromUTC": "X", "VerifyingObserverName": "D", "VisitComments": "X",
}
DUMMY = {"PN": "ANONYMIZED", "LO": "ANONYMIZED", "SH": "ANON", "DA": "19000101", "TM": "000000", "DT": "19000101000000"}
METHOD = "PS3.15 E.1 Basic Profile (infimed)"  # LO: at most 64 characters


class DicomDeidError(ValueError):
    """A dataset that cannot be de-identified safely (e.g. identifiers burned into the pixels)."""


def remap_uid(uid: str, salt: str) -> str:
    """Deterministic replacement UID under the UUID-derived root ``2.25``."""
    digest = hashlib.sha256(f"{salt}\x00{uid}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _is_registered_uid(uid: str) -> bool:
    from pydicom.uid import UID_dictionary

    return uid in UID_dictionary


def deidentify_dataset(ds: Any, *, salt: str = "infimed", allow_burned_in: bool = False) -> Counter[str]:
    """De-identify a pydicom ``Dataset`` in place; returns ``{action: count}`` (removed, emptied, ...)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    if str(getattr(ds, "BurnedInAnnotation", "")).upper() == "YES" and not allow_burned_in:
        raise DicomDeidError("BurnedInAnnotation is YES: identifiers may be in the pixels")
    counts: Counter[str] = Counter()

    def walk(d: Any) -> None:
        for elem in list(d):
            tag = elem.tag
            if tag.is_private or (tag.group & 0xFF00) in (0x5000, 0x6000):
                del d[tag]
                counts["private_or_overlay_removed"] += 1
                continue
            action = BASIC_PROFILE.get(elem.keyword)
            if action == "X":
                del d[tag]
                counts["removed"] += 1
            elif action == "Z":
                elem.value = None if elem.VR != "SQ" else Sequence([])
                counts["emptied"] += 1
            elif action == "D":
                elem.value = DUMMY.get(elem.VR, "ANONYMIZED") if elem.VR != "SQ" else Sequence([Dataset()])
                counts["dummied"] += 1
            elif elem.VR == "UI" and elem.value:
                values = elem.value if isinstance(elem.value, list | tuple) else [elem.value]
                new = [v if _is_registered_uid(str(v)) else remap_uid(str(v), salt) for v in values]
                if new != [str(v) for v in values]:
                    elem.value = new if len(new) > 1 else new[0]
                    counts["uid_remapped"] += 1
            elif elem.VR == "SQ":
                for item in elem.value:
                    walk(item)

    walk(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        "113100", "DCM", "Basic Application Confidentiality Profile",
    )
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    return counts


def deidentify_file(src: str | Path, dst: str | Path, *, salt: str = "infimed", allow_burned_in: bool = False) -> Counter[str]:
    """Read ``src``, de-identify, write ``dst`` (atomically: temp file + rename). Errors name the file."""
    import os
    import tempfile

    import pydicom

    src, dst = Path(src), Path(dst)
    try:
        ds = pydicom.dcmread(str(src))
        counts = deidentify_dataset(ds, salt=salt, allow_burned_in=allow_burned_in)
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
    return counts
