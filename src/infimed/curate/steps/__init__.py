"""Importing this package registers every curation step in ``infimed.curate.base.STEPS``."""

from infimed.curate.steps import (
    decontaminate,
    dedup_exact,
    dedup_near,
    deidentify,
    label_noise,
    mix,
    quality,
    select,
    validate,
)

__all__ = [
    "decontaminate", "dedup_exact", "dedup_near", "deidentify", "label_noise", "mix", "quality", "select", "validate",
]
