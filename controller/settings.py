"""Server settings from `DOCKYARD_*` environment variables (and an optional env file)."""

import hashlib
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("/var/lib/dockyard")
LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"


class Settings(BaseSettings):
    """Every tunable of the controller; each default works on a VPS."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", env_file=None, extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    listen: str = "127.0.0.1:8000"
    proxy_addr: str = "0.0.0.0"  # noqa: S104 - the proxy serves the public
    http_port: int = 80
    https_port: int = 443
    base_domain: str | None = None
    # Serve the GUI and API through the managed nginx on this name, with an ACME certificate.
    dashboard_domain: str | None = None
    admin_token: str | None = None
    audit_days: int = Field(default=365, ge=1)  # how long the audit log keeps its events
    session_hours: float = Field(default=12, gt=0)  # how long a browser login lasts
    nginx_bin: str = "nginx"
    docker_network: str = "dockyard"
    keep_releases: int = Field(default=5, ge=1)
    build_timeout: float = 20 * 60
    health_timeout: float = 60.0
    drain_timeout: float = 30.0
    stop_timeout: float = 10.0
    container_memory_mb: int | None = None
    max_upload_mb: int = 512
    # The API's connections: seconds to send a request head, seconds a body may stall,
    # seconds an idle keep-alive connection stays open, and how many may be open at once
    # (kept below the open files limit).
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    keepalive_timeout: int = Field(default=5, ge=1)
    max_connections: int = Field(default=4096, ge=16)
    listen_backlog: int = Field(default=1024, ge=16)  # also how many are accepted at once
    # Open log follows and event streams, per app and in all (past them: 429 / 503).
    max_followers_per_app: int = Field(default=20, ge=1)
    max_followers: int = Field(default=200, ge=1)
    # Each deploy's stored build log keeps its first quarter and its last part up to this.
    build_log_max_kb: int = Field(default=4096, ge=64)
    # Each app container's json-file log rotates at this size, keeping this many files.
    container_log_max_size: str = Field(default="10m", pattern=r"^[1-9][0-9]*[kmg]$")
    container_log_max_files: int = Field(default=3, ge=1, le=100)
    deploy_workers: int = Field(default=max(1, (os.cpu_count() or 2) // 2), ge=1)  # builds at once
    job_workers: int = Field(default=max(2, os.cpu_count() or 2), ge=1)  # other jobs at once
    job_timeout: float = 30 * 60
    requeue_interrupted: int = Field(default=1, ge=0)
    reconcile_interval: float = Field(default=10.0, gt=0)
    # `dockyard serve` starts the keeper (controller/wiring_keeper.py) unless this is off.
    keeper: bool = True
    disk_prune_threshold: float = Field(default=90.0, gt=0, le=100)

    # Automatic HTTPS (ACME): on when an email is set (and the directory is not emptied).
    acme_directory: str = LETS_ENCRYPT_DIRECTORY
    acme_email: str | None = None
    acme_ca_bundle: Path | None = None  # extra CA to trust for the directory (Pebble in tests)
    acme_renew_days: int = Field(default=30, ge=1)
    acme_check_interval: float = Field(default=24 * 3600, gt=0)  # seconds between renewal checks
    acme_retry_base: float = Field(default=600, gt=0)  # seconds before the first retry; doubles
    acme_retry_max: float = Field(default=12 * 3600, gt=0)
    acme_daily_attempts: int = Field(default=5, ge=1)  # per domain and UTC day
    acme_timeout: float = Field(default=90, gt=0)  # seconds one order may take

    # git push (SSH and smart HTTP) and push webhooks.
    git_user: str = "dockyard"  # owns the repos; runs sshd's forced command and the hooks
    git_authorized_keys: Path | None = None  # default ~<git_user>/.ssh/authorized_keys
    git_executable: Path | None = None  # the `dockyard` the git user runs; default this one
    git_ssh_host: str | None = None  # host of the shown ssh remotes; default base domain or hostname
    git_ssh_port: int = Field(default=22, ge=1, le=65535)
    git_auto_create: bool = False  # a push to an app that does not exist creates it
    git_allow_local_sources: bool = False  # file://, git:// and http:// source repositories
    git_allow_private_sources: bool = False  # sources on loopback, link-local or private addresses
    public_url: str | None = None  # how users reach the API (HTTP remotes, webhooks); default http://<listen>

    @field_validator("base_domain", "dashboard_domain")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("acme_email", "acme_ca_bundle", mode="before")
    @classmethod
    def _empty_acme_is_none(cls, value: object) -> object:
        return value or None

    @property
    def acme_enabled(self) -> bool:
        return bool(self.acme_email and self.acme_directory)

    @property
    def certs_dir(self) -> Path:
        return self.data_dir / "certs"

    @property
    def acme_dir(self) -> Path:
        return self.data_dir / "acme"

    @property
    def acme_webroot(self) -> Path:
        return self.acme_dir / "webroot"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dockyard.db'}"

    @property
    def instance(self) -> str:
        """A short id of this controller, stamped on everything it creates in Docker.

        Derived from the data dir, so two controllers on one Docker Engine (tests, or a
        staging and a production install) never touch each other's containers.
        """
        return hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:8]

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def dashboard_backend(self) -> str:
        """Where the proxy reaches the API for the dashboard domain: an IPv4 address and port.

        A wildcard or IPv6 listen address is reached on 127.0.0.1 (the proxy runs here).
        """
        host = self.listen_host.strip("[]")
        if host in ("", "0.0.0.0", "localhost") or ":" in host:  # noqa: S104 - compared, not bound
            host = "127.0.0.1"
        return f"{host}:{self.listen_port}"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin.token"

    @property
    def nginx_dir(self) -> Path:
        return self.data_dir / "nginx"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def builds_dir(self) -> Path:
        return self.data_dir / "builds"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def git_dir(self) -> Path:
        return self.data_dir / "git"
