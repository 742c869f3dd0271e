"""Mock backend: deterministic policies, scripted responses, call log, image errors."""

from __future__ import annotations

import json
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
