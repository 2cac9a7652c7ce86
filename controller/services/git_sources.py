"""Apps' git side: their bare repos (made and removed with the app), source settings, remotes."""

import secrets
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from controller.domain.errors import InvalidInput
from controller.domain.git_records import AppSource, WebhookDelivery
from controller.domain.git_refs import http_remote, ssh_remote, validate_branch_name, validate_repo_url
from controller.domain.names import validate_app_name
from controller.domain.webhooks import Provider
from controller.services.apps import AppListener
from controller.services.git_ports import FetchAuth, GitStore, KeyGenerator, Mirrors, RepoHost

WEBHOOK_SECRET_BYTES = 32


@dataclass(frozen=True)
class GitSettings:
    """How users reach the git side, and what it allows."""

    git_user: str
    ssh_host: str
    ssh_port: int
    public_url: str  # base of the smart-HTTP remotes and webhook URLs
    auto_create: bool = False
    allow_local_sources: bool = False
    allow_private_sources: bool = False


@dataclass(frozen=True)
class GitInfo:
    """What `apps info` shows of an app's git side."""

    source: AppSource
    ssh_remote: str
    http_remote: str
    webhook_urls: dict[str, str]
    deliveries: tuple[WebhookDelivery, ...]


class GitSourceService(AppListener):
    """Keeps one bare repo per app and the app's source settings (repo, branch, secrets)."""

    def __init__(
        self,
        *,
        store: GitStore,
        repos: RepoHost,
        mirrors: Mirrors,
        generate_key: KeyGenerator,
        settings: GitSettings,
    ) -> None:
        self._store = store
        self._repos = repos
        self._mirrors = mirrors
        self._generate_key = generate_key
        self._settings = settings
        # Sources change only through this service: webhook intake reads them from memory.
        self._cache: dict[str, AppSource] = {}
        self._lock = threading.Lock()

    # -- app lifecycle (AppService calls these) -----------------------------------------

    def post_create(self, app: str) -> None:
        self.ensure_repo(app)

    def post_delete(self, app: str) -> None:
        """The rows went with the app; remove its repo and mirror."""
        with self._lock:
            self._cache.pop(app, None)
        self._repos.delete(app)
        self._mirrors.delete(app)

    # -- repos and settings -----------------------------------------------------------

    def ensure_repo(self, app: str) -> Path:
        """The app's bare repo, made now if the app predates it."""
        return self._repos.ensure(app, branch=self.source(app).branch)

    def source(self, app: str) -> AppSource:
        """The app's source settings; an app without any gets defaults and a new webhook secret.

        Raises NotFound for an unknown app.
        """
        validate_app_name(app)
        with self._lock:
            cached = self._cache.get(app)
        if cached is not None:
            return cached
        source = self._store.get_app_source(app)
        if source is None:
            source = AppSource(app=app, webhook_secret=secrets.token_hex(WEBHOOK_SECRET_BYTES))
            self._store.put_app_source(source)
        with self._lock:
            self._cache[app] = source
        return source

    def fetch_auth(self, source: AppSource) -> FetchAuth:
        return FetchAuth(
            username=source.repo_username, token=source.repo_token, ssh_private_key=source.deploy_key
        )

    def set_source(
        self,
        app: str,
        *,
        repo_url: str | None = None,
        branch: str | None = None,
        token: str | None = None,
        new_deploy_key: bool = False,
        new_webhook_secret: bool = False,
    ) -> AppSource:
        """Change what is given; an ssh URL gets a deploy key if it has none (or a new one).

        A new repo URL drops the old token unless the URL or `token` carries one.
        """
        current = self.source(app)
        updated = current
        if branch is not None:
            updated = replace(updated, branch=validate_branch_name(branch))
        if repo_url is not None:
            parsed = validate_repo_url(
                repo_url,
                allow_local=self._settings.allow_local_sources,
                allow_private=self._settings.allow_private_sources,
            )
            updated = replace(
                updated, repo_url=parsed.url, repo_username=parsed.username, repo_token=parsed.token
            )
        if token is not None:
            if not updated.repo_url or not updated.repo_url.startswith(("https://", "http://")):
                raise InvalidInput("a token is used with an https:// repository URL only")
            updated = replace(updated, repo_token=token or None)
        wants_key = (
            updated.repo_url is not None
            and validate_repo_url(updated.repo_url, allow_local=True, allow_private=True).is_ssh
        )
        if new_deploy_key or (wants_key and updated.deploy_key is None):
            private, public = self._generate_key(f"dockyard-deploy-key-{app}")
            updated = replace(updated, deploy_key=private, deploy_key_public=public)
        if new_webhook_secret:
            updated = replace(updated, webhook_secret=secrets.token_hex(WEBHOOK_SECRET_BYTES))
        if updated != current:
            self._store.put_app_source(updated)
            with self._lock:
                self._cache[app] = updated
            if updated.branch != current.branch and self._repos.exists(app):
                self._repos.ensure(app, branch=updated.branch)
        return updated

    def check_repo_url(self, repo_url: str, *, token: str | None = None) -> bool:
        """Whether `set_source` would take this repository URL (and token), checked before the
        app exists (the GUI's create form). True: an ssh URL, which gets a deploy key. Raises
        InvalidInput as `set_source` would.
        """
        parsed = validate_repo_url(
            repo_url,
            allow_local=self._settings.allow_local_sources,
            allow_private=self._settings.allow_private_sources,
        )
        if token and not parsed.url.startswith(("https://", "http://")):
            raise InvalidInput("a token is used with an https:// repository URL only")
        return parsed.is_ssh

    def info(self, app: str) -> GitInfo:
        source = self.source(app)
        base = self._settings.public_url.rstrip("/")
        return GitInfo(
            source=source,
            ssh_remote=ssh_remote(
                user=self._settings.git_user,
                host=self._settings.ssh_host,
                port=self._settings.ssh_port,
                app=app,
            ),
            http_remote=http_remote(base_url=base, app=app),
            webhook_urls={provider.value: f"{base}/hooks/{provider.value}/{app}" for provider in Provider},
            deliveries=tuple(self._store.list_webhook_deliveries(app, limit=10)),
        )
