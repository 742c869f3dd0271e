"""`infimed reason synth` against a fake OpenAI-compatible teacher on loopback."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infimed.io.jsonl import load_samples, write_jsonl
from infimed.reason.synth import synth
from infimed.schema import Sample

OPTIONS = {"A": "upper-left", "B": "lower-right", "C": "upper-right"}


class FakeTeacher(BaseHTTPRequestHandler):
    """Reads the behaviour and gold letter from the question text ("[right gold=B]")."""

    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, {"data": [{"id": "fake-teacher"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["model"] == "fake-teacher"
        text = " ".join(p["text"] for m in body["messages"] if isinstance(m["content"], list)
                        for p in m["content"] if p.get("type") == "text")
        assert "Wait, let me re-examine" in text or "step by step" in text
        kind, gold = re.search(r"\[(\w+) gold=(\w)\]", text).groups()  # type: ignore[union-attr]
        with self.lock:
            self.calls[kind] += 1
            n = self.calls[kind]
        wrong = next(k for k in OPTIONS if k != gold)
        reasoning = ("<think>The bright focus sits in one quadrant of the slice. Wait, let me re-examine the "
                     "left-right symmetry: the other side is clean, so the location holds.</think>")
        if kind == "flaky" and n % 2 == 1:
            self._send(503, {"error": "overloaded"})
            return
        content = {
            "right": f"{reasoning}<answer>{gold}</answer>",
            "flaky": f"{reasoning}<answer>{gold}</answer>",
            "wrong": f"{reasoning}<answer>{wrong}</answer>",
            "malformed": "<think>The bright focus sits in one quadrant and I keep",
            "leak": f"<think>The answer is {gold}. It is obvious.</think><answer>{gold}</answer>",
        }[kind]
        self._send(200, {"choices": [{"message": {"content": content}}], "usage": {"completion_tokens": 9}})


@pytest.fixture
def teacher_url() -> Iterator[str]:
    FakeTeacher.calls = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTeacher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _data(tmp_path: Path) -> Path:
    rows = [
        Sample(id=f"{kind}-{i}", question=f"Where is the lesion? [{kind} gold={gold}]", options=OPTIONS,
               answer=gold, answer_type="choice", modality="ct", task="lesion_localization")
        for i, (kind, gold) in enumerate(
            [("right", "B"), ("wrong", "A"), ("malformed", "C"), ("flaky", "C"), ("leak", "B")])
    ]
    path = tmp_path / "in.jsonl"
    write_jsonl(path, rows)
    return path


def test_keeps_only_verified_rationales_and_reports_rejections(tmp_path: Path, teacher_url: str) -> None:
    out = tmp_path / "out" / "reasoned.jsonl"
    report = synth(_data(tmp_path), out, teacher_url, samples=2, seed=0,
                   backend_options={"concurrency": 4, "backoff_base": 0.01})
    kept = {s.id: s for s in load_samples(out)}
    assert set(kept) == {"right-0", "flaky-3"}
    assert kept["right-0"].rationale.startswith("The bright focus")  # type: ignore[union-attr]
    assert kept["right-0"].meta["reasoning"]["source"] == "teacher"
    assert report["responses"] == {"accepted": 4, "error": 0, "empty": 0, "unparsable": 2, "wrong_answer": 2,
                                   "too_long": 0, "repetitive": 0, "answer_leaked": 2}
    rejected = [json.loads(line) for line in (out.parent / "reasoned.jsonl.rejected.jsonl").read_text().splitlines()]
    assert {r["id"]: r["reasons"] for r in rejected}["wrong-1"] == {"wrong_answer": 2}
    assert json.loads((out.parent / "reasoned.jsonl.report.json").read_text())["accepted_samples"] == 2


def test_resume_asks_nothing_twice(tmp_path: Path, teacher_url: str) -> None:
    data, out = _data(tmp_path), tmp_path / "r.jsonl"
    synth(data, out, teacher_url, samples=2, backend_options={"backoff_base": 0.01})
    before = sum(FakeTeacher.calls.values())
    again = synth(data, out, teacher_url, samples=2, backend_options={"backoff_base": 0.01})
    assert sum(FakeTeacher.calls.values()) == before
    assert again["accepted_samples"] == 2
    with pytest.raises(ValueError, match="other teacher/sampling settings"):
        synth(data, out, teacher_url, samples=2, temperature=0.1)


def test_reflect_falls_back_to_grounded_templates(tmp_path: Path, teacher_url: str) -> None:
    out = tmp_path / "reflect.jsonl"
    report = synth(_data(tmp_path), out, teacher_url, samples=1, reflect=True, early_stop=True,
                   backend_options={"backoff_base": 0.01})
    kept = {s.id: s for s in load_samples(out)}
    assert len(kept) == 5
    assert report["template_samples"] == 3
    assert kept["wrong-1"].meta["reasoning"]["source"] == "template"
    assert "Wait" in (kept["wrong-1"].rationale or "")


def test_template_only_mode(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    report = synth(_data(tmp_path), out, "none", reflect=True, seed=1)
    assert report["template_samples"] == 5 and report["requests"] == 0
    with pytest.raises(ValueError, match="--reflect"):
        synth(_data(tmp_path), out, "none")
