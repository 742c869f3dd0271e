"""The verdict cache: one JSONL line per judge reply, appended and flushed as it arrives (kill -9 safe).

A verdict is keyed by what decides it: the judge model, the template name and version, the question, the
reference answer, the candidate answer (and the image paths when the judge sees images). Rerunning or
rescoring asks the judge only for keys it has no verdict for; a reply that was an error or unparsable is
kept for the record but asked again on the next run, like an errored prediction.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from infimed.io.jsonl import JsonlAppender, iter_json_lines


def verdict_key(*, model: str, template: str, version: str, question: str, reference: str, candidate: str,
                images: tuple[str, ...] = ()) -> str:
    blob = json.dumps([model, template, version, question, reference, candidate, list(images)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class VerdictCache:
    """``get`` a finished verdict row by key; ``put`` appends a row (and keeps it when it holds a verdict)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for _lineno, row, err in iter_json_lines(self.path, tolerate_torn_tail=True):
                if err is None and isinstance(row, dict) and isinstance(row.get("correct"), bool):
                    self.rows[str(row.get("key"))] = row
        self._log: JsonlAppender | None = None

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, row: dict[str, Any]) -> None:
        if self._log is None:
            self._log = JsonlAppender(self.path)
        self._log.write(row)
        if isinstance(row.get("correct"), bool):
            self.rows[str(row["key"])] = row

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VerdictCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
