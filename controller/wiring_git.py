"""Wiring of the git side: per-app repos, SSH keys, push deploys, webhooks, smart HTTP.

Layout under `<data dir>/git/` (readable with `ls`):

    repos/<app>.git    bare repos, owned by the git user (DOCKYARD_GIT_USER)
    mirrors/<app>.git  cached mirrors of source repositories (webhook deploys), root only
    hook.json          controller URL + hook token for git-shell and the pre-receive hook,
                       mode 0600, owned by the git user; a new token at every start
"""

import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.adapters.archive import extract_archive, source_digest
from controller.adapters.git_access import (
    GitUserFiles,
    find_git_user,
    generate_deploy_key,
    home_of,
    why_user_cannot_run,
)
from controller.adapters.git_cgi import GitHttpBackend
from controller.adapters.git_repos import BareRepos, SourceMirrors
from controller.domain.git_records import FileOwner
from controller.domain.models import App
from controller.services import git_ports
from controller.services.deploys import DeployService
from controller.services.git_http import GitHttpService
from controller.services.git_ports import UnpackTar
from controller.services.git_push import GitPushService
from controller.services.git_sources import GitSettings, GitSourceService
from controller.services.ports import Store
from controller.services.redeploy import RedeployService
from controller.services.ssh_keys import SshKeyService
from controller.services.webhooks import WebhookService
from controller.settings import Settings

logger = logging.getLogger(__name__)
TRAVERSABLE = 0o711
PRIVATE = 0o700
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 - names, not a bind


class GitUserCannotRunDockyard(RuntimeError):
    """The git user cannot run DOCKYARD_GIT_EXECUTABLE: every push would fail in its hook."""


def check_git_executable(*, user: str, owner: FileOwner | None, executable: str, home: Path | None) -> None:
    """Refuse to start when the git user cannot run the executable its hooks and sshd's forced
    command exec (only checkable as root, with the user present: `owner`)."""
    if owner is None:
        return
    why = why_user_cannot_run(owner, executable, home=home)
    if why is None:
        return
    message = (
        f"the git user {user!r} cannot run {executable} ({why}), so every git push would fail "
        "in its hook. Set DOCKYARD_GIT_EXECUTABLE to a dockyard it can run (install.sh's "
        "/opt/dockyard/bin/dockyard: a virtualenv made from /usr/bin/python3, outside /root), "
        "or run this controller from one."
    )
    logger.error("refusing to start: %s", message)
    raise GitUserCannotRunDockyard(message)


@dataclass
class GitComponents:
    """The git side's services, and what the API needs to authenticate hooks."""

    store: Store
    sources: GitSourceService
    keys: SshKeyService
    push: GitPushService
    webhooks: WebhookService
    redeploy: RedeployService
    http: GitHttpService
    files: git_ports.GitUserFiles
    hook_token: str
    controller_url: str

    def start(self) -> None:
        """Hand the hooks their token, bring every app's repo up to date, sync keys, dispatch."""
        self.files.write_hook_config(url=self.controller_url, token=self.hook_token)
        for app in self.store.list_apps():
            try:
                self.sources.ensure_repo(app.name)
            except Exception:
                logger.exception("could not prepare the git repo of %s", app.name)
        self.keys.sync()
        self.webhooks.start()

    def stop(self) -> None:
        self.webhooks.stop()


def unpack_tar(*, max_bytes: int) -> UnpackTar:
    """The safe extraction of an untrusted tar (a pushed tree) into a build context."""

    def unpack(data: bytes, dest: Path) -> str:
        extract_archive(data, dest, max_bytes=max_bytes)
        return source_digest(dest)

    return unpack


def build_git(
    settings: Settings,
    *,
    store: Store,
    deploys: DeployService,
    public_urls: Callable[[str, Sequence[str]], list[str]],
    create_app: Callable[[str], App],
) -> GitComponents:
    owner = find_git_user(settings.git_user)
    repos_dir = settings.git_dir / "repos"
    mirrors_dir = settings.git_dir / "mirrors"
    for directory, mode in (
        (settings.git_dir, TRAVERSABLE),
        (repos_dir, TRAVERSABLE),
        (mirrors_dir, PRIVATE),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, mode)
    executable = str(settings.git_executable or Path(sys.executable).parent / "dockyard")
    data_dir = str(settings.data_dir.resolve())
    home = home_of(settings.git_user)
    check_git_executable(user=settings.git_user, owner=owner, executable=executable, home=home)
    files = GitUserFiles(
        authorized_keys=settings.git_authorized_keys
        or ((home / ".ssh" / "authorized_keys") if home else settings.git_dir / "authorized_keys"),
        hook_config=settings.git_dir / "hook.json",
        owner=owner,
    )
    repos = BareRepos(
        repos_dir, hook_command=[executable, "git-hook", "pre-receive", "--data-dir", data_dir], owner=owner
    )
    local = ["file", "git", "http"] if settings.git_allow_local_sources else []
    mirrors = SourceMirrors(
        mirrors_dir,
        allowed_protocols=["https", "ssh", *local],
        allow_private=settings.git_allow_private_sources,
    )
    sources = GitSourceService(
        store=store,
        repos=repos,
        mirrors=mirrors,
        generate_key=generate_deploy_key,
        settings=GitSettings(
            git_user=settings.git_user,
            ssh_host=settings.git_ssh_host or settings.base_domain or socket.getfqdn(),
            ssh_port=settings.git_ssh_port,
            public_url=settings.public_url or f"http://{settings.listen}",
            auto_create=settings.git_auto_create,
            allow_local_sources=settings.git_allow_local_sources,
            allow_private_sources=settings.git_allow_private_sources,
        ),
    )
    unpack = unpack_tar(max_bytes=settings.max_upload_mb * 1024 * 1024 * 4)
    host = "127.0.0.1" if settings.listen_host in WILDCARD_HOSTS else settings.listen_host
    webhooks = WebhookService(store=store, sources=sources, mirrors=mirrors, deploys=deploys, unpack=unpack)
    deploys.fetch_sources_with(webhooks.fetch_source)
    push = GitPushService(
        store=store,
        sources=sources,
        repos=repos,
        deploys=deploys,
        create_app=create_app,
        unpack=unpack,
        public_urls=public_urls,
        auto_create=settings.git_auto_create,
    )
    return GitComponents(
        store=store,
        sources=sources,
        keys=SshKeyService(
            store=store, files=files, executable=executable, data_dir=data_dir, instance=settings.instance
        ),
        push=push,
        webhooks=webhooks,
        redeploy=RedeployService(store=store, sources=sources, repos=repos, deploys=deploys, unpack=unpack),
        http=GitHttpService(
            push=push, backend=GitHttpBackend(project_root=repos_dir, owner=owner, home=home)
        ),
        files=files,
        hook_token=secrets.token_urlsafe(32),
        controller_url=f"http://{host}:{settings.listen_port}",
    )
