"""`dockyard keys`, `dockyard apps source`, and what the git user runs: `git-shell` (sshd's forced
command) and `git-hook pre-receive` (the hook in every app repo).

git-shell and the hook run as the git user, without DOCKYARD_* settings: they get the data
dir on their command line and read `<data dir>/git/hook.json` (the controller's URL and the
hook token, readable by the git user only). Their output reaches the pusher as `remote:` lines.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from controller.cli_client import client_of, print_json
from controller.domain.errors import InvalidInput
from controller.domain.git_refs import GitService, parse_ssh_command

FAIL = " !     "
ARROW = "-----> "
SUCCEEDED = "succeeded"


# -- dockyard keys ----------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """SSH keys that may `git push` (as ssh://dockyard@HOST/<app>.git)."""


@keys.command("add")
@click.argument("name")
@click.argument("key")
@click.pass_context
def keys_add(ctx: click.Context, name: str, key: str) -> None:
    """Allow KEY to push: the key text, a .pub file, or - for stdin."""
    if key == "-":
        text = sys.stdin.read()
    elif os.path.isfile(key):
        text = Path(key).read_text()
    else:
        text = key
    added = client_of(ctx).request("POST", "/keys", json={"name": name, "public_key": text})
    click.echo(f"added {added['name']} {added['key_type']} {added['fingerprint']}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the SSH keys that may push, with their fingerprints."""
    items = client_of(ctx).request("GET", "/keys")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo("no SSH keys yet: dockyard keys add NAME ~/.ssh/id_ed25519.pub")
        return
    click.echo(f"{'NAME':<24} {'TYPE':<12} FINGERPRINT")
    for item in items:
        click.echo(f"{item['name']:<24} {item['key_type']:<12} {item['fingerprint']}")


@keys.command("remove")
@click.argument("name")
@click.pass_context
def keys_remove(ctx: click.Context, name: str) -> None:
    """Stop the key NAME from pushing."""
    client_of(ctx).request("DELETE", f"/keys/{name}")
    click.echo(f"removed {name}")


# -- dockyard apps source / apps info ----------------------------------------------------------


@click.command("source")
@click.argument("name")
@click.option("--repo", "repo_url", help="https://[user:token@]host/path, ssh://... or user@host:path")
@click.option("--branch", help="The branch that deploys (default main).")
@click.option("--token", help="Token for an https repository (stored encrypted).")
@click.option("--new-deploy-key", is_flag=True, help="Generate a new SSH deploy key.")
@click.option("--new-webhook-secret", is_flag=True, help="Generate a new webhook secret.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def apps_source(
    ctx: click.Context,
    name: str,
    repo_url: str | None,
    branch: str | None,
    token: str | None,
    new_deploy_key: bool,
    new_webhook_secret: bool,
    as_json: bool,
) -> None:
    """Set where webhooks deploy NAME from, and which branch deploys (push or webhook)."""
    body = {
        "repo_url": repo_url,
        "branch": branch,
        "token": token,
        "new_deploy_key": new_deploy_key,
        "new_webhook_secret": new_webhook_secret,
    }
    info = client_of(ctx).request("PUT", f"/apps/{name}/source", json=body)
    if as_json:
        print_json(info)
        return
    for line in git_info_lines(info):
        click.echo(line)
    if info["deploy_key_public"]:
        click.echo("Add the deploy key (read access) to the repository at your git host.")


def fetch_git_info(ctx: click.Context, name: str) -> dict[str, Any]:
    info: dict[str, Any] = client_of(ctx).request("GET", f"/apps/{name}/source")
    return info


def git_info_lines(info: dict[str, Any]) -> list[str]:
    """The git part of `apps info`: remotes, branch, source, webhook URLs and secret."""
    source = info["repo_url"] or "-"
    if info["has_token"]:
        source += " (token set)"
    lines = [
        f"branch:     {info['branch']}",
        f"git remote: {info['ssh_remote']}",
        f"git remote: {info['http_remote']}",
        f"source:     {source}",
    ]
    if info["deploy_key_public"]:
        lines.append(f"deploy key: {info['deploy_key_public']}")
    lines += [f"webhook:    {url}" for url in info["webhook_urls"].values()]
    lines.append(f"webhook secret: {info['webhook_secret']}")
    for delivery in info["deliveries"][:3]:
        detail = delivery["error"] or delivery["deploy_id"] or ""
        lines.append(
            f"delivery:   {delivery['received_at'][:19]} {delivery['provider']} "
            f"{delivery['commit'][:12]} {delivery['status']} {detail}".rstrip()
        )
    return lines


# -- run by the git user -----------------------------------------------------------------------


def _refuse(message: str) -> NoReturn:
    click.echo(f"dockyard: {message}", err=True)
    sys.exit(1)


def _hook_client(data_dir: Path) -> httpx.Client:
    """A client of the controller with the hook token, from `<data dir>/git/hook.json`."""
    try:
        config = json.loads((data_dir / "git" / "hook.json").read_text())
    except (OSError, ValueError) as exc:
        _refuse(f"cannot read the controller's address ({exc}): is the controller installed and started?")
    return httpx.Client(
        base_url=config["url"],
        headers={"Authorization": f"Bearer {config['token']}"},
        timeout=httpx.Timeout(30, read=None),
    )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text.strip()


@click.command("git-shell", hidden=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, readable=False),
    required=True,
    help="The controller's data dir.",
)
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
            with _hook_client(data_dir) as client:
                response = client.post(
                    f"/api/v1/git/apps/{app}/access",
                    json={"service": service.value, "key": key_name if pushing else None},
                )
        except httpx.TransportError as exc:
            _refuse(f"cannot reach the Dockyard controller: {exc}")
        if response.status_code != 200:
            _refuse(_detail(response))
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
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, readable=False),
    required=True,
    help="The controller's data dir.",
)
@click.argument("app")
def pre_receive(data_dir: Path, app: str) -> None:
    """Deploy the pushed commit of the deploy branch; a failed deploy rejects the push."""
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    body = {"updates": [{"old": u[0], "new": u[1], "ref": u[2]} for u in updates if len(u) == 3]}
    with _hook_client(data_dir) as client:
        try:
            plan = client.post(f"/api/v1/git/apps/{app}/pushes", json=body)
            if plan.status_code != 200:
                _refuse(f"push refused: {_detail(plan)}")
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
            _refuse(f"push refused: {_detail(answer)}")
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
