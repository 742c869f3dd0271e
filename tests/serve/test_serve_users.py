"""`infimed users add|revoke`: the token is printed once, as the last line, and only its hash is stored."""

from __future__ import annotations

from pathlib import Path

from serve_helpers import infimed

from infimed.serve.users import UserStore, hash_token


def test_add_prints_token_last_and_stores_only_its_hash(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    out = infimed("users", "add", "dr.ana", "--users", str(users), "--models", "tiny", "--rate", "30")
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("imd_") and len(token) > 40
    text = users.read_text()
    assert token not in text and hash_token(token) in text
    assert users.stat().st_mode & 0o077 == 0
    user = UserStore(users).authenticate(token)
    assert user is not None and user.name == "dr.ana" and user.models == ("tiny",) and user.rate == 30
    tampered = token[:-1] + ("B" if token[-1] != "B" else "C")  # the last character is one of A/Q/g/w
    assert UserStore(users).authenticate(tampered) is None


def test_revoke_and_reissue(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    old = infimed("users", "add", "bob", "--users", str(users)).stdout.strip().splitlines()[-1]
    store = UserStore(users)
    assert store.authenticate(old) is not None
    infimed("users", "revoke", "bob", "--users", str(users))
    assert store.authenticate(old) is None  # the same store sees the change: no restart
    new = infimed("users", "add", "bob", "--users", str(users)).stdout.strip().splitlines()[-1]
    assert store.authenticate(new) is not None and store.authenticate(old) is None


def test_bad_names_and_unknown_users_are_one_line_errors(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    bad = infimed("users", "add", "a b/../c", "--users", str(users), check=False)
    assert bad.returncode != 0 and "user name" in bad.stderr
    missing = infimed("users", "revoke", "nobody", "--users", str(users), check=False)
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr


def test_binding_off_loopback_needs_tls_and_a_user(tmp_path: Path) -> None:
    out = infimed("serve", "--model", "gold", "--backend", "mock", "--host", "0.0.0.0", "--users",
                  str(tmp_path / "u.yaml"), "--audit", str(tmp_path / "audit"), check=False)
    assert out.returncode == 2 and "--tls-cert" in out.stderr
    (tmp_path / "c.pem").write_text("x")
    out = infimed("serve", "--model", "gold", "--backend", "mock", "--host", "0.0.0.0", "--users",
                  str(tmp_path / "u.yaml"), "--audit", str(tmp_path / "audit"), "--tls-cert", str(tmp_path / "c.pem"),
                  "--tls-key", str(tmp_path / "c.pem"), check=False)
    assert out.returncode == 2 and "add a user first" in out.stderr
