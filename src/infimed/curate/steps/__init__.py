"""Importing this package registers every curation step in ``infimed.curate.base.STEPS``."""

from infimed.curate.steps import (
    alignment,
    caption_consistency,
    caption_quality,
    compound_figure,
    decontaminate,
    dedup_against,
    dedup_exact,
    dedup_near,
    deidentify,
    label_noise,
    mix,
    pass_rate,
    quality,
    select,
    validate,
    verifiable,
)

__all__ = [
    "alignment", "caption_consistency", "caption_quality", "compound_figure", "decontaminate", "dedup_against", "dedup_exact", "dedup_near", "deidentify", "label_noise", "mix", "pass_rate",
    "quality", "select", "validate", "verifiable",
]
