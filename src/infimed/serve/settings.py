"""Deployment settings: what is served, where, and the caps every request is held to."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

PhiMode = Literal["off", "mask", "block"]


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(default=16 * 1024 * 1024, ge=1)  # decoded pixels per image (decompression bombs)
    max_images: int = Field(default=4, ge=0)
    max_messages: int = Field(default=64, ge=1)
    max_text_chars: int = Field(default=32_000, ge=1)  # per text part / string content
    max_n: int = Field(default=4, ge=1)
    max_tokens: int = Field(default=2048, ge=1)
    default_max_tokens: int = Field(default=256, ge=1)
    request_timeout: float = Field(default=120.0, gt=0)  # seconds from admission to the last byte
    rate_per_minute: int = Field(default=60, ge=1)  # per user, unless the user record sets its own
    user_concurrency: int = Field(default=4, ge=1)  # requests in flight per user
    max_inflight: int = Field(default=16, ge=1)  # requests at the model at once, all users together
    max_queue: int = Field(default=64, ge=0)  # admitted requests waiting for a slot; beyond it: 429 at once
    queue_timeout: float = Field(default=30.0, gt=0)  # seconds a request may wait for a slot


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    model: str  # the served model name (a folder for hf/vllm, the upstream's name with --upstream)
    backend: str = "hf"  # hf | vllm | mock (tests); ignored with upstream
    backend_options: dict[str, object] = Field(default_factory=dict)
    upstream: str | None = None  # http://127.0.0.1:8000/v1
    upstream_api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    users: Path
    audit: Path
    audit_key: Path | None = None  # default: <audit>/.key
    phi: PhiMode = "mask"
    image_root: Path | None = None  # file:// images allowed only under this folder
    tls_cert: Path | None = None
    tls_key: Path | None = None
    limits: Limits = Field(default_factory=lambda: Limits())

    @property
    def served_name(self) -> str:
        """The id in /v1/models: a folder's name, or the upstream model's name as given."""
        return Path(self.model).name if self.upstream is None and Path(self.model).exists() else self.model

    @property
    def key_path(self) -> Path:
        return self.audit_key or self.audit / ".key"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.upstream is not None:
            parts = urlsplit(self.upstream)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("--upstream must be an http(s) URL such as http://127.0.0.1:8000/v1")
            if parts.scheme == "http" and not is_loopback(parts.hostname):
                raise ValueError("--upstream over plain http must listen on loopback (127.0.0.1); use https otherwise")
        return self

    def check_exposure(self, n_users: int) -> None:
        """Binding anything but loopback needs TLS and at least one user."""
        if is_loopback(self.host):
            return
        if self.tls_cert is None:
            raise ValueError(f"--host {self.host} is not loopback: pass --tls-cert and --tls-key")
        if n_users == 0:
            raise ValueError(f"--host {self.host} is not loopback: add a user first (infimed users add)")
