"""What the git user runs: `git-shell` (sshd's forced command) and `git-hook pre-receive` (the
hook in every app repo).

They run as the git user, without DOCKYARD_* settings: they get the data dir on their
command line and read `<data dir>/git/hook.json` (the controller's URL and the hook token,
readable by the git user only). Their output reaches the pusher as `remote:` lines. The
command lines are written into authorized_keys and the hooks: their names never change.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from controller.cli.client import error_detail, hook_client
from controller.cli.output import fail
from controller.domain.errors import InvalidInput
from controller.domain.git_refs import GitService, parse_ssh_command

ARROW = "-----> "
SUCCEEDED = "succeeded"


def _refuse(message: str) -> NoReturn:
    fail(message, prefix="dockyard")


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, readable=False),
    required=True,
    help="The controller's data dir.",
)


@click.command("git-shell", hidden=True)
@data_dir_option
@click.argument("key_name")
def git_shell(data_dir: Path, key_name: str) -> None:
    """sshd's forced command: run git-receive-pack or git-upload-pack on an app's repo, nothing else."""
    try:
        service, app = parse_ssh_command(os.environ.get("SSH_ORIGINAL_COMMAND"))
    except InvalidInput as exc:
        _refuse(str(exc))
    repo = data_dir / "git" / "repos" / f"{app}.git"
    pushing = service is GitService.RECEIVE_PACK
    if pushing or not (repo / "HEAD").is_file():
        # A push always asks: the controller hands out the ticket that tells the pre-receive hook's
        # deploy who pushed (this key). A fetch asks only for an app without a repo (yet).
        try:
            with hook_client(data_dir) as client:
                response = client.post(
                    f"/api/v1/git/apps/{app}/access",
                    json={"service": service.value, "key": key_name if pushing else None},
                )
        except httpx.TransportError as exc:
            _refuse(f"cannot reach the Dockyard controller: {exc}")
        if response.status_code != 200:
            _refuse(error_detail(response))
        repo = Path(response.json()["path"])
        ticket = response.json().get("ticket")
        if ticket:
            os.environ["DOCKYARD_PUSH_TICKET"] = ticket
    verb = "receive-pack" if pushing else "upload-pack"
    os.execvp("git", ["git", verb, str(repo)])  # noqa: S606 - fixed program, validated path


@click.group("git-hook", hidden=True)
def git_hook() -> None:
    """Hooks of the apps' bare repos."""


def _say(line: str) -> None:
    # stderr is line-buffered: each line reaches the pusher as it is written.
    print(line, file=sys.stderr, flush=True)


@git_hook.command("pre-receive")
@data_dir_option
@click.argument("app")
def pre_receive(data_dir: Path, app: str) -> None:
    """Deploy the pushed commit of the deploy branch; a failed deploy rejects the push."""
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    body = {
        "updates": [{"old": u[0], "new": u[1], "ref": u[2]} for u in updates if len(u) == 3],
        "ticket": os.environ.get("DOCKYARD_PUSH_TICKET"),
    }
    with hook_client(data_dir) as client:
        try:
            plan = client.post(f"/api/v1/git/apps/{app}/pushes", json=body)
            if plan.status_code != 200:
                _refuse(f"push refused: {error_detail(plan)}")
            for message in plan.json()["messages"]:
                _say(ARROW + message)
            update = plan.json()["deploy"]
            if update is None:
                return
            branch = update["ref"].removeprefix("refs/heads/")
            _say(f"{ARROW}Deploying {update['new'][:12]} ({branch}) to {app}")
            _deploy(client, app, update)
        except httpx.TransportError as exc:
            _refuse(f"push refused: lost the Dockyard controller: {exc}")


def _deploy(client: httpx.Client, app: str, update: dict[str, str]) -> None:
    # The controller reads the pushed commit from the repo itself: the pushed objects sit in
    # git's quarantine until this hook says yes, so it is told which quarantine dir is this push's.
    quarantine = os.environ.get("GIT_QUARANTINE_PATH")
    body = {
        **update,
        "ticket": os.environ.get("DOCKYARD_PUSH_TICKET"),
        "quarantine": os.path.basename(quarantine.rstrip("/")) if quarantine else None,
    }
    final: dict[str, Any] = {}
    with client.stream("POST", f"/api/v1/git/apps/{app}/deploys", json=body) as answer:
        if answer.status_code != 200:
            answer.read()
            _refuse(f"push refused: {error_detail(answer)}")
        for raw in answer.iter_lines():
            if not raw.strip():
                continue
            event = json.loads(raw)
            if "log" in event:
                _say(event["log"])
            elif "status" in event:
                final = event
    status = final.get("status", "lost")
    if status != SUCCEEDED:
        error = final.get("error") or "the controller stopped answering"
        _refuse(f"push rejected: the deploy {status}: {error}; {update['ref']} stays where it was")
    urls = final.get("urls") or []
    _say(
        f"=====> {app}: {' '.join(urls)}"
        if urls
        else f"=====> {app} has no domain: dockyard domains add {app} DOMAIN"
    )
