"""Validation of every untrusted name: app names, domains, env keys and values, ports.

One function per kind of name; each returns the normalised value or raises InvalidInput
with a message that says what is wrong. Nothing here touches the filesystem or network.
"""

import re

from controller.domain.errors import InvalidInput

APP_NAME_MAX = 30
RESERVED_APP_NAMES = frozenset(
    {
        "api",
        "admin",
        "dockyard",
        "git",
        "hooks",
        "static",
        "www",
        "default",
        "localhost",
        "root",
        "nginx",
        "proxy",
        "controller",
        "system",
    }
)
# The proxy site that serves the GUI on DOCKYARD_DASHBOARD_DOMAIN: a reserved app name, so
# its upstream, access log and certificate directory never clash with an app's.
DASHBOARD_SITE = "dockyard"
_APP_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?$")
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LABEL_RE = re.compile(DNS_LABEL)
_HOSTNAME_RE = re.compile(rf"{DNS_LABEL}(?:\.{DNS_LABEL})*")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
DOMAIN_MAX = 253
ENV_VALUE_MAX = 32 * 1024


def validate_app_name(name: str) -> str:
    """Return `name` if it is a valid app name (a DNS label of 1-30 chars), else raise."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("app name must not be empty")
    if len(name) > APP_NAME_MAX:
        raise InvalidInput(f"app name is longer than {APP_NAME_MAX} characters")
    if not _APP_NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid app name {name!r}: use lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    if name in RESERVED_APP_NAMES:
        raise InvalidInput(f"app name {name!r} is reserved")
    return name


def validate_site_name(name: str) -> str:
    """An app name, or the reserved name of the controller's own proxy site (the dashboard)."""
    return name if name == DASHBOARD_SITE else validate_app_name(name)


def is_hostname(name: object, *, min_labels: int = 1) -> bool:
    """Whether `name` is a lowercase hostname of `min_labels` or more DNS labels, at most 253 characters.

    The check every layer that writes a name into a config or a request repeats, on names
    `validate_domain` already accepted: letters, digits, hyphens and dots only.
    """
    return (
        isinstance(name, str)
        and len(name) <= DOMAIN_MAX
        and _HOSTNAME_RE.fullmatch(name) is not None
        and name.count(".") + 1 >= min_labels
    )


def validate_domain(domain: str) -> str:
    """Return the lowercased hostname if it is a valid fully qualified name, else raise.

    Only letters, digits, hyphens and dots pass, so a value can never carry nginx syntax
    (`;`, `{`, spaces, newlines) or a wildcard.
    """
    if not isinstance(domain, str) or not domain:
        raise InvalidInput("domain must not be empty")
    lowered = domain.lower()
    if lowered.endswith("."):
        lowered = lowered[:-1]
    if len(lowered) > DOMAIN_MAX:
        raise InvalidInput(f"domain is longer than {DOMAIN_MAX} characters")
    labels = lowered.split(".")
    if len(labels) < 2:
        raise InvalidInput(f"invalid domain {domain!r}: a domain needs at least two labels")
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            raise InvalidInput(
                f"invalid domain {domain!r}: each label is 1-63 letters, digits or hyphens, "
                "not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        raise InvalidInput(f"invalid domain {domain!r}: the last label cannot be numeric")
    return lowered


def validate_env_key(key: str) -> str:
    """Return `key` if it is a valid environment variable name, else raise."""
    if not isinstance(key, str) or not _ENV_KEY_RE.fullmatch(key):
        raise InvalidInput(
            f"invalid config key {key!r}: use letters, digits and underscores, not starting with a digit"
        )
    return key


def validate_env_value(key: str, value: str) -> str:
    """Return `value` if it can be passed to a container environment, else raise."""
    if not isinstance(value, str):
        raise InvalidInput(f"config value of {key} must be a string")
    if "\x00" in value:
        raise InvalidInput(f"config value of {key} contains a NUL byte")
    if len(value) > ENV_VALUE_MAX:
        raise InvalidInput(f"config value of {key} is longer than {ENV_VALUE_MAX} bytes")
    return value


def validate_process_count(process: str, count: int, *, maximum: int = 50) -> int:
    """Return `count` if it is a sane number of containers for `process`, else raise."""
    if process != "web":
        raise InvalidInput(f"unknown process type {process!r}: only 'web' is supported")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= maximum:
        raise InvalidInput(f"invalid count for {process}: must be 0-{maximum}")
    return count
