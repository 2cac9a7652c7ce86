"""Shared secrets: the one comparison every credential check uses, and the strength rule.

Pure. An empty secret never matches anything, on either side: `compare_digest(b"", b"")` is
true, so a controller with an empty token would otherwise let anyone in.
"""

import hmac
import math
import string

from controller.domain.errors import InvalidInput

MIN_SECRET_BITS = 256  # 32 bytes of entropy
MIN_DISTINCT_CHARS = 10
_HEX = frozenset(string.hexdigits)
_URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")
_BASE64 = _URLSAFE | frozenset("+/=")


def secrets_match(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Whether `given` equals `expected`, in constant time; never true when either is empty."""
    if not given or not expected:
        return False
    given_bytes = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else given
    expected_bytes = expected.encode("utf-8", "surrogateescape") if isinstance(expected, str) else expected
    return hmac.compare_digest(given_bytes, expected_bytes)


def estimated_bits(secret: str) -> float:
    """A generous upper bound on a secret's entropy: its length times the bits of its alphabet.

    The alphabet is the smallest of hex, URL-safe base64, base64 and printable ASCII that
    holds every character, so `secrets.token_hex(32)` and `token_urlsafe(32)` both count
    256 bits or more, and an 11-character password never does.
    """
    chars = set(secret)
    for alphabet, size in ((_HEX, 16), (_URLSAFE, 64), (_BASE64, 65)):
        if chars <= alphabet:
            return len(secret) * math.log2(size)
    return len(secret) * math.log2(95)


def check_secret_strength(secret: str | None, *, what: str, hint: str = "") -> str:
    """Return `secret` if it is long and varied enough to hold 32 bytes of entropy, else raise.

    Raises:
        InvalidInput: the secret is missing, empty, shorter than 256 bits' worth, or made of
            fewer than 10 distinct characters (`aaaa...`).
    """
    fix = f": {hint}" if hint else ""
    if not secret or not secret.strip():
        raise InvalidInput(f"{what} is empty{fix}")
    if any(c.isspace() or not c.isprintable() for c in secret):
        raise InvalidInput(f"{what} contains spaces or control characters{fix}")
    if estimated_bits(secret) < MIN_SECRET_BITS or len(set(secret)) < MIN_DISTINCT_CHARS:
        raise InvalidInput(
            f"{what} is too weak: it needs 32 bytes of entropy "
            f"(e.g. 64 hex digits or 43 URL-safe base64 characters){fix}"
        )
    return secret
