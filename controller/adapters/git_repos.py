"""Git repositories: the per-app bare repos users push to, and cached mirrors of source
repositories that webhooks deploy from (through GitPython, the only module that imports `git`).

GitPython is imported on first use (about 10 MB): a controller that never fetches a source
repository never loads it.
"""

import base64
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import git

from controller.domain.errors import InvalidInput
from controller.domain.git_records import FileOwner
from controller.domain.git_refs import (
    RefUpdate,
    SourceUnavailable,
    check_source_address,
    is_zero_sha,
    source_host_port,
    validate_branch_name,
    validate_commit_sha,
)
from controller.services.git_ports import FetchAuth

HOOK_MODE = 0o755
PRIVATE_MODE = 0o700
# What every app repo's config sets: pushes over smart HTTP, and a reflog of the branch.
REPO_SETTINGS = (("http.receivepack", "true"), ("core.logAllRefUpdates", "true"))
FETCH_TIMEOUT = 300.0
ARCHIVE_TIMEOUT = 600.0
_QUARANTINE_RE = re.compile(r"^tmp_objdir-incoming-[A-Za-z0-9_]{1,64}$")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}


class BareRepos:
    """`<root>/<app>.git`: bare repos with a pre-receive hook that runs `hook_command <app>`."""

    def __init__(self, root: Path, *, hook_command: Sequence[str], owner: FileOwner | None) -> None:
        self._root = root
        self._hook_command = list(hook_command)
        self._owner = owner

    def path(self, app: str) -> Path:
        return self._root / f"{app}.git"

    def exists(self, app: str) -> bool:
        return (self.path(app) / "HEAD").is_file()

    def ensure(self, app: str, *, branch: str) -> Path:
        """Create the repo, or bring an existing one's hook, HEAD and settings up to date."""
        validate_branch_name(branch)
        path = self.path(app)
        created = not self.exists(app)
        if created:
            subprocess.run(["git", "init", "--bare", "--quiet", str(path)], check=True, capture_output=True)
            path.chmod(PRIVATE_MODE)  # the git user's (and root's) only
        # `--file` and plain writes: root never runs git inside a repo another user owns.
        # At a restart the settings are usually there already: no git process per app then.
        if created or not _has_settings(path / "config", REPO_SETTINGS):
            for key, value in REPO_SETTINGS:
                subprocess.run(["git", "config", "--file", str(path / "config"), key, value], check=True)
        _replace_file(path / "HEAD", f"ref: refs/heads/{branch}\n", mode=0o644)
        self._write_hook(path / "hooks" / "pre-receive", [*self._hook_command, app])
        if self._owner is not None:
            if created:
                _chown_tree(path, self._owner)
            else:
                for owned in (path / "config", path / "HEAD", path / "hooks" / "pre-receive"):
                    os.chown(owned, self._owner.uid, self._owner.gid)
        return path

    def _write_hook(self, hook: Path, command: list[str]) -> None:
        script = (
            "#!/bin/sh\n"
            "# Written by Dockyard (rewritten at every controller start): deploys the pushed branch.\n"
            f"exec {shlex.join(command)}\n"
        )
        hook.parent.mkdir(exist_ok=True)
        _replace_file(hook, script, mode=HOOK_MODE)

    def delete(self, app: str) -> None:
        shutil.rmtree(self.path(app), ignore_errors=True)

    def archive_pushed(self, app: str, *, update: RefUpdate, quarantine: str | None) -> bytes:
        """A tar of the tree of `update.new` from the app's repo, while its push is in pre-receive.

        The pushed objects are still in git's quarantine (`objects/tmp_objdir-incoming-*`), which
        is read as the repo's object store with the repo's own objects as alternates, as git does
        for the hook. git runs as the git user, who owns the repo (root never runs git in it).

        Raises:
            InvalidInput: the quarantine is not one of this repo's, the ref is not at
                `update.old` now, or `update.new` is not a commit in the repo.
        """
        validate_commit_sha(update.old)
        validate_commit_sha(update.new)
        path = self.path(app)
        if not self.exists(app):
            raise InvalidInput(f"app {app!r} has no repository")
        env = _repo_env(path)
        if quarantine is not None:
            objects = path / "objects" / quarantine
            if not _QUARANTINE_RE.fullmatch(quarantine) or not stat.S_ISDIR(_lstat_mode(objects)):
                raise InvalidInput(f"{quarantine!r} is not a push in progress on {app}")
            env |= {
                "GIT_OBJECT_DIRECTORY": str(objects),
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(path / "objects"),
            }
        current = self._git(
            ["rev-parse", "--verify", "--quiet", f"{update.ref}^{{commit}}"], env, check=False
        )
        now = current.stdout.decode().strip() if current.returncode == 0 else None
        if now != (None if is_zero_sha(update.old) else update.old):
            raise InvalidInput(
                f"{update.ref} is at {(now or 'nothing')[:12]}, not {update.old[:12]}: "
                "not the push in progress"
            )
        kind = self._git(["cat-file", "-t", update.new], env, check=False)
        if kind.returncode != 0 or kind.stdout.strip() != b"commit":
            raise InvalidInput(f"{update.new[:12]} is not a commit in the repository of {app}")
        return self._git(["archive", "--format=tar", update.new], env, check=True).stdout

    def archive_branch(self, app: str, branch: str) -> tuple[str, bytes] | None:
        """The commit at the head of `branch` in the app's repo and a tar of its tree; None when
        the repo has no such branch (nothing was pushed to it)."""
        validate_branch_name(branch)
        if not self.exists(app):
            return None
        env = _repo_env(self.path(app))
        head = self._git(
            ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"], env, check=False
        )
        if head.returncode != 0:
            return None
        commit = validate_commit_sha(head.stdout.decode().strip())
        return commit, self._git(["archive", "--format=tar", commit], env, check=True).stdout

    def _git(
        self, args: list[str], env: dict[str, str], *, check: bool
    ) -> "subprocess.CompletedProcess[bytes]":
        result = subprocess.run(
            ["git", *args],
            env=env,
            cwd=env["GIT_DIR"],
            capture_output=True,
            check=False,
            timeout=ARCHIVE_TIMEOUT,
            user=self._owner.uid if self._owner else None,
            group=self._owner.gid if self._owner else None,
            extra_groups=[] if self._owner else None,
        )
        if check and result.returncode != 0:
            raise InvalidInput(f"git {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
        return result


class SourceMirrors:
    """`<root>/<app>.git`: bare mirrors of apps' source repositories, fetched on demand."""

    def __init__(self, root: Path, *, allowed_protocols: Sequence[str], allow_private: bool = False) -> None:
        self._root = root
        self._allowed_protocols = ":".join(allowed_protocols)
        self._allow_private = allow_private

    def fetch(self, app: str, *, url: str, branch: str, commit: str, auth: FetchAuth) -> None:
        """Make sure the mirror has `commit` (fetching `branch`, then the commit itself).

        Raises:
            SourceUnavailable: the repository cannot be fetched or has no such commit.
        """
        import git

        validate_commit_sha(commit)
        validate_branch_name(branch)
        path = self._root / f"{app}.git"
        repo = git.Repo(path) if (path / "HEAD").is_file() else git.Repo.init(path, bare=True, mkdir=True)
        try:
            if _has_commit(repo, commit):
                return
            address = self._resolve(url)
            with self._environment(url, auth, address) as env:
                for refspec in (f"+refs/heads/{branch}:refs/heads/{branch}", commit):
                    try:
                        repo.git.fetch(
                            "--no-tags",
                            "--quiet",
                            "--",
                            url,
                            refspec,
                            env=env,
                            kill_after_timeout=FETCH_TIMEOUT,
                        )
                    except git.GitCommandError as exc:
                        error = _summary(_redact(str(exc.stderr or exc), auth.token))
                        if refspec == commit:
                            raise SourceUnavailable(
                                f"cannot fetch {commit[:12]} from {url}: {error}"
                            ) from exc
                    if _has_commit(repo, commit):
                        return
            raise SourceUnavailable(f"{url} has no commit {commit} on branch {branch}")
        finally:
            repo.close()

    def fetch_head(self, app: str, *, url: str, branch: str, auth: FetchAuth) -> str:
        """Fetch `branch` into the mirror and return the commit at its head.

        Raises:
            SourceUnavailable: the repository cannot be fetched or has no such branch.
        """
        import git

        validate_branch_name(branch)
        path = self._root / f"{app}.git"
        repo = git.Repo(path) if (path / "HEAD").is_file() else git.Repo.init(path, bare=True, mkdir=True)
        try:
            address = self._resolve(url)
            with self._environment(url, auth, address) as env:
                try:
                    repo.git.fetch(
                        "--no-tags",
                        "--quiet",
                        "--",
                        url,
                        f"+refs/heads/{branch}:refs/heads/{branch}",
                        env=env,
                        kill_after_timeout=FETCH_TIMEOUT,
                    )
                except git.GitCommandError as exc:
                    error = _summary(_redact(str(exc.stderr or exc), auth.token))
                    raise SourceUnavailable(f"cannot fetch branch {branch} from {url}: {error}") from exc
            return validate_commit_sha(repo.git.rev_parse("--verify", f"refs/heads/{branch}^{{commit}}"))
        finally:
            repo.close()

    def _resolve(self, url: str) -> tuple[str, str, int] | None:
        """Resolve the URL's host now and check every address; (host, address, port) to pin.

        Checking only the literal would let a name that resolves to 127.0.0.1 or 169.254.169.254
        through; pinning what was checked keeps git from resolving it again to something else.

        Raises:
            SourceUnavailable: the host does not resolve, or one of its addresses is refused.
        """
        target = source_host_port(url)
        if target is None:
            return None
        host, port = target
        scheme = url.partition("://")[0].lower() if "://" in url else "ssh"
        port = port or DEFAULT_PORTS.get(scheme, 443)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise SourceUnavailable(f"cannot resolve the repository host {host!r}: {exc}") from None
        addresses = sorted({str(info[4][0]) for info in infos})
        if not addresses:
            raise SourceUnavailable(f"the repository host {host!r} has no address")
        for address in addresses:
            try:
                check_source_address(address, allow_private=self._allow_private)
            except InvalidInput as exc:
                raise SourceUnavailable(f"refusing to fetch from {host!r}: {exc}") from None
        return host, addresses[0], port

    @contextmanager
    def _environment(
        self, url: str, auth: FetchAuth, pinned: tuple[str, str, int] | None = None
    ) -> Iterator[dict[str, str]]:
        """git's environment for one fetch: never a prompt, only allowed transports, credentials.

        The token goes in as an HTTP header scoped to the repository's origin and the deploy
        key as a 0600 file removed afterwards: neither ever appears on a command line. A pinned
        (host, address, port) makes git connect to that checked address only.
        """
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": self._allowed_protocols,
            "GIT_ASKPASS": "true",
        }
        config: list[tuple[str, str]] = []
        if auth.token:
            scheme, _, rest = url.partition("://")
            origin = f"{scheme}://{rest.split('/', 1)[0]}/"
            basic = base64.b64encode(f"{auth.username or 'x-access-token'}:{auth.token}".encode()).decode()
            config.append((f"http.{origin}.extraHeader", f"Authorization: Basic {basic}"))
        if pinned is not None and url.lower().startswith(("https://", "http://")):
            host, address, port = pinned
            config.append(
                ("http.curloptResolve", f"{host}:{port}:{f'[{address}]' if ':' in address else address}")
            )
        if config:
            env["GIT_CONFIG_COUNT"] = str(len(config))
            for index, (key, value) in enumerate(config):
                env[f"GIT_CONFIG_KEY_{index}"] = key
                env[f"GIT_CONFIG_VALUE_{index}"] = value
        ssh_pin = ["-o", f"HostName={pinned[1]}"] if pinned is not None and _is_ssh(url) else []
        if not auth.ssh_private_key:
            if ssh_pin:
                env["GIT_SSH_COMMAND"] = shlex.join(["ssh", *ssh_pin, "-o", "BatchMode=yes"])
            yield env
            return
        self._root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._root, prefix=".ssh-") as directory:
            key_file = Path(directory) / "deploy_key"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(auth.ssh_private_key.rstrip("\n") + "\n")
            known_hosts = self._root / "known_hosts"
            env["GIT_SSH_COMMAND"] = shlex.join(
                [
                    "ssh",
                    "-i",
                    str(key_file),
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "BatchMode=yes",
                    # Trust on first use, then pinned in the mirrors' own known_hosts.
                    "-o",
                    "StrictHostKeyChecking=accept-new",
                    "-o",
                    f"UserKnownHostsFile={known_hosts}",
                    *ssh_pin,
                ]
            )
            yield env

    def archive(self, app: str, commit: str) -> bytes:
        """A tar of the tree at `commit` (which `fetch` brought in)."""
        import git

        validate_commit_sha(commit)
        repo = git.Repo(self._root / f"{app}.git")
        try:
            data: bytes = repo.git.archive("--format=tar", commit, stdout_as_string=False)
            return data
        finally:
            repo.close()

    def is_ancestor(self, app: str, older: str, newer: str) -> bool | None:
        """Whether `older` is an ancestor of `newer` in the mirror; None when either is not there."""
        import git

        validate_commit_sha(older)
        validate_commit_sha(newer)
        path = self._root / f"{app}.git"
        if not (path / "HEAD").is_file():
            return None
        repo = git.Repo(path)
        try:
            repo.git.merge_base("--is-ancestor", older, newer)
        except git.GitCommandError as exc:
            return False if exc.status == 1 else None  # 128: a commit is not in the mirror
        finally:
            repo.close()
        return True

    def delete(self, app: str) -> None:
        shutil.rmtree(self._root / f"{app}.git", ignore_errors=True)


def _repo_env(path: Path) -> dict[str, str]:
    """git's environment in an app's repo (git runs as its owner; no system or user config)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_DIR": str(path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(path),
    }


def _has_settings(config: Path, settings: tuple[tuple[str, str], ...]) -> bool:
    """Whether git's config file already sets each `section.key` to its value (as `git config` writes)."""
    try:
        if not stat.S_ISREG(config.lstat().st_mode):
            return False
        text = config.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    lines = {line.strip().lower() for line in text.splitlines()}
    return all(f"{key.rsplit('.', 1)[1]} = {value}".lower() in lines for key, value in settings)


def _replace_file(path: Path, text: str, *, mode: int) -> None:
    """Write `text` atomically, unless the file already holds exactly it with `mode`."""
    try:
        current = path.lstat()  # never follow a link or read a FIFO the git user may have put there
        if stat.S_ISREG(current.st_mode) and (current.st_mode & 0o7777) == mode and path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), mode)
    os.replace(temporary, path)


def _chown_tree(path: Path, owner: FileOwner) -> None:
    for directory, subdirectories, files in os.walk(path):
        os.chown(directory, owner.uid, owner.gid, follow_symlinks=False)
        for name in subdirectories + files:
            os.chown(os.path.join(directory, name), owner.uid, owner.gid, follow_symlinks=False)


def _has_commit(repo: "git.Repo", commit: str) -> bool:
    import git

    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _lstat_mode(path: Path) -> int:
    try:
        return path.lstat().st_mode
    except OSError:
        return 0


def _is_ssh(url: str) -> bool:
    return url.lower().startswith("ssh://") or "://" not in url


def _summary(stderr: str) -> str:
    """git's complaint in one line: its `fatal:`/`error:` lines, else its last line."""
    lines = [line.strip().removeprefix("stderr:").strip().strip("'").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    chosen = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines[-1:]
    return "; ".join(chosen) or "git fetch failed"


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "****") if secret else text
