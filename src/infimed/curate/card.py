"""The data card (``card.md``) and the scoring of a curation run against injected-defect ground truth.

``CardStats`` accumulates, in one streaming pass over the outputs, the final mix (source, modality, task,
answer type), score histograms (``meta.scores``) and a few examples per rejection reason. When a
``defects.jsonl`` ground truth is known (``--truth`` or one beside the input), ``score_against_truth``
reports recall per defect kind (a defect counts as caught when any stage before selection dropped it; a
duplicate also when its original was dropped as its duplicate instead; PHI when the kept record was
de-identified, ``meta.deid``; caption boilerplate when the kept record was cleaned, ``meta.caption_cleaned``)
and precision per rejection reason (dropped records that really are defects
of the kind the reason names; duplicates: dropped together with a record of the same ground-truth family).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from infimed.schema import Sample

MIX_FIELDS = ("source", "modality", "task", "answer_type")
DUP_KINDS = ("exact_duplicate", "near_duplicate")
DUP_REASONS = ("exact_duplicate", "near_duplicate")
REASON_KIND = {
    "image_unreadable": "corrupt_image", "image_too_large": "corrupt_image", "image_blank": "blank_image",
    "contamination": "contamination", "label_conflict": "wrong_label",
    "caption_truncated": "truncated", "compound_figure": "multi_panel", "low_alignment": "wrong_caption",
    "caption_mismatch": "wrong_caption",
}
NOT_DEFECT_REASONS = ("not_selected", "not_mixed")
BINS = 10


class CardStats:
    def __init__(self, examples: int = 3):
        self.examples = examples
        self.n_kept = 0
        self.n_rejected = 0
        self.mix: dict[str, Counter[str]] = {f: Counter() for f in MIX_FIELDS}
        self.scores: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
        self.reasons: Counter[tuple[str, str]] = Counter()
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add_kept(self, s: Sample) -> None:
        self.n_kept += 1
        for f in MIX_FIELDS:
            self.mix[f][str(getattr(s, f) or "unset")] += 1
        for dim, value in (s.meta.get("scores") or {}).items():
            if isinstance(value, int | float):
                self.scores[dim][min(BINS - 1, max(0, int(float(value) * BINS)))] += 1

    def add_rejected(self, row: dict[str, Any]) -> None:
        self.n_rejected += 1
        reason = str(row.get("reason"))
        self.reasons[(str(row.get("stage")), reason)] += 1
        if len(self.samples[reason]) < self.examples:
            sample = row.get("sample") or row.get("record") or {}
            self.samples[reason].append({"id": row.get("id"), "detail": row.get("detail", ""),
                                         "of": row.get("of"), "question": str(sample.get("question", ""))[:120]})


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def render_card(result: dict[str, Any], card: CardStats) -> str:
    parts = [
        "# Data card: curated set", "",
        f"Inputs: {', '.join(result['inputs'])}. Records read: {result['n_read']}; curated: "
        f"{result['n_curated']}; rejected: {result['n_rejected']} (engine: {result['engine']}).", "",
        *([f"Skipped: {', '.join(result['skipped'])} (no budget given).", ""] if result.get("skipped") else []),
        "## Counts per stage", "",
        _table(["stage", "in", "kept", "dropped", "reasons", "seconds"], [
            [s["name"], s["in"], s["kept"], sum(s["dropped"].values()),
             ", ".join(f"{k} {v}" for k, v in sorted(s["dropped"].items())) or "-",
             f"{s['seconds']:.2f}" + (" (resumed)" if s.get("resumed") else "")]
            for s in result["stages"]
        ]),
    ]
    for f in MIX_FIELDS:
        total = sum(card.mix[f].values()) or 1
        parts += ["", f"## Final mix by {f}", "",
                  _table([f, "n", "%"], [[k, v, f"{100 * v / total:.1f}"] for k, v in card.mix[f].most_common()])]
    if card.scores:
        parts += ["", "## Score histograms (curated samples, bins of 0.1)", ""]
        for dim, counts in sorted(card.scores.items()):
            top = max(counts) or 1
            parts += [f"**{dim}**", "", "```"]
            parts += [f"{i / BINS:.1f}-{(i + 1) / BINS:.1f} {'#' * round(30 * c / top):<30} {c}"
                      for i, c in enumerate(counts)]
            parts += ["```", ""]
    if card.reasons:
        parts += ["", "## Rejections", "",
                  _table(["stage", "reason", "n"], [[s, r, n] for (s, r), n in card.reasons.most_common()])]
        for reason, examples in sorted(card.samples.items()):
            parts += ["", f"### {reason}", ""]
            parts += [f"- `{e['id']}`: {e['question']!r} — {e['detail']}" + (f" (of `{e['of']}`)" if e["of"] else "")
                      for e in examples]
    parts += deid_section(result)
    truth = result.get("truth")
    if truth:
        parts += ["", f"## Against ground truth ({truth['path']})", "",
                  _table(["defect kind", "injected", "caught", "recall"],
                         [[k, v["n"], v["caught"], f"{v['recall']:.3f}"] for k, v in truth["recall"].items()]),
                  "", _table(["reason", "dropped", "correct", "precision", "measured against"],
                             [[r, v["n"], v["correct"], f"{v['precision']:.3f}", v["kind"]]
                              for r, v in truth["precision"].items()])]
    if result.get("exports"):
        parts += ["", "## Exports", ""] + [f"- {e['format']}: `{e['path']}` ({e['rows']} rows)" for e in result["exports"]]
    return "\n".join(parts) + "\n"


def deid_section(result: dict[str, Any]) -> list[str]:
    """What the de-identification stage found, and the measured recall/precision of the scrubber it used."""
    stage = next((s for s in result["stages"] if s["name"] == "deidentify"), None)
    if stage is None:
        return []
    from infimed.privacy.measure import MEASURED as M

    report = stage.get("report") or {}
    found = ", ".join(f"{k} {v}" for k, v in (report.get("phi_found") or {}).items()) or "none"
    return [
        "", "## De-identification", "",
        f"Text scrubber: {M['version']}. Identifiers replaced: {found} "
        f"(in {report.get('samples_with_phi', 0)} samples); DICOM files rewritten: {report.get('dicom_files', 0)}.",
        "",
        f"Measured on hand-written sentences, not on this data set ({M['corpus']}): identifier recall "
        f"{M['identifier_recall']:.3f} (names {M['name_recall']:.3f}; with context and word shape only, "
        f"without the name lists, {M['name_recall_without_lists']:.3f}), span precision {M['span_precision']:.3f}, "
        f"clinical terms kept {M['clinical_terms_kept']:.3f}. The scrubber was tuned on that corpus, so these are "
        f"upper bounds. On held-out sentences ({M['held_out']}) measured once before the last fixes: identifier "
        f"recall {M['held_out_blind_identifier_recall']:.3f}, span precision "
        f"{M['held_out_blind_span_precision']:.3f}, clinical terms kept {M['held_out_blind_clinical_terms_kept']:.3f} "
        f"(after the fixes: recall {M['held_out_identifier_recall']:.3f}); on hard cases ({M['stress']}) blind "
        f"recall {M['stress_blind_identifier_recall']:.3f} and precision {M['stress_blind_span_precision']:.3f} "
        f"(after the fixes: recall {M['stress_identifier_recall']:.3f}). Missed by design: a lone given name "
        "that no list holds, with no cue and no name position around it.",
    ]


class _Families:
    """Union-find over ground-truth duplicate pairs: records copied from one original form one family."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def same(self, a: str, b: str | None) -> bool:
        return b is not None and a in self.parent and b in self.parent and self.find(a) == self.find(b)


def score_against_truth(truth_path: Path, out_dir: Path) -> dict[str, Any]:
    """Recall per defect kind and precision per rejection reason of a finished run in ``out_dir``."""
    defects = [json.loads(line) for line in truth_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kind_of = {d["id"]: d["kind"] for d in defects}
    families = _Families()
    for d in defects:
        if d["kind"] in DUP_KINDS and d.get("of"):
            families.union(d["id"], d["of"])
    dropped: dict[str, dict[str, Any]] = {}
    deid: set[str] = set()
    cleaned: set[str] = set()  # caption boilerplate stripped (kept, or dropped later for another reason)
    with (out_dir / "rejected.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            meta = (row.get("sample") or {}).get("meta") or {}
            if meta.get("deid"):
                deid.add(row["id"])  # de-identified, then dropped for another reason
            if meta.get("caption_cleaned"):
                cleaned.add(row["id"])
            if row.get("id") is not None and row["reason"] not in NOT_DEFECT_REASONS:
                dropped[row["id"]] = row
    with (out_dir / "curated.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if (row.get("meta") or {}).get("deid"):
                deid.add(row["id"])
            if (row.get("meta") or {}).get("caption_cleaned"):
                cleaned.add(row["id"])

    recall: dict[str, dict[str, Any]] = {}
    for kind in sorted({d["kind"] for d in defects}):
        items = [d for d in defects if d["kind"] == kind]
        caught = 0
        for d in items:
            hit = d["id"] in dropped or (kind == "phi" and d["id"] in deid) or (kind == "boilerplate"
                                                                                and d["id"] in cleaned)
            if not hit and kind in DUP_KINDS and d.get("of") in dropped:
                orig = dropped[d["of"]]
                hit = orig["reason"] in DUP_REASONS and families.same(d["of"], orig.get("of"))
            caught += hit
        recall[kind] = {"n": len(items), "caught": caught, "recall": caught / len(items) if items else 0.0}

    precision: dict[str, dict[str, Any]] = {}
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in dropped.values():
        by_reason[row["reason"]].append(row)
    for reason, rows in sorted(by_reason.items()):
        if reason in DUP_REASONS:
            correct = sum(families.same(r["id"], r.get("of")) for r in rows)
            against = "same duplicate family"
        elif reason in REASON_KIND:
            correct = sum(kind_of.get(r["id"]) == REASON_KIND[reason] for r in rows)
            against = REASON_KIND[reason]
        else:
            correct = sum(r["id"] in kind_of for r in rows)
            against = "any defect"
        precision[reason] = {"n": len(rows), "correct": correct, "precision": correct / len(rows), "kind": against}
    if deid:
        correct = sum(kind_of.get(i) == "phi" for i in deid)
        precision["deidentified"] = {"n": len(deid), "correct": correct, "precision": correct / len(deid),
                                            "kind": "phi"}
    if cleaned:
        correct = sum(kind_of.get(i) == "boilerplate" for i in cleaned)
        precision["caption_cleaned"] = {"n": len(cleaned), "correct": correct, "precision": correct / len(cleaned),
                                        "kind": "boilerplate"}
    return {"path": str(truth_path), "recall": recall, "precision": precision}
