"""The issue's security tests that need no real server: auth, allowlist, SSRF, caps, canary, limits."""

from __future__ import annotations

import base64
import io
import json
import logging
import select
import socket
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from serve_helpers import CANARY_BITS, CANARY_MRN, CANARY_NAME, CANARY_PROMPT

from infimed.serve.users import revoke_user


def chat(text: str = "Is the lung field clear?", **extra: Any) -> dict[str, Any]:
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], **extra}


def image_chat(url: str, text: str = "What is shown?") -> dict[str, Any]:
    return {"model": "tiny", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]}]}


def png_data_url(size: tuple[int, int] = (32, 32), mode: str = "L") -> str:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def audit_rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted((folder / "audit").glob("*.jsonl")) for line in f.read_text().splitlines()]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_wrong_or_revoked_token_is_401_and_audited(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, tmp = gateway()
    assert client.post("/v1/chat/completions", json=chat()).status_code == 401
    assert client.post("/v1/chat/completions", json=chat(), headers=bearer("imd_" + "x" * 43)).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": token}).status_code == 401  # no "Bearer"
    assert client.post("/v1/chat/completions", json=chat(), headers=bearer(token)).status_code == 200
    revoke_user(tmp / "users.yaml", "alice")  # no restart
    r = client.post("/v1/chat/completions", json=chat(), headers=bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    rows = [r for r in audit_rows(tmp) if r["event"] == "request"]
    assert [r["status"] for r in rows] == [401, 401, 401, 200, 401]
    assert all(r["error"] == "auth" and r["user"] == "-" for r in rows if r["status"] == 401)
    assert token not in (tmp / "audit").joinpath(sorted(p.name for p in (tmp / "audit").glob("*.jsonl"))[0]).read_text()


def test_malformed_json_from_an_anonymous_caller_is_401(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    assert client.post("/v1/chat/completions", content=b"{not json").status_code == 401
    r = client.post("/v1/chat/completions", content=b"{not json",
                    headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc", "/invocations", "/v1/completions",
                                  "/v1/embeddings", "/admin", "/metrics", "/v1/models/../../etc/passwd"])
def test_every_other_path_is_404(gateway, path: str) -> None:  # type: ignore[no-untyped-def]
    client, token, tmp = gateway()
    assert client.get(path, headers=bearer(token)).status_code == 404
    assert client.post(path, headers=bearer(token), json=chat()).status_code in (404, 405)
    assert all(r["route"] == "-" for r in audit_rows(tmp) if r["event"] == "request")  # raw paths never logged


def test_health_routes_need_no_auth_and_say_nothing(gateway) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = gateway()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_http_image_url_is_refused_before_any_connection(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        for url in (f"http://127.0.0.1:{port}/x.png", f"https://127.0.0.1:{port}/x.png", f"ftp://127.0.0.1:{port}/x",
                    f"HTTP://127.0.0.1:{port}/x.png", f"//127.0.0.1:{port}/x.png"):
            r = client.post("/v1/chat/completions", json=image_chat(url), headers=bearer(token))
            assert r.status_code == 422, url
            assert str(port) not in r.text and "127.0.0.1" not in r.text  # the URL is not echoed
        readable, _, _ = select.select([listener], [], [], 0.5)
        assert readable == []  # no connection was ever attempted


def test_file_urls_are_refused_unless_under_the_image_root(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    r = client.post("/v1/chat/completions", json=image_chat("file:///etc/passwd"), headers=bearer(token))
    assert r.status_code == 422 and "passwd" not in r.text
    root = tmp_path / "images"
    root.mkdir()
    Image.new("L", (16, 16)).save(root / "ok.png")
    client, token, _ = gateway(image_root=root)
    for url in ("file:///etc/passwd", f"file://{root}/../users.yaml", f"file://{root}/missing.png"):
        r = client.post("/v1/chat/completions", json=image_chat(url), headers=bearer(token))
        assert r.status_code == 422 and "passwd" not in r.text and "users" not in r.text, url
    r = client.post("/v1/chat/completions", json=image_chat(f"file://{root}/ok.png"), headers=bearer(token))
    assert r.status_code == 200


def test_oversized_body_is_413(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, tmp = gateway(max_body_bytes=4096)
    r = client.post("/v1/chat/completions", json=chat("x" * 5000), headers=bearer(token))
    assert r.status_code == 413 and "x" * 20 not in r.text
    chunks = (b"x" * 1024 for _ in range(8))  # no Content-Length: chunked upload counted as it arrives
    r = client.post("/v1/chat/completions", content=chunks, headers=bearer(token))
    assert r.status_code == 413
    assert [r["error"] for r in audit_rows(tmp) if r["event"] == "request"] == ["body_too_large"] * 2


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming width x height 1-bit pixels, with a tiny (incomplete) image stream."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    url = "data:image/png;base64," + base64.b64encode(bomb_png(40_000, 40_000)).decode()
    r = client.post("/v1/chat/completions", json=image_chat(url), headers=bearer(token))
    assert r.status_code == 413 and "pixel limit" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json=image_chat("data:image/png;base64,AAAA"), headers=bearer(token))
    assert r.status_code == 422 and "cannot be decoded" in r.json()["error"]["message"]


@pytest.mark.parametrize("extra, field", [({"n": 1000}, "n"), ({"max_tokens": 10**7}, "max_tokens"),
                                          ({"max_completion_tokens": 10**7}, "max_completion_tokens"),
                                          ({"temperature": 50}, "temperature")])
def test_caps_on_n_and_max_tokens(gateway, extra: dict[str, Any], field: str) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    r = client.post("/v1/chat/completions", json=chat(**extra), headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["message"].startswith(f"{field}:")


def test_caps_on_images_and_messages(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway(max_images=1, max_messages=3)
    body = image_chat(png_data_url())
    body["messages"][0]["content"].insert(0, {"type": "image_url", "image_url": {"url": png_data_url()}})
    r = client.post("/v1/chat/completions", json=body, headers=bearer(token))
    assert r.status_code == 422 and "at most 1 images" in r.text
    many = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}] * 4}
    assert client.post("/v1/chat/completions", json=many, headers=bearer(token)).status_code == 422
    assert client.post("/v1/chat/completions", json=image_chat(png_data_url()), headers=bearer(token)).status_code == 200


def test_request_time_limit_is_504(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, tmp = gateway(delay=1.5, request_timeout=0.3)
    r = client.post("/v1/chat/completions", json=chat(), headers=bearer(token))
    assert r.status_code == 504
    assert audit_rows(tmp)[-1]["error"] == "timeout"


def test_unknown_model_is_404(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway()
    r = client.post("/v1/chat/completions", json={**chat(), "model": "gpt-5"}, headers=bearer(token))
    assert r.status_code == 404 and "gpt-5" not in r.text


def test_rate_limit_is_429_with_retry_after(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway(rate_per_minute=3)
    codes = [client.post("/v1/chat/completions", json=chat(), headers=bearer(token)).status_code for _ in range(3)]
    r = client.post("/v1/chat/completions", json=chat(), headers=bearer(token))
    assert codes == [200] * 3 and r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def log_and_audit_text(caplog: pytest.LogCaptureFixture, tmp: Path) -> str:
    return "\n".join(r.getMessage() for r in caplog.records) + "\n".join(
        p.read_text() for p in (tmp / "audit").glob("*"))


@pytest.mark.parametrize("phi", ["off", "mask", "block"])
@pytest.mark.parametrize("stream", [False, True])
def test_canary_identifier_appears_in_no_log_audit_or_error(gateway, caplog, phi: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    client, token, tmp = gateway(phi=phi)
    r = client.post("/v1/chat/completions", json=chat(CANARY_PROMPT, stream=stream), headers=bearer(token))
    bad = client.post("/v1/chat/completions", json={"model": "tiny", "messages": [
        {"role": "doctor", "content": CANARY_PROMPT}]}, headers=bearer(token))  # invalid: echoes nothing
    assert bad.status_code == 422 and not any(bit in bad.text for bit in CANARY_BITS)
    if phi == "block":
        assert r.status_code == 422 and "PHI policy" in r.text
        assert not any(bit in r.text for bit in CANARY_BITS)
    else:
        assert r.status_code == 200
        answer = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                         for line in r.text.splitlines() if line.startswith("data: {")) if stream \
            else r.json()["choices"][0]["message"]["content"]
        assert ("Vexbridge" in answer) == (phi == "off")  # mask: the model never saw the name
        if phi == "mask":
            assert "[NAME]" in answer and "[MRN]" in answer
    text = log_and_audit_text(caplog, tmp)
    assert not any(bit in text for bit in CANARY_BITS)
    last = [row for row in audit_rows(tmp) if row["event"] == "request"][0]
    if phi != "off":
        assert last["phi"]["input"]["found"]["name"] >= 1  # counted, never quoted


def test_outgoing_identifiers_are_masked_or_withheld_identically_streamed_or_not(gateway) -> None:  # type: ignore[no-untyped-def]
    leaky = lambda _req: f"Patient {CANARY_NAME}, {CANARY_MRN}: the film is normal."  # noqa: E731  (a model that leaks)
    for phi, expect in (("mask", "[NAME]"), ("block", "withheld")):
        client, token, _ = gateway(phi=phi, fn=leaky)
        plain = client.post("/v1/chat/completions", json=chat(), headers=bearer(token)).json()
        streamed = client.post("/v1/chat/completions", json=chat(stream=True), headers=bearer(token)).text
        chunks = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert text == plain["choices"][0]["message"]["content"] and expect in text
        assert not any(bit in text for bit in CANARY_BITS)
        finish = "content_filter" if phi == "block" else "stop"
        assert plain["choices"][0]["finish_reason"] == chunks[-1]["choices"][0]["finish_reason"] == finish
        assert plain["infimed"]["phi"]["output"] == chunks[-1]["infimed"]["phi"]["output"]
