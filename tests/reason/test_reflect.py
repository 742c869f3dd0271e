from infimed.checkers import check_sample
from infimed.prompts import target_text
from infimed.reason.reflect import PATTERNS, choose_pattern, reflective_trace
from infimed.schema import Sample


def _choice(i: int = 0) -> Sample:
    return Sample(
        id=f"s{i}", question="Where is the lesion?", options={"A": "upper-left", "B": "lower-right", "C": "upper-right"},
        answer="B", answer_type="choice", modality="ct", task="lesion_localization",
    )


def _yes_no() -> Sample:
    return Sample(id="y", question="Is there a lesion?", answer="no", answer_type="yes_no", modality="ultrasound",
                  task="abnormality_detection")


def test_every_pattern_has_a_self_check_and_verifies() -> None:
    for sample in (_choice(), _yes_no()):
        for pattern in PATTERNS:
            name, trace = reflective_trace(sample, pattern=pattern)
            assert name == pattern
            assert "Wait" in trace
            with_rationale = sample.model_copy(update={"rationale": trace})
            assert check_sample(sample, target_text(with_rationale, "reasoning")).correct


def test_self_correction_starts_from_a_competing_answer() -> None:
    _, trace = reflective_trace(_choice(), pattern="self_correction")
    first, rest = trace.split("\n", 1)
    assert "B (lower-right)" not in first
    assert "correct my answer" in rest and rest.rstrip().endswith("B (lower-right).")


def test_trace_names_a_modality_specific_finding() -> None:
    _, trace = reflective_trace(_yes_no(), pattern="recheck_finding")
    assert "ultrasound" in trace
    assert any(word in trace for word in ("echogenicity", "shadowing", "hypoechoic", "artefacts"))


def test_pattern_choice_is_deterministic_and_varied() -> None:
    samples = [_choice(i) for i in range(40)]
    first = [choose_pattern(s, seed=3) for s in samples]
    assert first == [choose_pattern(s, seed=3) for s in samples]
    assert set(first) == set(PATTERNS)
    assert first != [choose_pattern(s, seed=4) for s in samples]
