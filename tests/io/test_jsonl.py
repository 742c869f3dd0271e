"""Streaming JSONL reading, validation errors with file:line [id] field, atomic and crash-safe writing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infimed.io.jsonl import (
    JsonlAppender,
    atomic_open,
    iter_json_lines,
    iter_records,
    load_samples,
    read_samples,
    validate_file,
    write_jsonl,
)
from infimed.schema import SampleValidationError


def row(i: int, **over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": f"s{i}", "images": [f"img/{i}.png"], "question": "Is there a lesion?",
                           "answer": "yes", "answer_type": "yes_no", "modality": "ct", "task": "abnormality_detection"}
    raw.update(over)
    return raw


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def make_images(root: Path, n: int) -> None:
    (root / "img").mkdir(exist_ok=True)
    for i in range(n):
        Image.new("L", (8, 8), color=i * 10).save(root / "img" / f"{i}.png")


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    make_images(tmp_path, 3)
    path = tmp_path / "a.jsonl"
    assert write_jsonl(path, [row(i) for i in range(3)]) == 3
    samples = load_samples(path, check_images=True)
    assert [s.id for s in samples] == ["s0", "s1", "s2"]
    assert samples[0].image_paths() == [tmp_path / "img" / "0.png"]


def test_validate_reports_every_error_with_its_line_and_field(tmp_path: Path) -> None:
    make_images(tmp_path, 2)
    lines = [
        json.dumps(row(0)) + "\n",
        "{not json\n",
        json.dumps(row(0)) + "\n",  # duplicate id
        json.dumps(row(3, modality="sonar")) + "\n",
        json.dumps(row(4, images=["img/missing.png"])) + "\n",
        "\n",  # blank lines are skipped
        json.dumps(row(5, answer_type="choice", options={"A": "x"}, answer="B")) + "\n",
        json.dumps(row(1, extra=1)) + "\n",
        json.dumps(row(6))[:25],  # torn final line (no newline, cut JSON)
    ]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    errors = list(validate_file(path, check_images=True))
    got = {(e.line, e.field) for e in errors}
    assert got == {(2, "record"), (3, "id"), (4, "modality"), (5, "images[0]"), (7, "answer"), (8, "extra"),
                   (9, "record")}
    by_line = {e.line: e for e in errors}
    assert "invalid JSON" in by_line[2].message and "invalid JSON" in by_line[9].message
    assert "duplicate id" in by_line[3].message and by_line[3].sample_id == "s0"
    assert "not found" in by_line[5].message and by_line[5].sample_id == "s4"
    assert str(by_line[4]).startswith(f"{path}:4 [id=s3] field 'modality'")


def test_image_checks_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [row(0, images=["img/none.png"])])
    assert list(validate_file(path, check_images=False)) == []
    assert [e.field for e in validate_file(path, check_images=True)] == ["images[0]"]


def test_undecodable_image_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [row(0)])
    (err,) = list(validate_file(path))
    assert err.field == "images[0]" and "cannot decode" in err.message


def test_strict_reader_raises_at_first_bad_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(row(0)) + "\n", json.dumps(row(1, answer="perhaps")) + "\n"])
    reader = read_samples(path)
    assert next(reader).id == "s0"
    with pytest.raises(SampleValidationError) as info:
        next(reader)
    assert info.value.errors[0].line == 2 and info.value.errors[0].field == "answer"


def test_torn_tail_tolerated_only_when_asked(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(row(0)) + "\n", '{"id": "s1", "que'])
    assert [err for _, _, err in iter_json_lines(path)][1] is not None
    assert [(n, err) for n, _, err in iter_json_lines(path, tolerate_torn_tail=True)] == [(1, None)]
    # a complete final line without a newline is still read
    path2 = write_lines(tmp_path / "b.jsonl", [json.dumps(row(0))])
    assert [err for _, _, err in iter_json_lines(path2, tolerate_torn_tail=True)] == [None]


def test_records_stream_lazily(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_jsonl(path, (row(i) for i in range(2000)))
    records = iter_records(path)
    first = next(records)
    assert first.line == 1 and first.sample is not None
    assert sum(1 for _ in records) == 1999


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [row(0)])
    before = path.read_bytes()

    def rows() -> Any:
        yield row(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind
    with atomic_open(tmp_path / "t.txt") as fh:
        fh.write("x")
    assert (tmp_path / "t.txt").read_text() == "x"


def test_appender_cuts_torn_tail_and_continues(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with JsonlAppender(path) as log:
        log.write({"i": 0})
        log.write({"i": 1})
    with path.open("a") as fh:
        fh.write('{"i": 2, "tor')  # killed mid-line
    with JsonlAppender(path) as log:
        log.write({"i": 3})
    assert [v["i"] for _, v, _ in iter_json_lines(path)] == [0, 1, 3]


def test_every_output_file_gets_the_one_permission_policy(tmp_path: Path) -> None:
    from infimed.io.jsonl import FILE_MODE, JsonlAppender, copy_private, write_json, write_text

    old = os.umask(0o022)  # a typical umask would give 0644
    try:
        write_json(tmp_path / "results.json", {"a": 1})
        write_text(tmp_path / "report.md", "x")
        with JsonlAppender(tmp_path / "predictions.jsonl") as log:
            log.write({"id": "a"})
        legacy = tmp_path / "legacy.jsonl"  # made before the policy: brought in line when appended to
        legacy.write_text('{"id": "b"}\n')
        legacy.chmod(0o644)
        JsonlAppender(legacy).close()
        copy_private(tmp_path / "report.md", tmp_path / "images" / "copy.png")
    finally:
        os.umask(old)
    for name in ("results.json", "report.md", "predictions.jsonl", "legacy.jsonl", "images/copy.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == FILE_MODE == 0o600, name


def test_written_images_follow_the_policy_too(tmp_path: Path) -> None:
    from infimed.data.phantom import synth
    from infimed.io.jsonl import FILE_MODE

    old = os.umask(0o022)
    try:
        synth(tmp_path / "ph", n=12, seed=0, defects=True)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "ph").rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".jsonl" for p in files)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: FILE_MODE for p in files}


def test_images_within_makes_escaping_paths_errors_of_field_images(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    make_images(data, 1)
    path = data / "a.jsonl"
    write_jsonl(path, [row(0), row(1, images=["img/0.png", "../img/0.png"]), row(2, images=["/etc/hostname"])])
    assert [r.sample is not None for r in iter_records(path)] == [True, True, True]  # off by default
    records = list(iter_records(path, images_within=True))
    assert [r.sample is not None for r in records] == [True, False, False]
    (err,) = records[1].errors
    assert (err.file, err.line, err.sample_id, err.field) == (str(path), 2, "s1", "images")
    assert err.message.startswith(f"images[1] '../img/0.png' lies outside the data folder {data}")
    assert str(records[2].errors[0]).startswith(f"{path}:3 [id=s2] field 'images': images[0] '/etc/hostname'")
    with pytest.raises(SampleValidationError, match="lies outside"):
        load_samples(path, images_within=True)
