"""Browser sessions of the GUI: the API's server-side sessions (`SessionService`), one cookie
for both. A user logged in to the GUI is a session principal to the API too.

The cookie holds the session id (HttpOnly, SameSite=Lax); the session's CSRF token is derived
from it (`csrf_token_of`), so pages put it into their forms and htmx sends it as X-CSRF-Token.
The login form, which has no session yet, carries a double-submit token of its own.
"""

import hmac
from dataclasses import dataclass

from controller.api.auth import CSRF_HEADER, SESSION_COOKIE
from controller.domain.access import Principal

LOGIN_COOKIE = "dockyard_login"  # double-submit CSRF token of the login form (no session yet)
CSRF_FIELD = "csrf"

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "LOGIN_COOKIE", "SESSION_COOKIE", "Session", "csrf_matches"]


@dataclass(frozen=True)
class Session:
    """A logged-in browser: who it is (its principal) and the CSRF token its forms must carry."""

    principal: Principal
    csrf: str

    @property
    def who(self) -> str:
        return self.principal.name


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())
