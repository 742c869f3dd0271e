"""Mock backend: deterministic policies, scripted responses, call log, image errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from infimed.backends import BACKENDS
from infimed.backends.base import GenRequest, GenResult, SamplingParams


def _req(i: str, answer: str = "B", mode: str = "direct", image: Path | None = None) -> GenRequest:
    content: list[dict] = [{"type": "image", "path": str(image)}] if image else []
    content.append({"type": "text", "text": "q"})
    return GenRequest(i, [{"role": "user", "content": content}], meta={"answer": answer, "mode": mode})


def _gen(backend, requests: list[GenRequest]) -> dict[str, GenResult]:  # type: ignore[no-untyped-def]
    out: dict[str, GenResult] = {}
    backend.generate(requests, SamplingParams(), lambda r: out.__setitem__(r.id, r))
    return out


def test_gold_policy_answers_in_the_requested_mode() -> None:
    out = _gen(BACKENDS.get("mock")(model="gold"), [_req("a", "C"), _req("b", "yes", mode="reasoning")])
    assert out["a"].response == "C"
    assert out["b"].response is not None and out["b"].response.endswith("<answer>yes</answer>")


def test_always_and_file_policies(tmp_path: Path) -> None:
    assert _gen(BACKENDS.get("mock")(model="always:A"), [_req("a")])["a"].response == "A"
    scripted = tmp_path / "r.jsonl"
    scripted.write_text(json.dumps({"id": "a", "response": "no"}) + "\n")
    out = _gen(BACKENDS.get("mock")(model=f"file:{scripted}"), [_req("a"), _req("b")])
    assert (out["a"].response, out["b"].response) == ("no", "")
    as_json = tmp_path / "r.json"
    as_json.write_text(json.dumps({"b": "maybe"}))
    assert _gen(BACKENDS.get("mock")(model=f"file:{as_json}"), [_req("b")])["b"].response == "maybe"


def test_python_policies_and_failures() -> None:
    backend = BACKENDS.get("mock")(responses={"a": "x"}, fail_ids=["b"])
    out = _gen(backend, [_req("a"), _req("b")])
    assert out["a"].response == "x" and out["b"].error == "mock failure"
    fn = BACKENDS.get("mock")(fn=lambda r: r.id.upper())
    assert _gen(fn, [_req("q")])["q"].response == "Q"


def test_call_log_and_broken_image(tmp_path: Path) -> None:
    good, bad = tmp_path / "g.png", tmp_path / "b.png"
    Image.new("RGB", (4, 4)).save(good)
    bad.write_bytes(b"\x89PNG broken")
    log = tmp_path / "calls.txt"
    out = _gen(BACKENDS.get("mock")(log_calls=log), [_req("a", image=good), _req("b", image=bad)])
    assert out["a"].response == "B" and out["a"].error is None
    assert out["b"].response is None and out["b"].error is not None and "b.png" in out["b"].error
    assert log.read_text().split() == ["a", "b"]


def test_unknown_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected 'gold'"):
        BACKENDS.get("mock")(model="genius")


def _chat(i: str, answer: str, answer_type: str, *, shown: list[str], about: list[str],
          options: dict[str, str] | None = None, before: str | None = None) -> GenRequest:
    content: list[dict] = [{"type": "image", "path": p} for p in shown] + [{"type": "text", "text": "q"}]
    messages: list[dict] = [{"role": "user", "content": content}]
    if before is not None:
        messages += [{"role": "assistant", "content": [{"type": "text", "text": before}]},
                     {"role": "user", "content": [{"type": "text", "text": "Are you sure?"}]}]
    meta = {"answer": answer, "answer_type": answer_type, "options": options, "answer_images": about}
    return GenRequest(i, messages, meta=meta)


def test_vision_policy_is_right_only_on_the_image_the_answer_is_about(tmp_path: Path) -> None:
    own, other = tmp_path / "own.png", tmp_path / "other.png"
    for p in (own, other):
        Image.new("L", (8, 8)).save(p)
    options = {"A": "x", "B": "y", "C": "z"}
    backend = BACKENDS.get("mock")(model="vision")
    reqs = [_chat(f"s{i}", "C", "choice", shown=[str(own)], about=[str(own)], options=options) for i in range(20)]
    assert {r.response for r in _gen(backend, reqs).values()} == {"C"}
    blind = [_chat(f"b{i}", "C", "choice", shown=[], about=[str(own)], options=options) for i in range(60)]
    swapped = [_chat(f"o{i}", "yes", "yes_no", shown=[str(other)], about=[str(own)]) for i in range(60)]
    guesses = Counter(r.response for r in _gen(backend, blind).values())
    assert set(guesses) == {"A", "B", "C"} and guesses["C"] < 40  # a guess spread over the options
    assert set(r.response for r in _gen(backend, swapped).values()) == {"yes", "no"}


def test_waver_changes_its_answer_when_asked_again() -> None:
    backend = BACKENDS.get("mock")(model="waver:gold")
    options = {"A": "x", "B": "y"}
    out = _gen(backend, [_chat("c", "B", "choice", shown=[], about=[], options=options),
                         _chat("c2", "B", "choice", shown=[], about=[], options=options, before="B"),
                         _chat("y2", "no", "yes_no", shown=[], about=[], before="no"),
                         _chat("o2", "2", "open", shown=[], about=[], before="2")])
    assert [out[i].response for i in ("c", "c2", "y2", "o2")] == ["B", "A", "yes", "I am not sure"]
    assert _gen(BACKENDS.get("mock")(model="gold"), [_chat("g", "B", "choice", shown=[], about=[], before="B")])[
        "g"].response == "B"
    with pytest.raises(ValueError, match="waver:POLICY"):
        BACKENDS.get("mock")(model="sometimes")
