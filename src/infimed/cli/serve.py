"""`infimed serve`, `infimed users add|revoke` and `infimed audit verify`: the privacy-preserving gateway."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

if TYPE_CHECKING:
    from infimed.serve.settings import PhiMode

users_app = typer.Typer(help="Manage the gateway's users and their bearer tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the gateway's chained audit log.", no_args_is_help=True)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config() -> dict[str, Any]:
    """uvicorn's loggers through one plain handler; its access log is off (the gateway logs its own)."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "infimed.serve": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "httpx": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }


def serve(
    model: str = typer.Option(..., "--model", help="Model folder (hf/vllm) or the upstream's model name."),
    backend: str = typer.Option("hf", "--backend", help="In-process backend: hf or vllm (mock for drills)."),
    upstream: str | None = typer.Option(None, "--upstream", help="Front an OpenAI-compatible server instead, e.g. http://127.0.0.1:8000/v1."),
    upstream_key_env: str = typer.Option("INFIMED_UPSTREAM_KEY", "--upstream-key-env", help="Environment variable holding the upstream's API key, if it needs one."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs TLS and a user."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    users: Path = typer.Option(..., "--users", help="Users file made by `infimed users add`."),
    audit: Path = typer.Option(..., "--audit", help="Folder of the daily audit files."),
    audit_key: Path | None = typer.Option(None, "--audit-key", help="Audit HMAC key file (made on first start; default AUDIT/.key). Keep it off the audit disk in production."),
    phi: str = typer.Option("mask", "--phi", help="PHI policy for text in and out: off, mask or block."),
    image_root: Path | None = typer.Option(None, "--image-root", help="Also accept file:// images under this folder."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="TLS certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
    rate: int = typer.Option(60, "--rate", help="Default requests per minute per user."),
    user_concurrency: int = typer.Option(4, "--user-concurrency", help="Requests in flight per user."),
    max_inflight: int = typer.Option(16, "--max-inflight", help="Requests at the model at once, all users."),
    max_queue: int = typer.Option(64, "--max-queue", help="Requests that may wait for a slot; beyond: 429."),
    max_tokens: int = typer.Option(2048, "--max-tokens", help="Largest max_tokens a request may ask for."),
    max_images: int = typer.Option(4, "--max-images", help="Images per request."),
    max_pixels: int = typer.Option(16 * 1024 * 1024, "--max-pixels", help="Decoded pixels per image."),
    max_body_mb: float = typer.Option(20.0, "--max-body-mb", help="Largest request body in MiB."),
    request_timeout: float = typer.Option(120.0, "--request-timeout", help="Seconds a request may take."),
    option: list[str] = typer.Option([], "--option", "-o", help="Backend option KEY=VALUE (repeatable), e.g. -o device=cpu."),
) -> None:
    """Serve a model behind an OpenAI-compatible gateway with auth, limits, a PHI policy and an audit."""
    import os

    from pydantic import ValidationError

    from infimed.cli.eval import parse_options
    from infimed.serve.settings import Limits, Settings

    try:
        settings = Settings(
            model=model, backend=backend, backend_options=parse_options(option), upstream=upstream,
            upstream_api_key=os.environ.get(upstream_key_env) or None, host=host, port=port, users=users,
            audit=audit, audit_key=audit_key, phi=cast("PhiMode", phi), image_root=image_root, tls_cert=tls_cert, tls_key=tls_key,
            limits=Limits(rate_per_minute=rate, user_concurrency=user_concurrency, max_inflight=max_inflight,
                          max_queue=max_queue, max_tokens=max_tokens, max_images=max_images,
                          max_pixels=max_pixels, max_body_bytes=int(max_body_mb * 1024 * 1024),
                          request_timeout=request_timeout),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "settings"
        raise typer.BadParameter(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None
    if image_root is not None and not image_root.is_dir():
        raise typer.BadParameter(f"{image_root} is not a folder", param_hint="--image-root")
    run_server(settings)


def run_server(settings: Any) -> None:
    import uvicorn

    from infimed.serve.app import create_app

    try:
        app = create_app(settings)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=log_config(), access_log=False,
        server_header=False, proxy_headers=False,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=10,
    )


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    users: Path = typer.Option(..., "--users", help="Users file (created when missing)."),
    models: list[str] = typer.Option([], "--models", help="Models this user may call (repeatable; default: all)."),
    rate: int | None = typer.Option(None, "--rate", help="Requests per minute for this user (default: the server's)."),
) -> None:
    """Add a user (or issue a new token to an existing one); the token is printed once, as the last line."""
    from infimed.serve.users import add_user

    try:
        token = add_user(users, name, models=models, rate=rate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"user {name} added to {users}; the token below is shown only now (only its hash is stored):")
    typer.echo(token)


@users_app.command("revoke")
def users_revoke(
    name: str = typer.Argument(..., help="User to revoke."),
    users: Path = typer.Option(..., "--users", help="Users file."),
) -> None:
    """Revoke a user's token; a running server refuses it from its next request."""
    from infimed.serve.users import revoke_user

    try:
        revoke_user(users, name)
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"user {name} revoked")


@audit_app.command("verify")
def audit_verify(
    folder: Path = typer.Argument(..., help="The server's --audit folder."),
    key: Path | None = typer.Option(None, "--key", help="Audit key file (default FOLDER/.key)."),
) -> None:
    """Check every line's MAC and the chain between them; exit 1 on an edited, removed or truncated line."""
    from infimed.serve.audit import load_key, verify_audit

    try:
        verdict = verify_audit(folder, load_key(key or folder / ".key"))
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for w in verdict.warnings:
        typer.echo(f"warning: {w}")
    for e in verdict.errors:
        typer.echo(f"error: {e}")
    if not verdict.ok:
        typer.echo(f"audit {folder}: INVALID ({len(verdict.errors)} problem(s))")
        raise typer.Exit(1)
    typer.echo(f"audit {folder}: OK, {verdict.lines} lines verified")


@audit_app.command("find")
def audit_find(
    folder: Path = typer.Argument(..., help="The server's --audit folder."),
    body: Path = typer.Option(..., "--body", help="A request body as sent (the exact bytes, e.g. a JSON file)."),
    key: Path | None = typer.Option(None, "--key", help="Audit key file (default FOLDER/.key)."),
) -> None:
    """Find the audit lines of a disputed request by its body's HMAC (the audit never stores the body)."""
    from infimed.serve.audit import find_body, load_key

    if not body.is_file():
        raise typer.BadParameter(f"{body} does not exist", param_hint="--body")
    try:
        hits = find_body(folder, load_key(key or folder / ".key"), body.read_bytes())
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for where, row in hits:
        typer.echo(f"{where}  {row.get('time')}  user={row.get('user')}  status={row.get('status')}  "
                   f"model={row.get('model')}")
    if not hits:
        typer.echo("no audit line matches this body")
        raise typer.Exit(1)
