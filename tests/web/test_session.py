"""Session cookies: signed, expiring, bound CSRF tokens; the key from the data dir's secret."""

from pathlib import Path

from controller.web.session import SESSION_SECONDS, SessionSigner


def test_a_session_round_trips_until_it_expires() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie, session = signer.issue("admin", now=1000.0)
    assert signer.load(cookie, now=1001.0) == session
    assert signer.load(cookie, now=1000.0 + SESSION_SECONDS) is None


def test_a_cookie_signed_with_another_key_or_altered_is_refused() -> None:
    cookie, _ = SessionSigner(b"a" * 32).issue("admin", now=1000.0)
    assert SessionSigner(b"b" * 32).load(cookie, now=1001.0) is None
    payload, signature = cookie.split(".")
    assert SessionSigner(b"a" * 32).load(payload[:-2] + "AA." + signature, now=1001.0) is None
    for junk in ["", ".", "a.b.c", "!!!.???", None]:
        assert SessionSigner(b"a" * 32).load(junk, now=1001.0) is None


def test_the_csrf_token_is_bound_to_the_session() -> None:
    signer = SessionSigner(b"k" * 32)
    _, first = signer.issue("admin")
    _, second = signer.issue("admin")
    assert first.csrf != second.csrf
    assert signer.csrf_of(first.nonce) == first.csrf


def test_the_key_comes_from_the_secret_file_so_sessions_survive_a_restart(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"some-fernet-key\n")
    cookie, session = SessionSigner.from_secret_file(secret).issue("admin")
    assert SessionSigner.from_secret_file(secret).load(cookie) == session
    missing = tmp_path / "none.key"
    assert SessionSigner.from_secret_file(missing).load(cookie) is None  # a random key of its own
