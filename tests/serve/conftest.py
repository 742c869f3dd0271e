"""Gateway fixtures: one PHI scrubber for the session, apps over the mock backend, a live uvicorn server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import CLI, echo, free_port, infimed, src_env, wait_ready


@pytest.fixture(scope="session")
def deidentifier() -> Any:
    from infimed.privacy.text import Deidentifier

    return Deidentifier()


@pytest.fixture
def gateway(tmp_path: Path, deidentifier: Any) -> Callable[..., tuple[Any, str, Path]]:
    """``gateway(phi="mask", fn=echo, **limits)`` -> (TestClient, token, tmp folder); closed at teardown.

    ``asgi=True`` returns the app instead of a client (run it with ``lifespan(app)``)."""
    from fastapi.testclient import TestClient

    from infimed.backends.mock import MockBackend
    from infimed.serve.app import create_app
    from infimed.serve.engine import InProcessEngine
    from infimed.serve.phi import PhiPolicy
    from infimed.serve.settings import Limits, Settings
    from infimed.serve.users import add_user

    clients: list[Any] = []

    def make(phi: str = "mask", fn: Callable[[Any], str] = echo, delay: float = 0.0, image_root: Path | None = None,
             asgi: bool = False, engine: Any = None, **limits: Any) -> tuple[Any, str, Path]:
        token = add_user(tmp_path / "users.yaml", "alice")
        settings = Settings(model="tiny", backend="mock", users=tmp_path / "users.yaml", audit=tmp_path / "audit",
                            phi=phi, image_root=image_root, limits=Limits(**limits))  # type: ignore[arg-type]
        engine = engine or InProcessEngine(MockBackend(fn=fn, delay=delay))
        app = create_app(settings, engine=engine, phi=PhiPolicy(phi, deidentifier))  # type: ignore[arg-type]
        if asgi:  # the bare app, for httpx.ASGITransport under the caller's own event loop
            return app, token, tmp_path
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client, token, tmp_path

    yield make  # type: ignore[misc]
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., tuple[str, str, subprocess.Popen[Any], Path]]]:
    """``live_server(*serve_args)`` starts `infimed serve` on a free loopback port with one user."""
    procs: list[subprocess.Popen[Any]] = []

    def start(*args: str) -> tuple[str, str, subprocess.Popen[Any], Path]:
        users = tmp_path / "users.yaml"
        token = infimed("users", "add", "alice", "--users", str(users)).stdout.strip().splitlines()[-1]
        port = free_port()
        log = (tmp_path / "server.log").open("w")
        proc = subprocess.Popen(
            [*CLI, "serve", "--users", str(users), "--audit", str(tmp_path / "audit"),
             "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT, env=src_env())
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        return url, token, proc, tmp_path

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
