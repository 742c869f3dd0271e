"""The curation step protocol.

A step is a callable over a stream of samples that yields, for each input sample, either the sample
(kept, possibly modified: de-identified text, ``meta.scores`` added) or a ``Drop`` naming why it went.
Nothing vanishes silently: every ``Drop`` lands in ``rejected.jsonl`` with its stage and reason.
Steps that need the whole pool (dedup, selection) may buffer, but hold only what they must.
Steps are built by registered factories from flat keyword options (the YAML config's step entry).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from infimed.registry import Registry
from infimed.schema import Sample


@dataclass
class Drop:
    sample: Sample
    reason: str  # short machine-readable reason, e.g. "exact_duplicate", "image_unreadable"
    detail: str = ""  # human-readable specifics
    of: str | None = None  # id of the sample this one duplicates / copies, when there is one


class Step(Protocol):
    name: str

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]: ...

    def report(self) -> dict[str, Any]:
        """Step-specific figures for stats.json and the data card (may be empty)."""
        ...


STEPS: Registry[Callable[..., Step]] = Registry("curation step")


def keep_chosen(pool: list[Sample], chosen: Collection[int], why: Callable[[Sample], str]) -> Iterator[Sample | Drop]:
    """Yield the chosen samples in input order; every other one becomes a ``not_selected`` drop."""
    for i, sample in enumerate(pool):
        yield sample if i in chosen else Drop(sample, "not_selected", why(sample))


def rejected_row(drop: Drop, stage: str) -> dict[str, Any]:
    return {"id": drop.sample.id, "stage": stage, "reason": drop.reason, "detail": drop.detail, "of": drop.of,
            "sample": drop.sample.to_json_dict()}


def build_step(name: str, options: dict[str, Any]) -> Step:
    import infimed.curate.steps  # noqa: F401  (registers every step)

    try:
        factory = STEPS.get(name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"step {name!r}: bad options {sorted(options)} ({exc})") from exc
