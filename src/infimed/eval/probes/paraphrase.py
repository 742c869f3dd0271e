"""``paraphrase``: each question reworded, same options and answer; does the model keep its answer?

Rewordings come from templates per task type (a lead-in naming what is asked about), an expert framing,
word-level rewrites that keep the meaning ("Is there" -> "Can you see"), and, when a teacher model is
given, the teacher's own rewordings. Consistency is crossed with ``blind`` when both run, as in
"Consistent but Dangerous": a model that answers paraphrases consistently *and* as well without the image
is consistent for the wrong reason, so the report gives consistency per blind quadrant.
"""

from __future__ import annotations

import re
from typing import Any

from infimed.checkers import normalize_open
from infimed.eval.probes.base import Group, ProbeContext, Stats, make_variant, rate_text, register, scored
from infimed.eval.probes.blind import QUADRANTS, quadrant
from infimed.schema import Sample

LEAD_INS = {
    "modality_recognition": "Regarding the imaging technique used: {q}",
    "anatomy_identification": "Regarding the anatomy that is shown: {q}",
    "abnormality_detection": "Regarding any abnormal findings: {q}",
    "disease_diagnosis": "Regarding the most likely diagnosis: {q}",
    "lesion_localization": "Regarding where the finding is: {q}",
    "lesion_grading": "Regarding the size or severity of the finding: {q}",
    "counting": "Regarding the number of findings: {q}",
    "attribute": "Regarding the appearance of the finding: {q}",
}
MODALITY_WORDS = {"ct": "CT", "mri": "MRI", "xray": "X-ray", "ultrasound": "ultrasound", "pathology": "pathology",
                  "fundus": "fundus", "dermoscopy": "dermoscopy", "endoscopy": "endoscopy", "oct": "OCT",
                  "microscopy": "microscopy"}
# word-level rewrites that keep the meaning, applied in one pass (a rewrite is never rewritten again)
REWRITES = {
    "Is there": "Can you see", "Are there": "Can you see", "this image": "the image shown",
    "the image": "this picture", "What is": "What's", "How many": "What number of", "Which": "What",
    "located": "situated", "shown": "displayed", "visible": "seen",
}
_REWRITE = re.compile(r"\b(" + "|".join(map(re.escape, REWRITES)) + r")\b")


def _lower_first(q: str) -> str:
    """Lower the first letter unless the first word is an acronym (CT, MRI)."""
    return q[:1].lower() + q[1:] if len(q) > 1 and not q[1].isupper() else q


def rewordings(sample: Sample) -> dict[str, str]:
    """Template rewordings of ``sample.question`` by name; none equal to the question itself."""
    q = sample.question.strip()
    if sample.language != "en":
        return {}
    out: dict[str, str] = {}
    lead = LEAD_INS.get(sample.task or "")
    if lead:
        out["lead_in"] = lead.format(q=_lower_first(q))
    if sample.images:
        what = MODALITY_WORDS.get(sample.modality or "", "medical")
        out["expert"] = f"You are an expert reading this {what} image. {q}"
    else:
        out["expert"] = f"You are a medical expert. {q}"
    lexical = _REWRITE.sub(lambda m: REWRITES[m.group(1)], q)
    if lexical != q:
        out["lexical"] = lexical
    return {k: v for k, v in out.items() if v != q}


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same extracted answer in two rows (two unparsed responses are the same non-answer)."""
    ea, eb = a.get("extracted"), b.get("extracted")
    if ea is None or eb is None:
        return ea is None and eb is None
    if a.get("answer_type") == "open":
        return bool(normalize_open(str(ea)) == normalize_open(str(eb)))
    return bool(ea == eb)


def paraphrase_metric(groups: list[Group], stats: Stats) -> dict[str, Any]:
    full = [g for g in groups if scored(g.plain) and g.variants and all(scored(r) for r in g.variants.values())]
    consistent = [all(same_answer(g.plain, r) for r in g.variants.values()) for g in full]
    rows = [r for g in full for r in g.variants.values()]
    per_variant: dict[str, list[bool]] = {}
    for g in full:
        for name, r in g.variants.items():
            per_variant.setdefault(name.split("#")[0], []).append(same_answer(g.plain, r))
    out: dict[str, Any] = {
        "n_questions": len(full),
        "consistency": stats.rate("consistency", sum(consistent), len(full)),
        "plain_accuracy": stats.rate("plain", sum(bool(g.plain["correct"]) for g in full), len(full)),
        "paraphrase_accuracy": stats.rate("paraphrased", sum(bool(r["correct"]) for r in rows), len(rows)),
        "consistency_by_rewording": {k: stats.rate(f"by={k}", sum(v), len(v)) for k, v in sorted(per_variant.items())},
    }
    crossed: dict[str, list[bool]] = {q: [] for q in QUADRANTS}
    for g, ok in zip(full, consistent, strict=True):
        blind = g.others.get("blind:no_image")
        if scored(blind):
            assert blind is not None
            crossed[quadrant(bool(g.plain["correct"]), bool(blind["correct"]))].append(ok)
    if any(crossed.values()):
        out["consistency_by_blind_quadrant"] = {q: stats.rate(f"x_blind={q}", sum(v), len(v))
                                                for q, v in crossed.items()}
        out["consistent_and_answerable_without_image"] = stats.rate(
            "consistent_blind", sum(crossed["answerable_without_image"]), sum(len(v) for v in crossed.values()))
    return out


def paraphrase_summary(m: dict[str, Any]) -> str:
    text = f"consistency {rate_text(m['consistency'])}; accuracy on rewordings {rate_text(m['paraphrase_accuracy'])}"
    if "consistent_and_answerable_without_image" in m:
        text += f"; consistent and answerable without the image {rate_text(m['consistent_and_answerable_without_image'])}"
    return text


@register("paraphrase", paraphrase_metric, summary=paraphrase_summary)
def paraphrase_variants(sample: Sample, ctx: ProbeContext) -> list[Sample]:
    out = [make_variant(sample, "paraphrase", name, question=text) for name, text in rewordings(sample).items()]
    seen = {sample.question.strip()} | {v.question for v in out}
    for i, text in enumerate(ctx.rewordings.get(sample.id, ())):
        if text.strip() and text.strip() not in seen:
            seen.add(text.strip())
            out.append(make_variant(sample, "paraphrase", f"teacher#{i}", question=text.strip()))
    return out
