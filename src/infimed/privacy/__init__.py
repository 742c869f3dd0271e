"""De-identification: offline PHI scrubbing of free text (``text``: Presidio with our recognizers, ``names``:
cue/list-based person names) and DICOM de-identification by allowlist (``dicom``, ``dicom_allowlist``), with
``dicom_audit`` to plant identifiers and check that none survive."""
