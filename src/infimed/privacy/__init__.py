"""De-identification: offline PHI scrubbing of free text (``text``: Presidio with our recognizers, ``names``:
cue/list-based person names) and DICOM PS3.15 Basic Profile de-identification (``dicom``)."""
