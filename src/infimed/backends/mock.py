"""A deterministic stand-in backend for tests, demos and resume drills.

The ``model`` string picks the policy: ``gold`` (answer correctly, from the gold answer the runner puts in
``GenRequest.meta``), ``coin:P`` (the gold answer with probability P, else "I cannot tell."; decided by a hash
of the request id and ``params.seed``, so a sampled rollout is reproducible and rollouts with other seeds
differ), ``always:X`` (always reply ``X``), ``file:PATH`` (a JSON object or JSONL of
``{"id", "response"}`` lines). Python callers may pass ``responses`` (id -> text) or ``fn`` (request -> text)
instead. ``delay`` slows each call (to kill a run midway), ``log_calls`` appends every delivered id to a
file (to prove nothing is generated twice), ``fail_ids`` turns chosen ids into errors. Images are opened
with the real loader, so a broken image fails here exactly as it would in a real backend.
"""

from __future__ import annotations

import hashlib
import json
import time
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
    if model.startswith("always:"):
        reply = model.removeprefix("always:")
        return lambda _req: reply
    if model.startswith("file:"):
        scripted = load_scripted(Path(model.removeprefix("file:")))
        return lambda req: scripted.get(req.id, "")
    raise ValueError(f"mock model {model!r}: expected 'gold', 'coin:P', 'always:TEXT' or 'file:PATH'")


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
