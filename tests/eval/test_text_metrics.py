"""BLEU-1..4 and ROUGE-L of reports against the reference implementations (sacrebleu, rouge-score), with
bootstrap intervals; the report answer type in the schema and the checker."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from infimed.checkers import check
from infimed.eval.text_metrics import text_scores
from infimed.schema import Sample, parse_sample

HYPS = ["The heart is normal in size. The lungs are clear.",
        "Mild cardiomegaly. No pleural effusion.",
        "No acute cardiopulmonary abnormality.",
        "There is a small left pleural effusion."]
REFS = ["Heart size is normal. Lungs are clear without focal consolidation.",
        "Cardiomegaly without acute disease. No effusion or pneumothorax.",
        "No acute cardiopulmonary abnormality.",
        "Small right pleural effusion. No pneumothorax."]


def test_bleu_and_rouge_match_the_reference_implementations() -> None:
    got = text_scores(HYPS, REFS, n_boot=300, seed=1)
    for order in (1, 2, 3, 4):
        ref = BLEU(max_ngram_order=order, lowercase=True).corpus_score(HYPS, [REFS]).score / 100
        assert got[f"bleu{order}"] == pytest.approx(ref)
        lo, hi = got[f"bleu{order}_ci95"]
        assert lo <= got[f"bleu{order}"] <= hi and lo < hi
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    ref_rouge = sum(scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(HYPS, REFS, strict=True)) / len(HYPS)
    assert got["rouge_l"] == pytest.approx(ref_rouge)
    assert got["rouge_l_ci95"][0] <= ref_rouge <= got["rouge_l_ci95"][1]
    assert got["bleu1"] > got["bleu4"] and got["n"] == 4
    assert got["meteor"] is not None or "WordNet" in got["meteor_note"]  # never downloaded


def test_identical_reports_score_one_and_intervals_are_seeded() -> None:
    same = text_scores(REFS, REFS, n_boot=100)
    assert same["bleu4"] == pytest.approx(1.0) and same["rouge_l"] == pytest.approx(1.0)
    assert text_scores(HYPS, REFS, n_boot=100, seed=3) == text_scores(HYPS, REFS, n_boot=100, seed=3)
    with pytest.raises(ValueError, match="hypotheses"):
        text_scores(HYPS, REFS[:2])


def test_report_answer_type_is_validated() -> None:
    ok = Sample(id="r", question="Write the report.", answer="Findings: clear lungs.", answer_type="report",
                task="report_generation")
    assert ok.answer_type == "report"
    _s, errors = parse_sample({"id": "r", "question": "q", "answer": "normal", "answer_type": "report"})
    assert errors and errors[0].field == "answer" and "reference report" in errors[0].message
    _s, errors = parse_sample({"id": "r", "question": "q", "answer": "a b", "answer_type": "report",
                               "options": {"A": "x"}})
    assert errors and errors[0].field == "options"


def test_checker_reads_a_report() -> None:
    got = check("<think>Look at the heart.</think>The heart is normal. Lungs clear.", answer_type="report",
                answer="Heart normal. Lungs are clear.")
    assert got.rule == "report" and got.extracted == "The heart is normal. Lungs clear." and 0 < (got.f1 or 0) < 1
    assert check("<think>still", answer_type="report", answer="a b").rule == "unclosed_think"
