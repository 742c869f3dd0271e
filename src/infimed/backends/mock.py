"""A deterministic stand-in backend for tests, demos and resume drills.

The ``model`` string picks the policy: ``gold`` (answer correctly, from the gold answer the runner puts in
``GenRequest.meta``: a model that never needs the image), ``coin:P`` (the gold answer with probability P, else
"I cannot tell."; decided by a hash of the request id and ``params.seed``, so a sampled rollout is
reproducible and rollouts with other seeds differ), ``vision`` (answer correctly only when shown the image the
answer is about, ``meta["answer_images"]``, else guess: a model that reads the image), ``always:X`` (always
reply ``X``), ``file:PATH`` (a JSON object or JSONL of ``{"id", "response"}`` lines), ``waver:POLICY``
(POLICY, but on a follow-up turn such as "Are you sure?" it changes its previous answer). Python callers may
pass ``responses`` (id -> text) or ``fn`` (request -> text)
instead. ``delay`` slows each call (to kill a run midway), ``log_calls`` appends every delivered id to a
file (to prove nothing is generated twice), ``fail_ids`` turns chosen ids into errors. Images are opened
with the real loader, so a broken image fails here exactly as it would in a real backend.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infimed.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams, request_image_paths
from infimed.io.jsonl import iter_json_lines


def gold_response(request: GenRequest) -> str:
    """What a perfect model would say, in the layout of the request's mode."""
    answer = str(request.meta.get("answer", ""))
    if request.meta.get("mode") == "reasoning":
        return f"<think>The image shows the finding.</think><answer>{answer}</answer>"
    return answer


def guess(request: GenRequest) -> str:
    """A deterministic guess that ignores the image: an option letter, yes/no, or a non-answer for open."""
    pick = zlib.crc32(request.id.encode("utf-8"))
    options = sorted(request.meta.get("options") or {})
    if request.meta.get("answer_type") == "choice" and options:
        return options[pick % len(options)]
    if request.meta.get("answer_type") == "yes_no":
        return ("yes", "no")[pick % 2]
    return "unknown"


def vision_response(request: GenRequest) -> str:
    """Right only when the request shows the image(s) the gold answer is about; a guess otherwise."""
    shown = request_image_paths(request)
    if shown and shown == [str(p) for p in request.meta.get("answer_images") or []]:
        return gold_response(request)
    return guess(request)


def changed_answer(request: GenRequest, previous: str) -> str:
    """Another answer than ``previous``: the flipped yes/no, the next option letter, or a hedge."""
    answer_type = request.meta.get("answer_type")
    if answer_type == "yes_no":
        return "no" if previous.strip().lower().startswith("yes") else "yes"
    options = sorted(request.meta.get("options") or {})
    if answer_type == "choice" and options:
        prev = previous.strip().upper()[:1]
        return options[(options.index(prev) + 1) % len(options)] if prev in options else options[0]
    return "I am not sure"


def waver(policy: Callable[[GenRequest], str]) -> Callable[[GenRequest], str]:
    """``policy`` on a first turn; on a follow-up, a different answer than the one it gave before."""

    def respond(request: GenRequest) -> str:
        before = [m for m in request.messages if m.get("role") == "assistant"]
        if not before:
            return policy(request)
        content = before[-1].get("content")
        text = content if isinstance(content, str) else " ".join(
            str(p.get("text", "")) for p in content or [] if isinstance(p, dict))
        return changed_answer(request, text)

    return respond


def load_scripted(path: Path) -> dict[str, str]:
    """Scripted responses from a JSON object ``{id: response}`` or JSONL ``{"id", "response"}`` lines."""
    if not path.exists():
        raise FileNotFoundError(f"mock responses file not found: {path}")
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object mapping id -> response")
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for lineno, row, err in iter_json_lines(path):
        if err or not isinstance(row, dict) or "id" not in row:
            raise ValueError(f"{path}:{lineno}: expected {{'id': ..., 'response': ...}} ({err or 'bad row'})")
        out[str(row["id"])] = str(row.get("response", ""))
    return out


def coin(request_id: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the request id and the sampling seed."""
    digest = hashlib.blake2b(f"{request_id}\x1f{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def policy_from_model(model: str) -> Callable[[GenRequest], str]:
    if model == "gold" or model.startswith("coin:"):
        return gold_response
    if model == "vision":
        return vision_response
    if model.startswith("waver:"):
        return waver(policy_from_model(model.removeprefix("waver:")))
    if model.startswith("always:"):
        reply = model.removeprefix("always:")
        return lambda _req: reply
    if model.startswith("file:"):
        scripted = load_scripted(Path(model.removeprefix("file:")))
        return lambda req: scripted.get(req.id, "")
    raise ValueError(f"mock model {model!r}: expected 'gold', 'coin:P', 'vision', 'always:TEXT', 'file:PATH' "
                     "or 'waver:POLICY'")


class MockBackend:
    name = "mock"

    def __init__(
        self,
        model: str = "gold",
        *,
        responses: dict[str, str] | None = None,
        fn: Callable[[GenRequest], str] | None = None,
        delay: float = 0.0,
        log_calls: str | Path | None = None,
        fail_ids: Sequence[str] = (),
        load_images: bool = True,
    ):
        self.model = model
        self.p_right = _coin_probability(model)
        if fn is not None:
            self._policy = fn
        elif responses is not None:
            scripted = dict(responses)
            self._policy = lambda req: scripted.get(req.id, "")
        else:
            self._policy = policy_from_model(model)
        self.delay = float(delay)
        self.log_calls = Path(log_calls) if log_calls else None
        self.fail_ids = set(fail_ids)
        self.load_images = load_images

    def generate(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        for req in requests:
            start = time.perf_counter()
            if self.delay:
                time.sleep(self.delay)
            on_result(self._one(req, start, params))
            if self.log_calls is not None:  # logged once delivered, so a resume drill counts finished work
                with self.log_calls.open("a", encoding="utf-8") as fh:
                    fh.write(req.id + "\n")

    def _one(self, req: GenRequest, start: float, params: SamplingParams) -> GenResult:
        if req.id in self.fail_ids:
            return GenResult(req.id, None, error="mock failure", seconds=time.perf_counter() - start)
        if self.load_images:
            error = _image_error(req)
            if error:
                return GenResult(req.id, None, error=error, seconds=time.perf_counter() - start)
        text = self._policy(req)
        if self.p_right is not None and coin(req.id, params.seed) >= self.p_right:
            text = "I cannot tell."
        return GenResult(req.id, text, seconds=time.perf_counter() - start, tokens=len(text.split()))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "delay": self.delay}


def _coin_probability(model: str) -> float | None:
    if not model.startswith("coin:"):
        return None
    try:
        p = float(model.removeprefix("coin:"))
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"mock model {model!r}: coin:P needs a probability P in [0, 1]")
    return p


def _image_error(req: GenRequest) -> str | None:
    from infimed.io.images import ImageLoadError, load_image

    for path in request_image_paths(req):
        try:
            load_image(path)
        except ImageLoadError as exc:
            return f"image: {exc}"
    return None


@BACKENDS.register("mock")
def make_mock(model: str = "gold", **options: Any) -> MockBackend:
    return MockBackend(model, **options)
