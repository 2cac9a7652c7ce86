"""`dockyard service` without a controller: the systemd dispatch (a recording `systemctl` on
PATH, as there is no systemd here) and reading the env file. The pid-file mode runs against
a real controller in tests/test_service.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli.service import PidFileService, env_file_value
from tests.service_support import service_command

DOCKYARD = str(Path(sys.executable).parent / "dockyard")


@pytest.mark.parametrize(("verb", "expected"), [("start", "start"), ("stop", "stop"), ("restart", "restart")])
def test_with_systemd_the_verbs_go_to_systemctl(tmp_path: Path, verb: str, expected: str) -> None:
    record = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >>{record}\nexit 4\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}

    result = subprocess.run(
        [DOCKYARD, "service", verb, "--manager", "systemd"], env=env, capture_output=True, text=True
    )

    assert result.returncode == 4  # systemctl's status is passed on
    assert record.read_text() == f"{expected} dockyard.service\n"


def test_status_with_systemd_shows_the_unit(tmp_path: Path) -> None:
    record = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >>{record}\nexit 3\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "DOCKYARD_SERVICE_MANAGER": "systemd"}
    result = subprocess.run([DOCKYARD, "service", "status"], env=env, capture_output=True, text=True)
    assert result.returncode == 3
    assert record.read_text() == "status --no-pager dockyard.service\n"


def test_env_file_values_and_the_health_url(tmp_path: Path) -> None:
    env_file = tmp_path / "dockyard.env"
    env_file.write_text(
        '# comment\nDOCKYARD_LISTEN=127.0.0.1:8000\nexport DOCKYARD_LISTEN="0.0.0.0:9001"\nOTHER=x\n'
    )
    assert env_file_value(env_file, "DOCKYARD_LISTEN") == "0.0.0.0:9001"
    assert env_file_value(env_file, "MISSING") is None
    assert env_file_value(tmp_path / "absent", "DOCKYARD_LISTEN") is None
    service = PidFileService(
        pid_file=tmp_path / "pid", env_file=env_file, log_file=tmp_path / "log", executable=Path("/x")
    )
    assert service.health_url() == "http://127.0.0.1:9001/api/v1/health"
    env_file.write_text("DOCKYARD_DATA_DIR=/srv\n")
    assert service.health_url() == "http://127.0.0.1:8000/api/v1/health"
    env_file.write_text("DOCKYARD_LISTEN=10.1.2.3:7000\n")
    assert service.health_url() == "http://10.1.2.3:7000/api/v1/health"


def test_start_without_an_env_file_says_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nope.env"
    result = subprocess.run(
        service_command(
            DOCKYARD, "start", pid_file=tmp_path / "pid", env_file=missing, log_file=tmp_path / "log"
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert f"no settings file {missing}" in result.stderr
    assert not (tmp_path / "pid").exists()


def test_a_pid_file_that_cannot_be_written_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    env_file = tmp_path / "dockyard.env"
    env_file.write_text("DOCKYARD_LISTEN=127.0.0.1:1\n")
    log_file = tmp_path / "log"
    result = subprocess.run(
        service_command(
            DOCKYARD,
            "start",
            pid_file=Path("/proc/no-such-dir/dockyard.pid"),
            env_file=env_file,
            log_file=log_file,
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: service start: No such file or directory (/proc/no-such-dir)")
    assert "Traceback" not in result.stderr
    assert not log_file.exists()  # nothing was started
