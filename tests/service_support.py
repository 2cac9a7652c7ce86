"""Helpers of the tests that run the controller as a service (tests/test_service.py and
tests/test_install_sh.py): process liveness and the `dockyard service` command line."""

from pathlib import Path


def alive(pid: int) -> bool:
    """Not exited; a zombie counts as exited (PID 1 here may be slow to reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def service_command(dockyard: str, *args: str, pid_file: Path, env_file: Path, log_file: Path) -> list[str]:
    """`dockyard service ARGS` in pid-file mode with these paths (what install.sh runs)."""
    return [
        dockyard,
        "service",
        *args,
        "--manager",
        "pidfile",
        "--pid-file",
        str(pid_file),
        "--env-file",
        str(env_file),
        "--log-file",
        str(log_file),
    ]
