"""A real `infimed serve` (uvicorn on a free loopback port): kill -9 mid-stream, clean logs, real clients."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from serve_helpers import CANARY_BITS, CANARY_PROMPT, CLI, infimed, src_env


def test_kill_9_mid_stream_leaves_a_verifiable_audit(live_server) -> None:  # type: ignore[no-untyped-def]
    url, token, proc, tmp = live_server("--model", "always:fine", "--backend", "mock", "-o", "delay=20", "--phi", "off")
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert httpx.get(url + "/v1/models", headers=auth).status_code == 200
    started = threading.Event()

    def stream() -> None:
        body = {"model": "always:fine", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
        try:
            with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=auth, timeout=30) as r:
                for _line in r.iter_lines():
                    started.set()  # the first chunk is out: the answer is mid-stream
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    assert started.wait(20)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    t.join(timeout=10)
    out = infimed("audit", "verify", str(tmp / "audit"))
    assert "OK, 4 lines verified" in out.stdout  # start + 3 requests; the killed stream never finished


def test_server_logs_carry_no_content_tokens_or_query_strings(live_server) -> None:  # type: ignore[no-untyped-def]
    url, token, proc, tmp = live_server("--model", "always:No effusion.", "--backend", "mock", "--phi", "mask")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": "always:No effusion.", "messages": [{"role": "user", "content": CANARY_PROMPT}]}
    assert httpx.post(url + "/v1/chat/completions?api_key=SECRETQUERY", json=body, headers=auth).status_code == 200
    assert httpx.post(url + "/v1/chat/completions", json={**body, "stream": True}, headers=auth).status_code == 200
    assert httpx.post(url + "/v1/chat/completions", json={**body, "n": 1000}, headers=auth).status_code == 422
    assert httpx.get(url + "/patients/Vexbridge?mrn=48151623", headers=auth).status_code == 404
    assert httpx.get(url + "/v1/models", headers={"Authorization": "Bearer " + token + "x"}).status_code == 401
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)
    log = (tmp / "server.log").read_text()
    assert '"POST /v1/chat/completions" 200' in log and '"GET -" 404' in log  # the access log is there...
    for secret in (*CANARY_BITS, token, "SECRETQUERY", "api_key", "patients"):
        assert secret not in log  # ...without content, tokens, query strings or raw paths
    audit = "".join(p.read_text() for p in (tmp / "audit").glob("*.jsonl"))
    assert not any(bit in audit for bit in CANARY_BITS) and token not in audit
    assert "OK" in infimed("audit", "verify", str(tmp / "audit")).stdout


@pytest.mark.slow
def test_tiny_model_answers_curl_openai_client_and_eval_run(live_server, tiny_model_dir: Path, phantom_dir: Path,
                                                            tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    url, token, _, _ = live_server("--model", str(tiny_model_dir), "--backend", "hf", "--phi", "off", "-o", "device=cpu")
    client = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)
    (model,) = [m.id for m in client.models.list()]
    reply = client.chat.completions.create(model=model, max_tokens=6,
                                           messages=[{"role": "user", "content": "Is this film normal?"}])
    assert isinstance(reply.choices[0].message.content, str) and reply.usage.completion_tokens >= 1
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, max_tokens=6, stream=True, messages=[{"role": "user", "content": "Is this film normal?"}])
        if c.choices]
    assert "".join(pieces) == reply.choices[0].message.content  # greedy: the same answer streamed
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="imd_wrong", max_retries=0).models.list()
    if shutil.which("curl"):
        out = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                              "-d", json.dumps({"model": model, "max_tokens": 4, "messages": [
                                  {"role": "user", "content": "hi"}]}), url + "/v1/chat/completions"],
                             capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(out.stdout)["choices"][0]["message"]["role"] == "assistant"
    out_dir = tmp_path / "eval"
    env = {**src_env(), "INFIMED_TOKEN": token}
    subprocess.run([*CLI, "eval", "run", "--backend", "openai", "--model", model,
                    "--base-url", url + "/v1", "--api-key-env", "INFIMED_TOKEN", "--data",
                    str(phantom_dir / "test.jsonl"), "--limit", "4", "--max-new-tokens", "4", "--concurrency", "2",
                    "--out", str(out_dir)], env=env, check=True, capture_output=True, text=True, timeout=300)
    predictions = [json.loads(x) for x in (out_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 4 and all(p.get("error") is None and isinstance(p["response"], str) for p in predictions)


def test_a_stream_cut_off_by_its_client_frees_its_slot(live_server) -> None:  # type: ignore[no-untyped-def]
    url, token, _, tmp = live_server("--model", "always:fine", "--backend", "mock", "-o", "delay=3", "--phi", "off",
                                     "--user-concurrency", "1")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": "always:fine", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=auth, timeout=30) as r:
        next(r.iter_lines())  # the first chunk, then hang up mid-stream
    assert httpx.post(url + "/v1/chat/completions", json={**body, "stream": False}, headers=auth,
                      timeout=30).status_code == 200  # the cut-off stream's slot was given back
    rows = [json.loads(x) for f in (tmp / "audit").glob("*.jsonl") for x in f.read_text().splitlines()]
    assert [r["status"] for r in rows if r["event"] == "request"] == [499, 200]
