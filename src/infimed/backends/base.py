"""The backend protocol: a list of chat requests in, one result per request out (streamed to a callback).

A backend never raises for one bad request: a broken image, a refused or timed-out API call becomes a
``GenResult`` with ``error`` set, which the runner records and leaves out of accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from infimed.registry import Registry


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenRequest:
    """``messages`` are HF chat messages; image parts are ``{"type": "image", "path": "..."}``."""

    id: str
    messages: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenResult:
    id: str
    response: str | None
    error: str | None = None
    seconds: float = 0.0
    tokens: int | None = None


class Backend(Protocol):
    name: str

    def generate(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        """Generate for every request, calling ``on_result`` once per request as soon as it is done."""
        ...

    def describe(self) -> dict[str, Any]:
        """What goes into the manifest (model, engine settings)."""
        ...


# factories: BACKENDS.get("hf")(model=..., **options) -> Backend
BACKENDS: Registry[Callable[..., Backend]] = Registry("backend")


def request_image_paths(request: GenRequest) -> list[str]:
    """The image paths of a request's chat messages, in order."""
    return [
        str(part["path"])
        for msg in request.messages
        for part in msg.get("content", [])
        if isinstance(part, dict) and part.get("type") == "image"
    ]
