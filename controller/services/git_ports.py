"""The Protocols ("ports") of the git side: stored sources, keys and deliveries; repos and mirrors."""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.domain.git_records import AppSource, DeliveryStatus, SshKey, WebhookDelivery
from controller.domain.git_refs import RefUpdate

# Extracts an (untrusted) tar into an empty dir and returns the context's digest.
UnpackTar = Callable[[bytes, Path], str]
# Makes a deploy key pair for a comment: (OpenSSH private key, public key line).
KeyGenerator = Callable[[str], tuple[str, str]]


class GitStore(Protocol):
    """Durable git-side state; part of the `Store` port."""

    def get_app_source(self, app: str) -> AppSource | None:
        """Raises NotFound for an unknown app; None while the app has no source row yet."""

    def put_app_source(self, source: AppSource) -> None:
        """Insert or replace the app's source row."""

    def add_ssh_key(self, key: SshKey) -> None:
        """Raises Conflict when the name or the key itself is already there."""

    def list_ssh_keys(self) -> list[SshKey]:
        """By name."""

    def remove_ssh_key(self, name: str) -> None:
        """Raises NotFound."""

    def add_webhook_deliveries(self, batch: Sequence[WebhookDelivery]) -> list[WebhookDelivery | None]:
        """Record a batch in one transaction; per delivery the recorded one (with its seq), or
        None when (app, provider, delivery_id) was seen before or the app is gone."""

    def pending_webhook_deliveries(self) -> list[WebhookDelivery]:
        """Oldest first."""

    def finish_webhook_deliveries(
        self,
        seqs: Sequence[int],
        *,
        status: DeliveryStatus,
        deploy_id: str | None = None,
        error: str | None = None,
    ) -> None: ...

    def list_webhook_deliveries(self, app: str, limit: int = 20) -> list[WebhookDelivery]:
        """Newest first; a delivery with a job shows its job's status and error."""

    def find_webhook_delivery(self, app: str, provider: str, delivery_id: str) -> WebhookDelivery | None: ...

    def webhook_commit_seen(self, app: str, branch: str, commit: str) -> bool:
        """Whether a delivery (from any provider) for `branch` named `commit` before."""

    def last_webhook_delivery(self, app: str, branch: str) -> WebhookDelivery | None:
        """The newest delivery recorded for the app (from any provider) for `branch`."""

    def webhook_delivery_of_deploy(self, app: str, deploy_id: str) -> WebhookDelivery | None:
        """The delivery whose build job `deploy_id` is, if it was one."""


class RepoHost(Protocol):
    """The per-app bare repositories users push to."""

    def exists(self, app: str) -> bool: ...

    def ensure(self, app: str, *, branch: str) -> Path:
        """Create the repo, or bring its hook, HEAD and settings up to date."""

    def delete(self, app: str) -> None: ...

    def archive_pushed(self, app: str, *, update: RefUpdate, quarantine: str | None) -> bytes:
        """A tar of the tree of `update.new`, read from the app's repo (with the push's quarantine).

        Raises:
            InvalidInput: the quarantine is not one of this repo's, the ref is not at
                `update.old`, or `update.new` is not a commit there.
        """

    def archive_branch(self, app: str, branch: str) -> tuple[str, bytes] | None:
        """The head commit of `branch` in the app's repo and a tar of its tree; None without one."""


@dataclass(frozen=True)
class FetchAuth:
    """Credentials for a source repository: a token for https, a deploy key for ssh."""

    username: str | None = None
    token: str | None = None
    ssh_private_key: str | None = None


class Mirrors(Protocol):
    """Cached mirrors of apps' source repositories."""

    def fetch(self, app: str, *, url: str, branch: str, commit: str, auth: FetchAuth) -> None:
        """Raises SourceUnavailable when the commit cannot be had."""

    def fetch_head(self, app: str, *, url: str, branch: str, auth: FetchAuth) -> str:
        """Fetch `branch` and return its head commit; raises SourceUnavailable."""

    def archive(self, app: str, commit: str) -> bytes:
        """A tar of the tree at a fetched commit."""

    def is_ancestor(self, app: str, older: str, newer: str) -> bool | None:
        """Whether `older` is an ancestor of `newer` in the mirror; None when either is not there."""

    def delete(self, app: str) -> None: ...


class GitUserFiles(Protocol):
    """Files the git user's programs read."""

    def update_authorized_keys(self, edit: Callable[[str], str]) -> None:
        """Replace the file's text by `edit(current text)`, with no other writer in between."""

    def write_hook_config(self, *, url: str, token: str) -> None: ...


@dataclass
class CgiResponse:
    """The status and headers git answered with, and the rest of its output as it comes."""

    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]


class HttpBackend(Protocol):
    """`git http-backend`: serves one smart-HTTP request on the bare repos."""

    async def run(
        self,
        *,
        method: str,
        path_info: str,
        query: str,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        remote_user: str,
        remote_addr: str,
        extra_env: Mapping[str, str],
    ) -> CgiResponse:
        """Start git, feed it `body` and return once its headers are in (`headers` lowercase)."""
        ...
