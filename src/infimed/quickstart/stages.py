"""The quickstart's stages: fingerprints that decide reuse, the marker each stage folder holds, and a clock.

Every stage writes into its own folder with a marker (``.quickstart-stage.json``) holding the fingerprint of
its inputs and settings; ``reuse_stage`` says whether a finished stage can be reused, and ``StageClock``
records the seconds of every stage (and whether it was reused) for ``summary.json`` and the report.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from infimed.io.jsonl import write_json

STAGE_MARKER = ".quickstart-stage.json"
_ROW: ContextVar[dict[str, Any] | None] = ContextVar("quickstart_stage_row", default=None)


def log(message: str, label: str = "quickstart") -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold cyan]{label}[/] {message}")


def stage_fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def reuse_stage(folder: Path, fp: str, what: str, *, label: str = "quickstart") -> bool:
    """True (and said) when ``folder`` holds a finished stage made with fingerprint ``fp``. Otherwise the stage
    is to run: a folder made with other inputs or settings is cleared first (a training run would resume from
    its old checkpoints, an evaluation reuse its old predictions); one left by an interrupted run with the same
    fingerprint is kept, so the stage resumes."""
    try:
        marker = json.loads((folder / STAGE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    marker = marker if isinstance(marker, dict) else {}
    if marker.get("fingerprint") == fp:
        if marker.get("finished"):
            log(f"reused {what} (inputs and settings unchanged)", label)
            row = _ROW.get()
            if row is not None:  # the stage a StageClock is timing
                row["reused"] = True
            return True
        log(f"resuming {what} (interrupted earlier)", label)
    elif folder.exists():
        why = "inputs or settings changed" if marker else "no record of how it was made"
        log(f"rerunning {what} ({why})", label)
        shutil.rmtree(folder)
    write_json(folder / STAGE_MARKER, {"fingerprint": fp, "finished": False})
    return False


def mark_stage(folder: Path, fp: str) -> None:
    """Record that the stage in ``folder`` finished with fingerprint ``fp``."""
    write_json(folder / STAGE_MARKER, {"fingerprint": fp, "finished": True})


class StageClock:
    """Seconds per stage, in the order run: ``with clock.stage("train curated-seed0") as row: ...``.

    ``reuse_stage`` marks the row it runs under as reused (``row["reused"] = True``).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str, **info: Any) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {"stage": name, **info, "reused": False}
        started = time.perf_counter()
        token = _ROW.set(row)
        try:
            yield row
        finally:
            _ROW.reset(token)
            row["seconds"] = round(time.perf_counter() - started, 1)
            self.rows.append(row)

    def totals(self) -> dict[str, float]:
        """Seconds per kind of stage (the part of the name before the first space), adding up to the run's.
        Rows ``within`` another (the training runs inside "train+eval", some side by side) count in that one
        only; a row made ``alongside`` others counts only the seconds the run ``waited`` for it after them."""
        out: dict[str, float] = {}
        for row in self.rows:
            if row.get("within"):
                continue
            kind = row["stage"].split(" ", 1)[0]
            seconds = row.get("waited", 0.0) if row.get("alongside") else row["seconds"]
            out[kind] = round(out.get(kind, 0.0) + seconds, 1)
        return out
