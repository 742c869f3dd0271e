"""Users and their bearer tokens: only a SHA-256 of each token is stored; lookups compare in constant time.

The YAML file is re-read when it changes on disk, so ``infimed users revoke`` takes effect without a
restart. Tokens are 256-bit random strings, so a plain SHA-256 (not a slow password hash) is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from infimed.io.jsonl import write_text

TOKEN_PREFIX = "imd_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    token_sha256: str
    models: tuple[str, ...] = ()  # empty: every served model
    rate: int | None = None  # requests per minute; None: the deployment's default
    revoked: bool = False
    created: str = ""

    def may_use(self, model: str) -> bool:
        return not self.models or model in self.models


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def read_users(path: Path) -> dict[str, User]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    rows = data.get("users") if isinstance(data, dict) else None
    if not isinstance(rows, dict):
        raise ValueError(f"{path}: expected a mapping 'users: {{NAME: {{token_sha256: ...}}}}'")
    users = {}
    for name, row in rows.items():
        if not isinstance(row, dict) or not re.fullmatch(r"[0-9a-f]{64}", str(row.get("token_sha256", ""))):
            raise ValueError(f"{path}: user {name!r}: token_sha256 must be 64 hex digits")
        users[str(name)] = User(
            name=str(name), token_sha256=str(row["token_sha256"]), models=tuple(row.get("models") or ()),
            rate=row.get("rate"), revoked=bool(row.get("revoked", False)), created=str(row.get("created", "")),
        )
    return users


def write_users(path: Path, users: dict[str, User]) -> None:
    rows: dict[str, Any] = {}
    for u in users.values():
        row: dict[str, Any] = {"token_sha256": u.token_sha256, "created": u.created}
        if u.models:
            row["models"] = list(u.models)
        if u.rate is not None:
            row["rate"] = u.rate
        if u.revoked:
            row["revoked"] = True
        rows[u.name] = row
    write_text(path, "# infimed serve users: token hashes only (infimed users add/revoke)\n"
               + yaml.safe_dump({"users": rows}, sort_keys=True))
    path.chmod(0o600)


def add_user(path: Path, name: str, *, models: list[str] | None = None, rate: int | None = None) -> str:
    """Add (or re-issue the token of) a user; returns the new token, which is stored nowhere."""
    if not NAME_RE.match(name):
        raise ValueError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    if rate is not None and rate < 1:
        raise ValueError(f"--rate must be >= 1 request per minute, got {rate}")
    users = read_users(path)
    token = new_token()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    users[name] = User(name, hash_token(token), tuple(models or ()), rate, False, created)
    write_users(path, users)
    return token


def revoke_user(path: Path, name: str) -> None:
    users = read_users(path)
    if name not in users:
        raise KeyError(f"{path}: no user {name!r}")
    u = users[name]
    users[name] = User(u.name, u.token_sha256, u.models, u.rate, True, u.created)
    write_users(path, users)


@dataclass
class UserStore:
    """The users file as the server sees it: reloaded whenever its mtime or size changes (one stat a call)."""

    path: Path
    _users: dict[str, User] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._stamp:
            self._users = read_users(self.path) if stamp != (0, 0) else {}
            self._stamp = stamp

    def __len__(self) -> int:
        return sum(not u.revoked for u in self._users.values())

    def authenticate(self, token: str) -> User | None:
        """The active user holding ``token``; every stored hash is compared, so timing says nothing."""
        self.refresh()
        digest = hash_token(token)
        found = None
        for user in self._users.values():
            if hmac.compare_digest(digest, user.token_sha256):
                found = user
        return found if found is not None and not found.revoked else None
