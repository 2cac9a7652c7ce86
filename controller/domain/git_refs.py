"""Git names and commands from untrusted sources: refs, shas, ssh commands, pushed ref updates,
repository URLs and the remotes users are shown. Pure: no git, no filesystem.
"""

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit, urlunsplit

from controller.domain.errors import DockyardError, ErrorKind, InvalidInput
from controller.domain.names import validate_app_name

ZERO_SHA = "0" * 40
DEFAULT_BRANCH = "main"
BRANCH_MAX = 200
HEADS = "refs/heads/"
TAGS = "refs/tags/"
REPO_URL_MAX = 2000
MAX_PORT = 65535
PRIVATE_SOURCES_HINT = "loopback, link-local and private sources need DOCKYARD_GIT_ALLOW_PRIVATE_SOURCES=true"
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# `git check-ref-format` rules, and a little stricter: no shell or nginx syntax either.
_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/+-]{1,200}$")
_SSH_COMMAND_RE = re.compile(
    r"^(?P<service>git-receive-pack|git-upload-pack) "
    r"(?P<quote>['\"]?)/?(?P<app>[a-z0-9-]{1,30})\.git(?P=quote)$"
)
_SCP_LIKE_RE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[A-Za-z0-9._~/-]+)$")
_LOCAL_SCHEMES = frozenset({"file", "git", "http"})
_REMOTE_SCHEMES = frozenset({"https", "ssh"})


class SourceUnavailable(DockyardError):
    """A source repository could not be fetched, or lacks the commit asked for."""

    kind = ErrorKind.UPSTREAM_FAILED


class GitService(StrEnum):
    """The two git programs a remote may run on a Dockyard repository."""

    RECEIVE_PACK = "git-receive-pack"
    UPLOAD_PACK = "git-upload-pack"


@dataclass(frozen=True)
class RefUpdate:
    """One line a pre-receive hook reads: `<old sha> <new sha> <ref name>`."""

    old: str
    new: str
    ref: str

    @property
    def branch(self) -> str | None:
        return branch_of(self.ref)

    @property
    def deletes(self) -> bool:
        return is_zero_sha(self.new)


def is_zero_sha(sha: str) -> bool:
    return bool(sha) and set(sha) == {"0"}


def validate_commit_sha(sha: str) -> str:
    """Return `sha` if it is a full lowercase hex object name (SHA-1 or SHA-256), else raise."""
    if not isinstance(sha, str) or not _SHA_RE.fullmatch(sha):
        raise InvalidInput(f"invalid commit id {sha!r}: expected 40 or 64 lowercase hex digits")
    return sha


def validate_branch_name(name: str) -> str:
    """Return `name` if it is a branch name git accepts and is safe anywhere, else raise."""
    if not isinstance(name, str) or not _BRANCH_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid branch name {name!r}: use letters, digits and . _ / + - (at most {BRANCH_MAX})"
        )
    parts = name.split("/")
    if (
        name.startswith("-")
        or ".." in name
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
        or name.endswith(".")
        or name == "HEAD"
    ):
        raise InvalidInput(f"invalid branch name {name!r}: git does not allow it")
    return name


def branch_of(ref: str) -> str | None:
    """The branch a full ref names (`refs/heads/x` -> `x`); None for tags and anything else."""
    if not ref.startswith(HEADS):
        return None
    try:
        return validate_branch_name(ref[len(HEADS) :])
    except InvalidInput:
        return None


def parse_ref_updates(text: str) -> list[RefUpdate]:
    """The ref updates of a push, as git writes them to a pre-receive hook's stdin."""
    updates = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            raise InvalidInput(f"malformed ref update line {line!r}")
        old, new, ref = fields
        validate_commit_sha(old)
        validate_commit_sha(new)
        if not ref.startswith("refs/") or any(c in ref for c in "\\:?*[~^") or ".." in ref:
            raise InvalidInput(f"malformed ref name {ref!r}")
        updates.append(RefUpdate(old=old, new=new, ref=ref))
    return updates


def parse_ssh_command(command: str | None) -> tuple[GitService, str]:
    """Check the command an ssh client asked for (`SSH_ORIGINAL_COMMAND`) and name its app.

    Only `git-receive-pack '<app>.git'` and `git-upload-pack '<app>.git'` pass, with or
    without a leading `/` and with single, double or no quotes.

    Raises:
        InvalidInput: anything else (no command, a shell, another path, `;`, newlines).
    """
    if not command:
        raise InvalidInput("this account only runs git push and git fetch; interactive logins are refused")
    match = _SSH_COMMAND_RE.fullmatch(command)
    if match is None:
        shown = command if len(command) <= 80 and command.isprintable() else repr(command[:80])
        raise InvalidInput(f"refused {shown}: only git-receive-pack/git-upload-pack '<app>.git' are allowed")
    return GitService(match["service"]), validate_app_name(match["app"])


@dataclass(frozen=True)
class RepoUrl:
    """A source repository's URL with any credentials split off.

    `url` never contains a password: the token is kept apart (stored encrypted) and handed
    to git through its environment, never on a command line.
    """

    url: str
    username: str | None = None
    token: str | None = None

    @property
    def is_ssh(self) -> bool:
        return self.url.startswith("ssh://") or _SCP_LIKE_RE.fullmatch(self.url) is not None


def validate_repo_url(url: str, *, allow_local: bool, allow_private: bool = False) -> RepoUrl:
    """Check a source repository URL and split off its credentials.

    https:// (optionally `https://user:token@host/...`), ssh:// and `user@host:path`
    always pass; file://, git:// and http:// only when local sources are allowed.
    Transports that run commands (`ext::`, `fd::`), options (`-...`, also as the user or
    host), control characters and ports outside 1-65535 never pass; loopback, link-local,
    private and other non-public addresses only with `allow_private` (the literal is checked
    here, the resolved addresses again at every fetch).
    """
    if not isinstance(url, str) or not url or len(url) > REPO_URL_MAX:
        raise InvalidInput("the repository URL must be 1-2000 characters")
    if not url.isprintable() or any(c.isspace() for c in url) or url.startswith("-"):
        raise InvalidInput("the repository URL must not contain spaces or control characters")
    scp = _SCP_LIKE_RE.fullmatch(url)
    if scp:
        if scp["user"].startswith("-"):
            raise InvalidInput(f"the repository URL {url!r} has a user name starting with '-'")
        check_source_host(scp["host"], allow_private=allow_private)
        return RepoUrl(url=url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6] literal
        raise InvalidInput(f"the repository URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    allowed = _REMOTE_SCHEMES | (_LOCAL_SCHEMES if allow_local else frozenset())
    if scheme not in allowed:
        local = " (file://, git:// and http:// need DOCKYARD_GIT_ALLOW_LOCAL_SOURCES=true)"
        raise InvalidInput(
            f"unsupported repository URL {urlunsplit(parts._replace(netloc=parts.hostname or ''))!r}: "
            f"use https://, ssh:// or user@host:path{'' if allow_local else local}"
        )
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise InvalidInput("a file:// repository URL needs an absolute path: file:///path/to/repo.git")
        return RepoUrl(url=urlunsplit((scheme, "", parts.path, parts.query, "")))
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:  # a port that is not a number, or out of range; a bad [IPv6] literal
        raise InvalidInput(f"the repository URL {_without_password(parts)!r} is malformed: {exc}") from None
    if not host:
        raise InvalidInput(f"the repository URL {_without_password(parts)!r} has no host")
    if port is not None and not 1 <= port <= MAX_PORT:
        raise InvalidInput(f"the repository URL's port {port} is not in 1-{MAX_PORT}")
    check_source_host(host, allow_private=allow_private)
    username = parts.username
    token = parts.password
    if token is not None and scheme not in ("https", "http"):
        raise InvalidInput("only https:// repository URLs may carry a token")
    if username is not None and username.startswith("-"):
        raise InvalidInput("the repository URL has a user name starting with '-'")
    netloc = (f"{username}@" if username and token is None else "") + (f"[{host}]" if ":" in host else host)
    if port is not None:
        netloc += f":{port}"
    clean = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    return RepoUrl(url=clean, username=username if token is not None else None, token=token)


def _without_password(parts: SplitResult) -> str:
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def source_host_port(url: str) -> tuple[str, int | None] | None:
    """The host (and port) git will connect to for a checked repository URL; None for file://."""
    scp = _SCP_LIKE_RE.fullmatch(url)
    if scp:
        return scp["host"], None
    parts = urlsplit(url)
    if parts.scheme.lower() == "file" or not parts.hostname:
        return None
    return parts.hostname, parts.port


def check_source_host(host: str, *, allow_private: bool) -> str:
    """Refuse a host name that is an option, or a literal address that is not public.

    Names are checked again once resolved (`check_source_address`) at every fetch.
    """
    if not host or host.startswith("-") or host.startswith("."):
        raise InvalidInput(f"invalid repository host {host!r}")
    name = host.rstrip(".").lower()
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise InvalidInput(f"repository host {host!r} is this machine: {PRIVATE_SOURCES_HINT}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host  # a name
    return check_source_address(host, allow_private=allow_private)


def check_source_address(address: str, *, allow_private: bool) -> str:
    """Refuse an address a source may not be fetched from: loopback, link-local, private, etc.

    Everything that is not a public unicast address counts as private here (also carrier-grade
    NAT, documentation and reserved ranges, and IPv4 addresses mapped into IPv6).
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise InvalidInput(f"invalid address {address!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        raise InvalidInput(f"repository address {address} is not a host")
    if not allow_private and not ip.is_global:
        raise InvalidInput(f"repository address {address} is not public: {PRIVATE_SOURCES_HINT}")
    return address


def ssh_remote(*, user: str, host: str, port: int, app: str) -> str:
    """The ssh remote users add: `ssh://user@host[:port]/<app>.git`."""
    return f"ssh://{user}@{host}{'' if port == 22 else f':{port}'}/{app}.git"


def http_remote(*, base_url: str, app: str) -> str:
    """The smart-HTTP remote users add: `<base url>/git/<app>.git`."""
    return f"{base_url.rstrip('/')}/git/{app}.git"
