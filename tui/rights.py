"""What the TUI's token may do, from GET /api/v1/whoami: which keys to grey out and why."""

from dataclasses import dataclass
from typing import Any

from tui.format import safe

READ, OPERATE = "read", "operate"
# The app screen's keys that change something (all need `operate` on the app): action -> verb.
MUTATING = {
    "deploy": "deploy",
    "rollback": "roll back",
    "restart": "restart",
    "scale": "scale",
    "edit_config": "change the config of",
    "reveal": "reveal the config values of",
    "cancel": "cancel the deploys of",
}
MUTATING_KEYS = {"d": "deploy", "r": "rollback", "R": "restart", "s": "scale", "c": "edit_config"}
MUTATING_KEYS |= {"v": "reveal", "x": "cancel"}


@dataclass(frozen=True)
class Rights:
    """A principal's role, app scope (None: every app) and the actions its role allows."""

    role: str
    apps: frozenset[str] | None
    actions: frozenset[str]
    known: bool = True  # False: the controller has no whoami; its 403s still say no

    def may(self, action: str, app: str | None = None) -> bool:
        """Would the controller allow `action` (on `app`)? The same rule as its authorize."""
        if action not in self.actions:
            return False
        return app is None or self.apps is None or app in self.apps

    def who(self) -> str:
        """The role, with its apps when it is limited to some: `viewer`, `developer of blog, shop`."""
        if self.apps is None:
            return self.role
        return f"{self.role} of {', '.join(sorted(self.apps)) or 'no app'}"

    def refusal(self, action: str, app: str) -> str:
        """The message of a greyed key: `your token may not deploy app web (viewer)`."""
        return f"your token may not {MUTATING.get(action, action)} app {safe(app)} ({safe(self.who())})"

    def refused_keys(self, app: str | None) -> set[str]:
        """The app screen's keys greyed for `app` (None: for the role, whatever the app)."""
        if self.may(OPERATE, app):
            return set()
        return set(MUTATING_KEYS)


EVERYTHING = Rights("admin", None, frozenset({READ, OPERATE, "administer"}), known=False)


def rights_of(whoami: dict[str, Any] | None) -> Rights:
    """The rights a whoami answer describes; everything when the controller has no whoami."""
    if not isinstance(whoami, dict):
        return EVERYTHING
    apps = whoami.get("apps")
    return Rights(
        role=str(whoami.get("role", "")),
        apps=frozenset(str(a) for a in apps) if isinstance(apps, list) else None,
        actions=frozenset(str(a) for a in whoami.get("actions") or []),
    )
