"""Streaming JSONL readers and atomic / crash-safe writers for the sample record.

Readers never load a whole file: a 1M-line file is validated line by line. Writers either replace a file
atomically (write to a temporary file in the same folder, fsync, rename) or append line by line with a
flush after each line, so a killed process loses at most the line it was writing; ``iter_json_lines``
skips a torn final line instead of failing.

Permissions: every file written here (results, logs, caches, curated sets, copied images) is created with
``FILE_MODE`` (0600, owner only) whatever the umask, since any of them may hold patient data; share an
output folder on purpose (chmod, group ACLs), never by accident.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from infimed.schema import Sample, SampleError, SampleValidationError, parse_sample

FILE_MODE = 0o600  # the one permission policy of every output file (see the module docstring)


@dataclass
class Record:
    """One line of a sample file: the parsed sample, or the errors that stopped it."""

    line: int
    sample: Sample | None
    errors: list[SampleError] = field(default_factory=list)
    raw: dict[str, Any] | None = None


def iter_json_lines(path: str | Path, *, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_number, value, error)`` for each non-blank line; ``error`` is a JSON decode message."""
    path = Path(path)
    with path.open("rb") as fh:
        pending: tuple[int, bytes] | None = None
        for lineno, raw in enumerate(fh, start=1):
            if pending is not None:
                yield _decode(*pending)
                pending = None
            if not raw.strip():
                continue
            if tolerate_torn_tail and not raw.endswith(b"\n"):
                pending = (lineno, raw)
                continue
            yield _decode(lineno, raw)
        if pending is not None:
            lineno, raw = pending
            value = _decode(lineno, raw)
            if value[2] is None:  # a complete final line without newline is fine
                yield value


def _decode(lineno: int, raw: bytes) -> tuple[int, Any, str | None]:
    try:
        return lineno, json.loads(raw), None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return lineno, None, f"invalid JSON: {exc}"


def iter_records(
    path: str | Path, *, check_images: bool = False, images_within: bool = False
) -> Iterator[Record]:
    """Stream every line of a sample file as a ``Record`` (valid or not).

    ``images_within`` makes an image path that leaves the file's folder (``..``, an absolute path elsewhere)
    an error of field ``images``; ``check_images`` also decodes every image.
    """
    path = Path(path)
    base = path.parent
    seen: set[str] = set()
    for lineno, value, err in iter_json_lines(path):
        if err is not None:
            yield Record(lineno, None, [SampleError(str(path), lineno, None, "record", err)])
            continue
        sample, errors = parse_sample(value, file=str(path), line=lineno, base_dir=base)
        if sample is not None:
            if sample.id in seen:
                errors = [SampleError(str(path), lineno, sample.id, "id", "duplicate id in this file")]
                sample = None
            else:
                seen.add(sample.id)
        if sample is not None and images_within:
            errors = image_path_errors(sample, file=str(path), line=lineno)
        if sample is not None and check_images and not errors:
            errors = image_errors(sample, file=str(path), line=lineno)
        if errors:
            sample = None
        yield Record(lineno, sample, errors, value if isinstance(value, dict) else None)


def image_path_errors(sample: Sample, *, file: str, line: int | None) -> list[SampleError]:
    """An error of field ``images`` per image path of the sample that lies outside its data folder."""
    from infimed.io.images import ImagePathError, resolve_image_path

    out = []
    for i, name in enumerate(sample.images):
        try:
            resolve_image_path(sample.base_dir, name, within=True)
        except ImagePathError as exc:
            out.append(SampleError(file, line, sample.id, "images",
                                   f"images[{i}] {exc}; pass --allow-outside-images to accept it"))
    return out


def image_errors(sample: Sample, *, file: str, line: int | None) -> list[SampleError]:
    """Check that every image of a sample exists and decodes (lazy import of the image loader)."""
    from infimed.io.images import ImageLoadError, load_image

    out = []
    for i, p in enumerate(sample.image_paths()):
        try:
            load_image(p, mode="auto")
        except ImageLoadError as exc:
            out.append(SampleError(file, line, sample.id, f"images[{i}]", str(exc)))
    return out


def read_samples(path: str | Path, *, check_images: bool = False, images_within: bool = False) -> Iterator[Sample]:
    """Stream valid samples; raise ``SampleValidationError`` at the first invalid line."""
    for rec in iter_records(path, check_images=check_images, images_within=images_within):
        if rec.sample is None:
            raise SampleValidationError(rec.errors)
        yield rec.sample


def load_samples(path: str | Path, *, check_images: bool = False, images_within: bool = False) -> list[Sample]:
    return list(read_samples(path, check_images=check_images, images_within=images_within))


def validate_file(path: str | Path, *, check_images: bool = True, images_within: bool = False) -> Iterator[SampleError]:
    """Every error of a file, streamed."""
    for rec in iter_records(path, check_images=check_images, images_within=images_within):
        yield from rec.errors


def _jsonable(row: Any) -> Any:
    return row.to_json_dict() if isinstance(row, Sample) else row


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Atomically (re)write a JSONL file; ``rows`` may be samples or plain dicts. Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(_jsonable(row), ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any, *, indent: int = 2) -> None:
    """Atomically write one JSON document."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")


def write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        fh.write(text)


class atomic_open:  # noqa: N801 - used like open()
    """``with atomic_open(path) as fh``: text written to a temp file, renamed into place on success."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh: IO[str] | None = None
        self._tmp = ""

    def __enter__(self) -> IO[str]:
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.fchmod(fd, FILE_MODE)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        return self._fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._fh is not None
        if exc_type is None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self.path)
        else:
            self._fh.close()
            os.unlink(self._tmp)


class JsonlAppender:
    """Append-only JSONL log that survives ``kill -9``: each line is flushed to the OS as it is written.

    Reopening after a crash first cuts a torn (newline-less) final line so the next append starts clean.
    """

    def __init__(self, path: str | Path, *, fsync_every: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # a file made before this policy (or under another umask) is brought in line
        self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self._fsync_every = fsync_every
        self._n = 0

    def write(self, row: Any) -> None:
        self._fh.write(json.dumps(_jsonable(row), ensure_ascii=False) + "\n")
        self._fh.flush()
        self._n += 1
        if self._fsync_every and self._n % self._fsync_every == 0:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_private(path: str | Path) -> IO[bytes]:
    """Open ``path`` for writing bytes (created or truncated) with ``FILE_MODE``, e.g. an image being written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_TRUNC: bring it in line
    return os.fdopen(fd, "wb")


def write_bytes_private(path: str | Path, data: bytes) -> None:
    with open_private(path) as fh:
        fh.write(data)


def copy_private(src: Path, dst: Path) -> None:
    """Copy a file's bytes to ``dst`` (created with ``FILE_MODE``), e.g. an image into an output folder."""
    import shutil

    with src.open("rb") as fin, open_private(dst) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        # walk back to the last newline and cut after it
        size = fh.seek(0, os.SEEK_END)
        pos = size
        chunk = 4096
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                fh.truncate(pos + idx + 1)
                return
        fh.truncate(0)


def file_checksum(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
