"""Request and response bodies of the git side: keys, app sources, pushes from the hook."""

from datetime import datetime

from pydantic import BaseModel, Field

from controller.domain.git_records import SshKey, WebhookDelivery
from controller.services.git_sources import GitInfo


class KeyCreate(BaseModel):
    name: str = Field(max_length=64)
    public_key: str = Field(max_length=16 * 1024)
    user: str | None = Field(default=None, max_length=64, description="whose rights a push has; none: admin")


class KeyPublic(BaseModel):
    name: str
    key_type: str
    fingerprint: str
    created_at: datetime
    owner: str | None

    @classmethod
    def of(cls, key: SshKey) -> "KeyPublic":
        return cls(
            name=key.name,
            key_type=key.key_type,
            fingerprint=key.fingerprint,
            created_at=key.created_at,
            owner=key.owner,
        )


class SourceUpdate(BaseModel):
    repo_url: str | None = Field(default=None, max_length=2000)
    branch: str | None = Field(default=None, max_length=200)
    token: str | None = Field(default=None, max_length=4096)
    new_deploy_key: bool = False
    new_webhook_secret: bool = False


class DeliveryPublic(BaseModel):
    provider: str
    delivery_id: str
    branch: str
    commit: str
    received_at: datetime
    status: str
    deploy_id: str | None
    error: str | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> "DeliveryPublic":
        return cls(
            provider=delivery.provider,
            delivery_id=delivery.delivery_id,
            branch=delivery.branch,
            commit=delivery.commit,
            received_at=delivery.received_at,
            status=delivery.status.value,
            deploy_id=delivery.deploy_id,
            error=delivery.error,
        )


class GitInfoPublic(BaseModel):
    """An app's git side as `apps info` shows it (the webhook secret included: admin only)."""

    branch: str
    ssh_remote: str
    http_remote: str
    repo_url: str | None
    has_token: bool
    deploy_key_public: str | None
    webhook_secret: str
    webhook_urls: dict[str, str]
    deliveries: list[DeliveryPublic]

    @classmethod
    def of(cls, info: GitInfo) -> "GitInfoPublic":
        return cls(
            branch=info.source.branch,
            ssh_remote=info.ssh_remote,
            http_remote=info.http_remote,
            repo_url=info.source.repo_url,
            has_token=info.source.repo_token is not None,
            deploy_key_public=info.source.deploy_key_public,
            webhook_secret=info.source.webhook_secret,
            webhook_urls=info.webhook_urls,
            deliveries=[DeliveryPublic.of(d) for d in info.deliveries],
        )


class RefUpdateBody(BaseModel):
    old: str = Field(max_length=64)
    new: str = Field(max_length=64)
    ref: str = Field(max_length=300)


class PushPlanRequest(BaseModel):
    updates: list[RefUpdateBody] = Field(max_length=1000)


class PushPlanPublic(BaseModel):
    deploy: RefUpdateBody | None
    messages: list[str]


class RepoAccessRequest(BaseModel):
    service: str = Field(max_length=32)
    key: str | None = Field(default=None, max_length=64)  # git-shell: the key sshd authenticated


class RepoAccessPublic(BaseModel):
    path: str
    ticket: str | None = None  # for a push: hands the authenticated pusher to the pre-receive hook


class PushDeployRequest(BaseModel):
    """What the pre-receive hook says about a push: the ref update, its ticket, git's quarantine."""

    old: str = Field(max_length=64)
    new: str = Field(max_length=64)
    ref: str = Field(max_length=300)
    ticket: str | None = Field(default=None, max_length=200)
    quarantine: str | None = Field(default=None, max_length=200)
