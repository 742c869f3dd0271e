"""Append-only, chained audit: one JSONL file per UTC day, one line per request, no content ever.

Each line carries ``seq`` (its index in the file), ``prev`` (the previous line's MAC; across days the
last MAC of the previous file) and ``mac``, an HMAC-SHA256 of the line's other fields under the server
key. Beside each file a small ``.head`` records how many lines were written and the last MAC (also
MAC'd), so removing trailing lines shows too. ``verify_audit`` re-derives the chain: an edited, removed,
reordered or truncated line fails it; a torn final line (the server was killed mid-write) is reported
and the complete lines before it still verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
HEAD_BYTES = 256


def load_key(path: Path, *, create: bool = False) -> bytes:
    """The server key (32 random bytes, hex, mode 0600), made on first use when ``create``."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"audit key not found: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ValueError(f"{path}: the audit key must be hex") from exc
    if len(key) < 16:
        raise ValueError(f"{path}: the audit key is too short ({len(key)} bytes)")
    return key


def _subkey(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def _canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def line_mac(chain_key: bytes, row: dict[str, Any]) -> str:
    return hmac.new(chain_key, _canonical({k: v for k, v in row.items() if k != "mac"}), hashlib.sha256).hexdigest()


def head_mac(chain_key: bytes, day: str, lines: int, last: str) -> str:
    return hmac.new(chain_key, f"head:{day}:{lines}:{last}".encode(), hashlib.sha256).hexdigest()


def day_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("audit-????-??-??.jsonl"))


def _complete_lines(path: Path) -> tuple[list[bytes], int]:
    """The newline-terminated lines of a file and the byte count of a torn tail after them."""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    return data[:cut].splitlines(), len(data) - cut


class AuditLog:
    """Thread-safe writer. ``record`` appends a line and flushes it to the OS (survives ``kill -9``)."""

    def __init__(self, folder: Path, key: bytes):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._chain_key = _subkey(key, "chain")
        self._body_key = _subkey(key, "body")
        self._lock = threading.Lock()
        self._day = ""
        self._seq = 0
        self._last = GENESIS
        self._fh: Any = None
        self._head_fd: int | None = None
        self.recovered_bytes = 0
        files = day_files(folder)
        if files:
            self._resume(files[-1])

    def _resume(self, path: Path) -> None:
        lines, torn = _complete_lines(path)
        if torn:  # a crash mid-write: cut the partial line so the next append starts clean
            with path.open("rb+") as fh:
                fh.truncate(path.stat().st_size - torn)
            self.recovered_bytes = torn
        self._day = path.stem.removeprefix("audit-")
        self._seq = len(lines)
        if lines:
            self._last = str(json.loads(lines[-1])["mac"])
        self._fh = path.open("a", encoding="utf-8")

    def body_hmac(self, body: bytes) -> str:
        return hmac.new(self._body_key, body, hashlib.sha256).hexdigest()

    def record(self, **fields: Any) -> None:
        now = datetime.now(UTC)
        with self._lock:
            day = now.strftime("%Y-%m-%d")
            if day != self._day:
                self._roll(day)
            row = {"seq": self._seq, "time": now.isoformat(timespec="milliseconds"), **fields, "prev": self._last}
            row["mac"] = line_mac(self._chain_key, row)
            self._fh.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")
            self._fh.flush()
            self._seq += 1
            self._last = row["mac"]
            self._write_head()

    def _roll(self, day: str) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._head_fd is not None:
            os.close(self._head_fd)
            self._head_fd = None
        self._day, self._seq = day, 0
        self._fh = (self.folder / f"audit-{day}.jsonl").open("a", encoding="utf-8")

    def _write_head(self) -> None:
        """One fixed-size ``pwrite`` over the head (a rename per request costs milliseconds on some disks)."""
        if self._head_fd is None:
            self._head_fd = os.open(self.folder / f"audit-{self._day}.head", os.O_RDWR | os.O_CREAT, 0o644)
        text = json.dumps({"lines": self._seq, "last": self._last,
                           "mac": head_mac(self._chain_key, self._day, self._seq, self._last)})
        os.pwrite(self._head_fd, text.ljust(HEAD_BYTES - 1).encode() + b"\n", 0)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None
            if self._head_fd is not None:
                os.fsync(self._head_fd)
                os.close(self._head_fd)
                self._head_fd = None


def find_body(folder: Path, key: bytes, body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The audit lines whose request body was exactly ``body`` (matched by its HMAC): (file:line, row)."""
    digest = hmac.new(_subkey(key, "body"), body, hashlib.sha256).hexdigest()
    hits = []
    for path in day_files(folder):
        for n, raw in enumerate(_complete_lines(path)[0], start=1):
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict) and hmac.compare_digest(str(row.get("body_hmac") or ""), digest):
                hits.append((f"{path.name}:{n}", row))
    return hits


@dataclass
class Verdict:
    lines: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def verify_audit(folder: Path, key: bytes) -> Verdict:
    chain_key = _subkey(key, "chain")
    verdict = Verdict()
    files = day_files(folder)
    if not files:
        verdict.errors.append(f"{folder}: no audit files (audit-YYYY-MM-DD.jsonl)")
    last = GENESIS
    for i, path in enumerate(files):
        lines, torn = _complete_lines(path)
        if torn:
            if i < len(files) - 1:
                verdict.errors.append(f"{path.name}: ends in a partial line but a later day follows")
            else:
                verdict.warnings.append(
                    f"{path.name}: the last line is incomplete ({torn} bytes; the server stopped mid-write); "
                    f"the {len(lines)} complete lines before it verify")
        last = _verify_file(path, lines, last, chain_key, verdict)
        verdict.lines += len(lines)
        _verify_head(path, len(lines), last, chain_key, verdict)
    return verdict


def _verify_file(path: Path, lines: list[bytes], last: str, chain_key: bytes, verdict: Verdict) -> str:
    for n, raw in enumerate(lines, start=1):
        where = f"{path.name}:{n}"
        try:
            row = json.loads(raw)
            mac, seq, prev = row["mac"], row["seq"], row["prev"]
        except (ValueError, KeyError, TypeError):
            verdict.errors.append(f"{where}: not an audit line (malformed JSON or missing seq/prev/mac)")
            return last
        if not hmac.compare_digest(str(mac), line_mac(chain_key, row)):
            verdict.errors.append(f"{where}: MAC mismatch: the line was edited (or the key is wrong)")
            return last
        if seq != n - 1:
            verdict.errors.append(f"{where}: seq {seq}, expected {n - 1}: a line was removed or reordered")
            return last
        if prev != last:
            verdict.errors.append(f"{where}: chain broken: the line before it was removed or replaced")
            return last
        last = mac
    return last


def _verify_head(path: Path, n_lines: int, last: str, chain_key: bytes, verdict: Verdict) -> None:
    head_path = path.with_suffix(".head")
    if not head_path.exists():
        verdict.warnings.append(f"{head_path.name}: missing; removal of trailing lines cannot be checked")
        return
    try:
        head = json.loads(head_path.read_text())
        lines, head_last, mac = int(head["lines"]), str(head["last"]), str(head["mac"])
    except (ValueError, KeyError, TypeError):
        verdict.errors.append(f"{head_path.name}: malformed")
        return
    if not hmac.compare_digest(mac, head_mac(chain_key, path.stem.removeprefix("audit-"), lines, head_last)):
        verdict.errors.append(f"{head_path.name}: MAC mismatch: the head was edited")
    elif lines > n_lines:
        verdict.errors.append(f"{path.name}: truncated: {lines} lines were written, {n_lines} remain")
    elif lines == n_lines and head_last != last:
        verdict.errors.append(f"{path.name}: the last line differs from the one written")
    elif lines < n_lines - 1:
        verdict.errors.append(f"{path.name}: {n_lines - lines} lines more than were written")
