"""`dockyard git-shell` (sshd's forced command), run without sshd: what it refuses and what it runs."""

import json
import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from controller.cli import git_user, main


def run_shell(data_dir: Path, command: str | None) -> tuple[int, str]:
    env = {"SSH_ORIGINAL_COMMAND": command} if command is not None else {}
    result = CliRunner().invoke(main, ["git-shell", "--data-dir", str(data_dir), "laptop"], env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "command",
    [
        None,
        "",
        "bash",
        "git-receive-pack '../../etc.git'",
        "git-receive-pack 'web.git'; id",
        "git-receive-pack 'web.git'\nid",
    ],
)
def test_refusals_never_run_anything(
    tmp_path: Path, command: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "execvp", lambda *args: pytest.fail(f"ran {args}"))
    code, output = run_shell(tmp_path, command)
    assert code == 1 and output.startswith("dockyard: ")


def test_runs_git_on_the_app_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A push asks the controller for its ticket (naming the key sshd authenticated); a fetch does not."""
    repo = tmp_path / "git" / "repos" / "web.git"
    repo.mkdir(parents=True)
    (repo / "HEAD").write_text("ref: refs/heads/main\n")
    asked: list[dict[str, object]] = []

    def controller(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return httpx.Response(200, json={"path": str(repo), "ticket": "t" * 43})

    monkeypatch.setattr(
        git_user,
        "hook_client",
        lambda data_dir: httpx.Client(
            base_url="http://controller", transport=httpx.MockTransport(controller)
        ),
    )
    ran: list[tuple[str, list[str], str | None]] = []
    monkeypatch.setenv("DOCKYARD_PUSH_TICKET", "before")  # git-shell sets it for the hook; restored after
    monkeypatch.setattr(
        os,
        "execvp",
        lambda program, argv: ran.append((program, argv, os.environ.get("DOCKYARD_PUSH_TICKET"))),
    )
    assert run_shell(tmp_path, "git-receive-pack '/web.git'")[0] == 0
    monkeypatch.setenv("DOCKYARD_PUSH_TICKET", "")
    assert run_shell(tmp_path, 'git-upload-pack "web.git"')[0] == 0
    assert ran == [
        ("git", ["git", "receive-pack", str(repo)], "t" * 43),
        ("git", ["git", "upload-pack", str(repo)], ""),
    ]
    assert asked == [{"service": "git-receive-pack", "key": "laptop"}]


def test_an_unknown_app_without_a_controller_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "execvp", lambda *args: pytest.fail(f"ran {args}"))
    code, output = run_shell(tmp_path, "git-receive-pack 'unknown.git'")
    assert code == 1 and "cannot read the controller's address" in output
