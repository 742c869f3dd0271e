"""``negation``: a yes/no question and its negation must get opposite answers."""

from __future__ import annotations

import pytest

from infimed.eval.probes.negation import negate
from infimed.schema import Sample

CASES = [
    ("Is there a lesion in this image?", "Is there no lesion in this image?"),
    ("Are there abnormal findings in this image?", "Are there no abnormal findings in this image?"),
    ("Are there exactly 2 lesions in this image?", "Are there not exactly 2 lesions in this image?"),
    ("Does this image show any abnormality?", "Does this image not show any abnormality?"),
    ("Does the upper left quadrant contain the lesion?", "Does the upper left quadrant not contain the lesion?"),
    ("Is this a CT image?", "Is this not a CT image?"),
    ("Was this image acquired with MRI?", "Was this image not acquired with MRI?"),
    ("Is the lesion in the upper left quadrant of the image?", "Is the lesion not in the upper left quadrant of the image?"),
    ("Is the number of lesions 1?", "Is the number of lesions not 1?"),
    ("Would you grade the lesion as large?", "Would you not grade the lesion as large?"),
    ("Is there evidence of a pneumothorax?", "Is there no evidence of a pneumothorax?"),
    ("Does the patient have cardiomegaly?", "Does the patient not have cardiomegaly?"),
    ("Are the lungs clear?", "Are the lungs not clear?"),
]


@pytest.mark.parametrize(("question", "negated"), CASES)
def test_negate(question: str, negated: str) -> None:
    assert negate(question) == negated


@pytest.mark.parametrize("question", ["What is shown?", "Is there no lesion?", "Isn't it normal?", "Lesion present?",
                                      "肺部是否正常?"])
def test_no_rule_no_variant(question: str) -> None:
    assert negate(question) is None


def test_gold_is_consistent_and_always_yes_is_not(probe_run, phantom_samples) -> None:
    odd = Sample(id="odd", question="Lesion present?", answer="yes", answer_type="yes_no", modality="ct",
                 task="abnormality_detection")
    robustness, rows = probe_run("gold", "negation", samples=[*phantom_samples, odd])
    m = robustness["probes"]["negation"]["overall"]
    n_yes_no = sum(s.answer_type == "yes_no" for s in phantom_samples)
    assert m["n_pairs"] == n_yes_no and m["n_skipped"] == 1  # every phantom wording has a rule
    assert m["consistency"]["rate"] == 1.0 and m["both_right"]["rate"] == 1.0
    negated = [r for r in rows if r["probe"] == "negation"]
    plain = {r["id"]: r for r in rows if r["probe"] is None}
    assert all(r["answer"] != plain[r["variant_of"]]["answer"] for r in negated)
    robustness, _ = probe_run("always:yes", "negation")
    m = robustness["probes"]["negation"]["overall"]
    assert m["consistency"]["rate"] == 0.0 and m["both_right"]["rate"] == 0.0
