"""The chained audit: every edit, removal or truncation is caught; a torn last line is reported, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

from serve_helpers import infimed

from infimed.serve.audit import AuditLog, load_key, verify_audit


def write_lines(folder: Path, n: int) -> tuple[Path, bytes]:
    key = load_key(folder / ".key", create=True)
    log = AuditLog(folder, key)
    for i in range(n):
        log.record(event="request", user="alice", status=200, latency_ms=float(i), body_hmac=log.body_hmac(b"x"))
    log.close()
    return next(folder.glob("audit-*.jsonl")), key


def test_intact_log_verifies(tmp_path: Path) -> None:
    path, key = write_lines(tmp_path, 5)
    verdict = verify_audit(tmp_path, key)
    assert verdict.ok and verdict.lines == 5 and verdict.warnings == []
    assert (tmp_path / ".key").stat().st_mode & 0o077 == 0
    out = infimed("audit", "verify", str(tmp_path))
    assert "OK, 5 lines verified" in out.stdout


def test_edited_line_fails(tmp_path: Path) -> None:
    path, key = write_lines(tmp_path, 5)
    lines = path.read_text().splitlines()
    row = json.loads(lines[2])
    row["status"] = 500
    lines[2] = json.dumps(row, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    verdict = verify_audit(tmp_path, key)
    assert not verdict.ok and verdict.errors[0].endswith("MAC mismatch: the line was edited (or the key is wrong)")
    assert ":3:" in verdict.errors[0]
    out = infimed("audit", "verify", str(tmp_path), check=False)
    assert out.returncode == 1 and "INVALID" in out.stdout


def test_removed_middle_line_fails(tmp_path: Path) -> None:
    path, key = write_lines(tmp_path, 5)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert "a line was removed" in verify_audit(tmp_path, key).errors[0]


def test_removed_trailing_lines_fail(tmp_path: Path) -> None:
    path, key = write_lines(tmp_path, 5)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3]) + "\n")
    assert "truncated: 5 lines were written, 3 remain" in verify_audit(tmp_path, key).errors[0]


def test_torn_last_line_is_reported_and_the_rest_verifies(tmp_path: Path) -> None:
    path, key = write_lines(tmp_path, 4)
    with path.open("a") as fh:
        fh.write('{"event":"request","seq":4,"us')  # what kill -9 mid-write leaves
    verdict = verify_audit(tmp_path, key)
    assert verdict.ok and verdict.lines == 4 and "incomplete" in verdict.warnings[0]
    log = AuditLog(tmp_path, key)  # a restart cuts the torn tail and continues the chain
    assert log.recovered_bytes > 0
    log.record(event="start")
    log.close()
    verdict = verify_audit(tmp_path, key)
    assert verdict.ok and verdict.lines == 5 and verdict.warnings == []


def test_wrong_key_fails(tmp_path: Path) -> None:
    write_lines(tmp_path, 2)
    assert not verify_audit(tmp_path, b"k" * 32).ok


def test_find_matches_a_disputed_body_without_storing_it(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, token, tmp = gateway()
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Is the film normal?"}]}).encode()
    other = body.replace(b"normal", b"clear")
    for content in (body, other, body):
        client.post("/v1/chat/completions", content=content,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    (tmp_path / "disputed.json").write_bytes(body)
    out = infimed("audit", "find", str(tmp / "audit"), "--body", str(tmp_path / "disputed.json"))
    assert len(out.stdout.splitlines()) == 2 and "user=alice" in out.stdout and "status=200" in out.stdout
    assert b"Is the film" not in b"".join(p.read_bytes() for p in (tmp / "audit").glob("*.jsonl"))
