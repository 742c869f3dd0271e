"""De-identification: offline PHI scrubbing of free text (``text``: Presidio with our recognizers; ``names``:
person names of every culture by context, word shape and bundled lists; ``identifiers``: record numbers and
IDs of any letter-digit shape; ``measure``: recall and clinical-term retention on annotated corpora) and
DICOM de-identification by allowlist (``dicom``, ``dicom_allowlist``), with ``dicom_audit`` to plant
identifiers and check that none survive."""
