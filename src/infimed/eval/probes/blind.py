"""``blind``: the same question with the image removed, and with the image of another sample of the same
modality ("Consistent but Dangerous": consistency means little without an image-removed baseline).

Each sample lands in a quadrant by (right with its image, right without any image): *grounded* (right,
wrong), *answerable without the image* (right, right), *guessing* (wrong, right) and *wrong* (wrong,
wrong). A slice with at least ``MIN_FLAG_N`` pairs is flagged ``answerable_blind`` when the image does not help significantly: the paired
interval of sighted minus blind accuracy reaches zero (or below).
"""

from __future__ import annotations

import zlib
from typing import Any

from infimed.eval.probes.base import (
    Group,
    ProbeContext,
    Stats,
    image_files,
    make_variant,
    rate_text,
    register,
    scored,
)
from infimed.schema import Sample

MIN_FLAG_N = 20  # pairs a slice needs before it is flagged (or cleared) as answerable without the image
QUADRANTS = ("grounded", "answerable_without_image", "guessing", "wrong")


def quadrant(sighted: bool, blind: bool) -> str:
    return QUADRANTS[(0 if sighted else 2) + (1 if sighted == blind else 0)]


def blind_metric(groups: list[Group], stats: Stats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = [(g.plain, g.variants["no_image"]) for g in groups
             if scored(g.plain) and scored(g.variants.get("no_image"))]
    sighted = [bool(p["correct"]) for p, _ in pairs]
    blind = [bool(b["correct"]) for _, b in pairs]
    out["sighted_accuracy"] = stats.rate("sighted", sum(sighted), len(pairs))
    out["no_image_accuracy"] = stats.rate("no_image", sum(blind), len(pairs))
    gain = stats.diff("image_gain", blind, sighted)  # sighted - blind
    out["image_gain"] = gain
    counts = {q: 0 for q in QUADRANTS}
    for s, b in zip(sighted, blind, strict=True):
        counts[quadrant(s, b)] += 1
    out["quadrants"] = {q: stats.rate(f"quadrant={q}", c, len(pairs)) for q, c in counts.items()}
    n_right = sum(sighted)
    out["right_answers_answerable_without_image"] = stats.rate(
        "right_blind", counts["answerable_without_image"], n_right)
    other = [(g.plain, g.variants["other_image"]) for g in groups
             if scored(g.plain) and scored(g.variants.get("other_image"))]
    out["other_image_accuracy"] = stats.rate("other_image", sum(bool(o["correct"]) for _, o in other), len(other))
    out["other_image_gain"] = stats.diff("other_gain", [bool(o["correct"]) for _, o in other],
                                         [bool(p["correct"]) for p, _ in other])
    ci = gain["ci95"]
    # too few pairs say nothing either way: None rather than a flag that is noise
    out["answerable_blind"] = None if len(pairs) < MIN_FLAG_N else bool(ci is None or ci[0] <= 0)
    return out


def blind_summary(m: dict[str, Any]) -> str:
    flag = " FLAG: answered as well without the image" if m["answerable_blind"] else ""
    q = m["quadrants"]
    return (f"sighted {rate_text(m['sighted_accuracy'])}, no image {rate_text(m['no_image_accuracy'])}, "
            f"another image {rate_text(m['other_image_accuracy'])}; grounded {q['grounded']['k']}, "
            f"answerable without image {q['answerable_without_image']['k']}, guessing {q['guessing']['k']}, "
            f"wrong {q['wrong']['k']}{flag}")


def _donor(sample: Sample, ctx: ProbeContext) -> Sample | None:
    """A sample of the same modality with another image, drawn stably from the seed and the sample id."""
    by_modality = ctx.cache.get("blind.by_modality")
    if by_modality is None:
        by_modality = ctx.cache["blind.by_modality"] = {}
        for s in sorted(ctx.samples, key=lambda s: s.id):
            if s.images:
                by_modality.setdefault(s.modality, []).append(s)
    pool = by_modality.get(sample.modality, [])
    mine = image_files(sample)
    start = zlib.crc32(f"{ctx.seed}:{sample.id}".encode())
    for step in range(len(pool)):  # the drawn one, or the next that shows another image
        donor: Sample = pool[(start + step) % len(pool)]
        if image_files(donor) != mine:
            return donor
    return None


@register("blind", blind_metric, summary=blind_summary)
def blind_variants(sample: Sample, ctx: ProbeContext) -> list[Sample]:
    if not sample.images:
        return []
    own = {"answer_images": image_files(sample)}  # what the gold answer is about
    out = [make_variant(sample, "blind", "no_image", images=[], meta=own)]
    donor = _donor(sample, ctx)
    if donor is not None:
        out.append(make_variant(sample, "blind", "other_image", images=image_files(donor),
                                meta={**own, "image_from": donor.id}))
    return out
