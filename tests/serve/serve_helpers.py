"""Shared helpers of the gateway tests (a uniquely named module: conftest names clash across folders)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# a made-up patient: it must never show up in a log, an audit line or an error message
CANARY_NAME = "Quillon Vexbridge"
CANARY_MRN = "MRN 48151623"
CANARY_PROMPT = f"Patient {CANARY_NAME}, {CANARY_MRN}, born 03/14/1961: is the chest X-ray normal?"
CLI = (sys.executable, "-c", "from infimed.cli import main; main()")
CANARY_BITS = ("Quillon", "Vexbridge", "48151623", "03/14/1961")


def echo(request: Any) -> str:
    """A mock model that repeats the text it was given (so identifiers reach the outgoing policy too)."""
    return " ".join(p.get("text", "") for m in request.messages for p in m["content"] if p.get("type") == "text")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def src_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "200"}


def infimed(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          env=src_env(), check=check, timeout=120)


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s")
