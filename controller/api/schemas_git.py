"""Request and response bodies of the git side: keys, app sources, pushes from the hook."""

from datetime import datetime
from typing import Annotated

from pydantic import AliasPath, BaseModel, BeforeValidator, ConfigDict, Field

from controller.api.schemas import FromAttributes, read_from


class KeyCreate(BaseModel):
    name: str = Field(max_length=64)
    public_key: str = Field(max_length=16 * 1024)
    user: str | None = Field(default=None, max_length=64, description="whose rights a push has; none: admin")


class KeyPublic(FromAttributes):
    name: str
    key_type: str
    fingerprint: str
    created_at: datetime
    owner: str | None


class SourceUpdate(BaseModel):
    repo_url: str | None = Field(default=None, max_length=2000)
    branch: str | None = Field(default=None, max_length=200)
    token: str | None = Field(default=None, max_length=4096)
    new_deploy_key: bool = False
    new_webhook_secret: bool = False


class DeliveryPublic(FromAttributes):
    provider: str
    delivery_id: str
    branch: str
    commit: str
    received_at: datetime
    status: str
    deploy_id: str | None
    error: str | None


class GitInfoPublic(FromAttributes):
    """An app's git side as `apps info` shows it (the webhook secret included: admin only)."""

    model_config = ConfigDict(
        from_attributes=True,
        alias_generator=read_from("source", {"branch", "repo_url", "deploy_key_public", "webhook_secret"}),
    )

    branch: str
    ssh_remote: str
    http_remote: str
    repo_url: str | None
    has_token: Annotated[bool, BeforeValidator(lambda token: token is not None)] = Field(
        validation_alias=AliasPath("source", "repo_token")
    )
    deploy_key_public: str | None
    webhook_secret: str
    webhook_urls: dict[str, str]
    deliveries: list[DeliveryPublic]


class RefUpdateBody(BaseModel):
    old: str = Field(max_length=64)
    new: str = Field(max_length=64)
    ref: str = Field(max_length=300)


class PushPlanRequest(BaseModel):
    updates: list[RefUpdateBody] = Field(max_length=1000)
    ticket: str | None = Field(default=None, max_length=200)  # the push's, naming the pusher


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
