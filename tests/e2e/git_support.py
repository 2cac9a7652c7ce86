"""Helpers of the git e2e tests: a data dir the git user can traverse, a private sshd on a loopback
port, a git client with its own HOME, and pushes whose output lines are timestamped.

Needs what scripts/setup-git-testbed.sh prepares: openssh-server, the git user `dockyard`
(unlocked), /run/sshd, and a `dockyard` executable that user can run.
"""

import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.e2e.conftest import DOCKYARD, Controller, free_port

GIT_USER = "dockyard"
SSHD = "/usr/sbin/sshd"
SETUP_HINT = "run scripts/setup-git-testbed.sh (as root) first"


def git_user_can_run(executable: str) -> bool:
    result = subprocess.run(
        ["runuser", "-u", GIT_USER, "--", executable, "--version"], capture_output=True, timeout=60
    )
    return result.returncode == 0


def git_executable() -> str:
    """A `dockyard` the git user can run: the project's own, or the testbed's copy."""
    candidates = [
        os.environ.get("DOCKYARD_TEST_GIT_EXECUTABLE", ""),
        DOCKYARD,
        "/tmp/dockyard-git-testbed/bin/dockyard",
    ]
    for candidate in candidates:
        if candidate and os.path.exists(candidate) and git_user_can_run(candidate):
            return candidate
    pytest.fail(f"the git user cannot run any dockyard executable: {SETUP_HINT}")


def require_git_testbed() -> None:
    require_root("the git push tests run as root (sshd, the git user)")
    missing = [
        what
        for what, ok in (
            (f"user {GIT_USER}", subprocess.run(["id", GIT_USER], capture_output=True).returncode == 0),
            (SSHD, os.path.exists(SSHD)),
            ("/run/sshd", os.path.isdir("/run/sshd")),
        )
        if not ok
    ]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {SETUP_HINT}")


@contextmanager
def traversable_dir(prefix: str) -> Iterator[Path]:
    """A temp dir outside pytest's 0700 tree, traversable (not listable) by the git user."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def git_controller(base: Path, **extra_env: str) -> Controller:
    """A controller whose git side works for the git user and the test's sshd."""
    return Controller(
        data_dir=base / "data",
        api_port=free_port(),
        http_port=free_port(),
        log_path=base / "controller.log",
        extra_env={
            "DOCKYARD_GIT_EXECUTABLE": git_executable(),
            "DOCKYARD_GIT_AUTHORIZED_KEYS": str(base / "ssh" / "authorized_keys"),
            "DOCKYARD_GIT_SSH_HOST": "127.0.0.1",
            **extra_env,
        },
    )


@dataclass
class SshServer:
    """A private sshd on 127.0.0.1 that reads the controller's authorized_keys file."""

    directory: Path
    authorized_keys: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        host_key = self.directory / "host_key"
        if not host_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        config = self.directory / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {host_key}\n"
            f"PidFile {self.directory / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            f"AllowUsers {GIT_USER}\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            # The keys file sits under /tmp (world-writable): production's is in the git user's home.
            "StrictModes no\n"
            "LogLevel VERBOSE\n"
        )
        log = (self.directory / "sshd.log").open("ab")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.directory / 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def log(self) -> str:
        return (self.directory / "sshd.log").read_text(errors="replace")


@dataclass
class GitClient:
    """The real git client with its own HOME, identity and ssh key."""

    home: Path
    ssh_port: int = 0

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.key = self.home / "id_ed25519"
        if not self.key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f", str(self.key)],
                check=True,
            )
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n"
        )

    @property
    def public_key(self) -> Path:
        return Path(f"{self.key}.pub")

    @property
    def env(self) -> dict[str, str]:
        ssh = (
            f"ssh -p {self.ssh_port} -i {self.key} -o IdentitiesOnly=yes -o BatchMode=yes "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        )
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "GIT_SSH_COMMAND": ssh,
            "GIT_TERMINAL_PROMPT": "0",
            "LANG": "C",
        }

    def ssh_remote(self, app: str) -> str:
        return f"ssh://{GIT_USER}@127.0.0.1:{self.ssh_port}/{app}.git"

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def ssh(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ssh to the git user with `command` (empty: an interactive login attempt)."""
        argv = [*self.env["GIT_SSH_COMMAND"].split(), f"{GIT_USER}@127.0.0.1", *command]
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )

    def commit_all(self, repo: Path, message: str) -> str:
        if not (repo / ".git").exists():
            self.run("init", "-q", cwd=repo)
        self.run("add", "-A", cwd=repo)
        self.run("commit", "-qm", message, cwd=repo)
        return self.run("rev-parse", "HEAD", cwd=repo).stdout.strip()

    def timed_push(self, repo: Path, *args: str) -> "TimedPush":
        """`git push ARGS`, recording the wall-clock time each output line arrived."""
        process = subprocess.Popen(
            ["git", "push", "--progress", *args],
            cwd=repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        lines: list[tuple[float, str]] = []
        pending = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            now = time.time()
            pending += chunk
            *complete, pending = pending.replace(b"\r", b"\n").split(b"\n")
            lines += [(now, line.decode(errors="replace")) for line in complete if line.strip()]
        if pending.strip():
            lines.append((time.time(), pending.decode(errors="replace")))
        return TimedPush(returncode=process.wait(30), lines=lines)


@dataclass
class TimedPush:
    returncode: int
    lines: list[tuple[float, str]]

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first_remote_line_at(self) -> float:
        return next(at for at, line in self.lines if line.startswith("remote:") and line[7:].strip())
