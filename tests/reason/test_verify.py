import pytest

from infimed.reason.verify import is_repetitive, leaks_answer, rationale_text, verify
from infimed.schema import Sample

SAMPLE = Sample(id="s", question="Which finding?", options={"A": "normal", "B": "pneumonia"}, answer="B",
                answer_type="choice", modality="xray", task="disease_diagnosis")
GOOD = ("<think>The lung fields show a dense opacity in the right lower zone. Wait, let me re-examine the "
        "costophrenic angle: it is blunted, consistent with consolidation.</think><answer>B</answer>")


@pytest.mark.parametrize(
    ("response", "error", "reason"),
    [
        (GOOD, None, None),
        (GOOD.replace("<answer>B", "<answer>A"), None, "wrong_answer"),
        ("<think>I keep thinking about the opacity", None, "unparsable"),
        ("I am not able to tell.", None, "unparsable"),
        ("", None, "empty"),
        (None, "HTTP 500", "error"),
        ("<think>The answer is B. The opacity is dense.</think><answer>B</answer>", None, "answer_leaked"),
        ("<think>" + "the opacity is dense and " * 40 + "</think><answer>B</answer>", None, "repetitive"),
        ("<think>" + "x" * 7000 + "</think><answer>B</answer>", None, "too_long"),
    ],
)
def test_verdicts(response: str | None, error: str | None, reason: str | None) -> None:
    v = verify(SAMPLE, response, error=error)
    assert v.accepted is (reason is None)
    assert v.reason == reason


def test_rationale_is_the_think_block() -> None:
    assert verify(SAMPLE, GOOD).rationale == rationale_text(GOOD)
    assert rationale_text(GOOD).startswith("The lung fields")
    assert rationale_text("Dense opacity, so pneumonia. <answer>B</answer>") == "Dense opacity, so pneumonia."


def test_helpers() -> None:
    assert is_repetitive("same line\nsame line\nsame line")
    assert not is_repetitive("a b c d e f g h i j k l m n o p")
    assert leaks_answer("Final answer: B. Because of the opacity.")
    assert not leaks_answer("The opacity is dense. So the answer is B.")
