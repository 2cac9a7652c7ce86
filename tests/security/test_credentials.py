"""Empty and weak secrets (issue 14.1): one comparison that never matches an empty secret, and a
controller that refuses to start with an empty or short admin token.
"""

import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from controller.domain.credentials import check_secret_strength, secrets_match
from controller.domain.errors import InvalidInput
from controller.domain.webhooks import Provider, WebhookUnauthorized, verify_signature
from controller.settings import Settings
from controller.wiring import check_admin_token, load_admin_token
from tests.e2e.conftest import DOCKYARD, TOKEN, make_controller


@pytest.mark.parametrize(
    ("given", "expected"), [("", ""), (b"", b""), (None, ""), ("", None), ("x", ""), ("", "x"), (None, None)]
)
def test_an_empty_secret_never_matches(given: str | bytes | None, expected: str | bytes | None) -> None:
    assert not secrets_match(given, expected)


def test_secrets_match_only_the_same_secret() -> None:
    token = secrets.token_urlsafe(32)
    assert secrets_match(token, token) and secrets_match(token.encode(), token)
    assert not secrets_match(token, token[:-1]) and not secrets_match(token + "x", token)


@pytest.mark.parametrize(
    "weak",
    [
        "",
        "   ",
        "short",
        "e2e-test-token-0123456789",
        "a" * 100,
        "ab" * 40,
        secrets.token_hex(20),
        "pass word" * 9,
    ],
    ids=["empty", "blank", "short", "e2e-token", "one-char", "two-chars", "160-bit-hex", "phrase"],
)
def test_weak_secrets_are_refused(weak: str) -> None:
    with pytest.raises(InvalidInput):
        check_secret_strength(weak, what="the token")


@pytest.mark.parametrize(
    "strong", [secrets.token_urlsafe(32), secrets.token_hex(32), TOKEN], ids=["urlsafe", "hex", "test-token"]
)
def test_strong_secrets_pass(strong: str) -> None:
    assert check_secret_strength(strong, what="the token") == strong


@pytest.mark.parametrize("content", ["", "\n", "short-token\n"])
def test_an_empty_or_short_admin_token_file_stops_the_controller(tmp_path: Path, content: str) -> None:
    (tmp_path / "admin.token").write_text(content)
    settings = Settings(data_dir=tmp_path, admin_token=None)
    with pytest.raises(InvalidInput, match=r"admin\.token"):
        check_admin_token(settings)
    with pytest.raises(InvalidInput):
        load_admin_token(settings)


def test_a_short_admin_token_setting_stops_the_controller(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="DOCKYARD_ADMIN_TOKEN"):
        load_admin_token(Settings(data_dir=tmp_path, admin_token="hunter2"))


def test_a_missing_token_file_gets_a_strong_private_token(tmp_path: Path) -> None:
    token = load_admin_token(Settings(data_dir=tmp_path, admin_token=None))
    assert check_secret_strength(token, what="generated") == token
    assert (tmp_path / "admin.token").stat().st_mode & 0o777 == 0o600
    assert load_admin_token(Settings(data_dir=tmp_path, admin_token=None)) == token


@pytest.mark.parametrize("provider", list(Provider))
def test_an_app_with_an_empty_webhook_secret_accepts_nothing(provider: Provider) -> None:
    import hashlib
    import hmac

    body = b"{}"
    empty_mac = hmac.new(b"", body, hashlib.sha256).hexdigest()
    headers = {
        "x-gitlab-token": "",
        "x-hub-signature-256": f"sha256={empty_mac}",
        "x-hub-signature": f"sha256={empty_mac}",
        "x-gitea-signature": empty_mac,
    }
    with pytest.raises(WebhookUnauthorized):
        verify_signature(provider, headers, body, "")


@pytest.mark.parametrize("content", ["", "tooshort\n"])
def test_serve_refuses_to_start_with_an_empty_or_short_admin_token(tmp_path: Path, content: str) -> None:
    """The real `dockyard serve`, as installed: it exits at once, before it listens."""
    ctl = make_controller(tmp_path, DOCKYARD_ADMIN_TOKEN="")
    ctl.data_dir.mkdir(parents=True)
    (ctl.data_dir / "admin.token").write_text(content)
    result = subprocess.run([DOCKYARD, "serve"], env=ctl.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refusing to start" in result.stderr and "admin.token" in result.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(ctl.url + "/api/v1/health", timeout=1)
