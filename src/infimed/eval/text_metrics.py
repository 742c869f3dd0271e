"""Metrics for free-text answers (reports, captions): BLEU-1..4 (sacrebleu), ROUGE-L (rouge-score) and,
when WordNet is installed locally, METEOR (nltk) -- each with a percentile bootstrap CI like accuracy.

BLEU is a corpus metric, so its interval resamples reports with replacement and recomputes corpus BLEU
from the per-report sufficient statistics (n-gram matches and totals, lengths) that sacrebleu extracts
once: n_boot sums of an (n x k) table, not n_boot re-tokenisations. ROUGE-L and METEOR are means of
per-report scores (F-measure for ROUGE-L) and are bootstrapped as means. BLEU uses sacrebleu's ``13a``
tokenizer, lowercased, exponential smoothing; ROUGE-L uses rouge-score with the Porter stemmer; scores
are on a 0-1 scale. METEOR needs nltk's WordNet data, which is never downloaded: without it the field is
None and ``meteor_note`` says why. Rows with a generation error are left out; an unparsed report (empty,
unclosed ``<think>``) counts as the empty report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from infimed.eval.metrics import LEVEL, group_seed

BLEU_ORDERS = (1, 2, 3, 4)
BY = ("modality",)


def bleu_scores(hyps: Sequence[str], refs: Sequence[str], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Corpus BLEU-1..4 with bootstrap intervals: ``{"bleu1": x, "bleu1_ci95": [lo, hi], ...}``."""
    from sacrebleu.metrics import BLEU

    out: dict[str, Any] = {}
    n = len(hyps)
    draws = _resample_counts(n, n_boot, seed)
    for order in BLEU_ORDERS:
        bleu = BLEU(max_ngram_order=order, lowercase=True, tokenize="13a", smooth_method="exp")
        stats = np.asarray(bleu._extract_corpus_statistics(list(hyps), [list(refs)]), dtype=np.int64)
        out[f"bleu{order}"] = bleu._compute_score_from_stats(stats.sum(axis=0).tolist()).score / 100
        boot = [bleu._compute_score_from_stats(row.tolist()).score / 100 for row in draws @ stats]
        out[f"bleu{order}_ci95"] = _percentiles(np.asarray(boot))
    return out


def rouge_l(hyps: Sequence[str], refs: Sequence[str]) -> list[float]:
    """Per-report ROUGE-L F-measure (rouge-score, Porter stemmer)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hyps, refs, strict=True)]


def meteor(hyps: Sequence[str], refs: Sequence[str]) -> tuple[list[float] | None, str | None]:
    """Per-report METEOR (nltk), or None and the reason when WordNet is not installed locally."""
    try:
        import nltk
        from nltk.translate.meteor_score import meteor_score

        nltk.data.find("corpora/wordnet")
    except (ImportError, LookupError):
        return None, "METEOR needs nltk's WordNet data installed locally (it is never downloaded)"
    return [meteor_score([ref.lower().split()], hyp.lower().split()) for hyp, ref in zip(hyps, refs, strict=True)], None


def text_scores(hyps: Sequence[str], refs: Sequence[str], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every free-text metric of one group of reports."""
    if len(hyps) != len(refs):
        raise ValueError(f"text metrics: {len(hyps)} hypotheses for {len(refs)} references")
    out: dict[str, Any] = {"n": len(hyps)}
    if not hyps:
        return out
    out.update(bleu_scores(hyps, refs, n_boot=n_boot, seed=seed))
    draws = _resample_counts(len(hyps), n_boot, seed + 1)
    rouge = np.asarray(rouge_l(hyps, refs))
    out["rouge_l"], out["rouge_l_ci95"] = float(rouge.mean()), _percentiles(draws @ rouge / len(hyps))
    values, note = meteor(hyps, refs)
    if values is None:
        out["meteor"], out["meteor_note"] = None, note
    else:
        arr = np.asarray(values)
        out["meteor"], out["meteor_ci95"] = float(arr.mean()), _percentiles(draws @ arr / len(hyps))
    return out


def report_metrics(rows: Sequence[Mapping[str, Any]], slices: Callable[[Mapping[str, Any]], dict[str, str]], *,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``results["report_metrics"]``: text metrics over the report rows, overall and per modality."""
    reports = [r for r in rows if r.get("answer_type") == "report" and r.get("error") is None]
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {b: {} for b in BY}
    for row in reports:
        values = slices(row)
        for b in BY:
            groups[b].setdefault(values[b], []).append(row)

    def score(group: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
        hyps = [str(r.get("extracted") or "") for r in group]
        return text_scores(hyps, [str(r["answer"]) for r in group], n_boot=n_boot, seed=group_seed(seed, key))

    return {
        "overall": score(reports, "reports"),
        "by": {b: {v: score(g, f"reports:{b}={v}") for v, g in sorted(groups[b].items())} for b in BY},
        "n_errors": sum(1 for r in rows if r.get("answer_type") == "report" and r.get("error") is not None),
        "settings": {"bleu": "sacrebleu corpus BLEU, 13a tokenizer, lowercase, exp smoothing",
                     "rouge_l": "rouge-score F-measure, Porter stemmer", "scale": "0-1",
                     "ci": f"percentile bootstrap over reports, {n_boot} resamples"},
    }


def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot x n) multiplicities of resampling n items with replacement."""
    if n_boot <= 0:
        raise ValueError(f"n_boot: must be positive, got {n_boot}")
    return np.random.default_rng(seed).multinomial(n, [1.0 / n] * n, size=n_boot)


def _percentiles(draws: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return [float(lo), float(hi)]
