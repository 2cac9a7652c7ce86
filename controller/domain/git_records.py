"""Records of the git side: an app's source settings, SSH keys, webhook deliveries."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from controller.domain.git_refs import DEFAULT_BRANCH


@dataclass(frozen=True)
class FileOwner:
    """The uid and gid of the git user, who owns the repos and the files its programs read."""

    uid: int
    gid: int


@dataclass(frozen=True)
class AppSource:
    """Where an app's code comes from besides `git push`, and how webhooks reach it.

    Secrets (token, webhook secret, deploy key) are stored encrypted.
    """

    app: str
    webhook_secret: str
    branch: str = DEFAULT_BRANCH
    repo_url: str | None = None
    repo_username: str | None = None
    repo_token: str | None = None
    deploy_key: str | None = None  # OpenSSH private key
    deploy_key_public: str | None = None  # `ssh-ed25519 AAAA... comment`


@dataclass(frozen=True)
class SshKey:
    """A public key allowed to push over SSH (as the git user, through `dockyard git-shell`)."""

    name: str
    key_type: str
    key_data: str  # base64 blob, as in authorized_keys
    fingerprint: str  # SHA256:...
    created_at: datetime
    owner: str | None = None  # the user whose rights a push with this key has; None: an admin's key


class DeliveryStatus(StrEnum):
    """What became of a webhook delivery that asked for a deploy.

    Stored: pending (recorded, its job not made yet: only if the controller died in between),
    queued (its build job is `deploy_id`), failed (no job could be made), superseded (older
    controllers). Shown: the status of the delivery's job once it has one.
    """

    PENDING = "pending"
    SUPERSEDED = "superseded"
    QUEUED = "queued"
    FAILED = "failed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class WebhookDelivery:
    """A signed push delivery that asked to deploy `commit`; its id guards against replays."""

    app: str
    provider: str
    delivery_id: str
    branch: str
    commit: str
    received_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    seq: int | None = None  # assigned by the store, in the order deliveries arrived
    deploy_id: str | None = None
    error: str | None = None
