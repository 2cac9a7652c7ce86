"""The current database schema as SQLAlchemy Core tables (migrations create it; see versions/)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Values are stored encrypted (config_vars.value, releases.config: Fernet tokens) or
# plain (everything else). Datetimes are UTC.
APP_NAME_LEN = 64
DOMAIN_LEN = 255
ENV_KEY_LEN = 255
DEPLOY_ID_LEN = 64
SHORT_TEXT_LEN = 255


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime in and out, on every backend.

    Naive datetimes are refused (their zone is unknown). SQLite keeps no zone, so UTC
    is stored without one and attached again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Dockyard stores timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        """On SQLite, the stored text parsed straight into an aware datetime: the default path
        (parse, then `replace(tzinfo=UTC)`) was most of the time of reading 200 deploys."""
        generic = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or generic is None:
            return generic

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                try:
                    moment = datetime.fromisoformat(value + "+00:00")  # stored without a zone
                except ValueError:
                    moment = None
                if moment is not None and moment.tzinfo is not None:  # a date alone stays naive
                    return moment
            return generic(value)

        return process


# Named constraints keep later migrations (SQLite batch mode included) deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)

apps = Table(
    "apps",
    metadata,
    Column("name", String(APP_NAME_LEN), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("web_scale", Integer, nullable=False),
    Column("current_release", Integer, nullable=True),
    # JSON list of the ids of the containers the proxy routes to (revision 0003).
    Column("serving", Text, nullable=True),
)


def _app_fk() -> ForeignKey:
    """The owning app; deleting the app deletes the row."""
    return ForeignKey("apps.name", ondelete="CASCADE")


domains = Table(
    "domains",
    metadata,
    Column("domain", String(DOMAIN_LEN), primary_key=True),
    Column("app", String(APP_NAME_LEN), _app_fk(), nullable=False, index=True),
)

config_vars = Table(
    "config_vars",
    metadata,
    Column("app", String(APP_NAME_LEN), _app_fk(), primary_key=True),
    Column("key", String(ENV_KEY_LEN), primary_key=True),
    Column("value", Text, nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("app", String(APP_NAME_LEN), _app_fk(), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("image_id", String(SHORT_TEXT_LEN), nullable=False),
    Column("source_digest", String(SHORT_TEXT_LEN), nullable=False),
    Column("config", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("healthchecks", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deploy_id", String(DEPLOY_ID_LEN), nullable=False),
    Column("description", Text, nullable=False),
)

deploys = Table(
    "deploys",
    metadata,
    Column("id", String(DEPLOY_ID_LEN), primary_key=True),
    Column("app", String(APP_NAME_LEN), _app_fk(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("release_number", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("description", Text, nullable=False),
    # What the job needs to run again after a restart: encrypted JSON (revision 0003).
    Column("params", Text, nullable=True),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Index("ix_deploys_app_created_at", "app", "created_at"),
    # The dispatcher's lookup of an app's oldest queued deploy (revision 0004).
    Index("ix_deploys_status_app_created_at", "status", "app", "created_at"),
)

# The git side (revision 0002). Secrets (token, webhook secret, deploy key) are Fernet tokens.
BRANCH_LEN = 200
KEY_NAME_LEN = 64

app_sources = Table(
    "app_sources",
    metadata,
    Column("app", String(APP_NAME_LEN), _app_fk(), primary_key=True),
    Column("branch", String(BRANCH_LEN), nullable=False),
    Column("webhook_secret", Text, nullable=False),
    Column("repo_url", Text, nullable=True),
    Column("repo_username", String(SHORT_TEXT_LEN), nullable=True),
    Column("repo_token", Text, nullable=True),
    Column("deploy_key", Text, nullable=True),
    Column("deploy_key_public", Text, nullable=True),
)

ssh_keys = Table(
    "ssh_keys",
    metadata,
    Column("name", String(KEY_NAME_LEN), primary_key=True),
    Column("key_type", String(64), nullable=False),
    Column("key_data", Text, nullable=False),
    Column("fingerprint", String(SHORT_TEXT_LEN), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("owner", String(KEY_NAME_LEN), nullable=True),  # a user name (revision 0005)
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("app", String(APP_NAME_LEN), _app_fk(), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("delivery_id", String(SHORT_TEXT_LEN), nullable=False),
    Column("branch", String(BRANCH_LEN), nullable=False),
    Column("commit_sha", String(64), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("deploy_id", String(DEPLOY_ID_LEN), nullable=True),
    Column("error", Text, nullable=True),
    # Replay protection: a provider's delivery id is accepted once per app.
    UniqueConstraint("app", "provider", "delivery_id"),
    # Each delivery's replay checks: was its commit seen, the branch's newest (revision 0006).
    Index("ix_webhook_deliveries_app_branch_commit_sha", "app", "branch", "commit_sha"),
    Index("ix_webhook_deliveries_app_branch_seq", "app", "branch", "seq"),
    Index("ix_webhook_deliveries_deploy_id", "deploy_id"),
)

# Accounts (revision 0005): users, API tokens (SHA-256 of the secret only) and the audit log.
ROLE_LEN = 16

users = Table(
    "users",
    metadata,
    Column("name", String(KEY_NAME_LEN), primary_key=True),
    Column("role", String(ROLE_LEN), nullable=False),
    Column("apps", JSON, nullable=True),  # a list of app names; NULL: every app
    Column("password_hash", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(KEY_NAME_LEN), nullable=False, unique=True),
    Column("user", String(KEY_NAME_LEN), ForeignKey("users.name", ondelete="CASCADE"), nullable=True),
    Column("role", String(ROLE_LEN), nullable=True),
    Column("apps", JSON, nullable=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("actor", String(SHORT_TEXT_LEN), nullable=False),
    Column("action", String(SHORT_TEXT_LEN), nullable=False),
    Column("app", String(APP_NAME_LEN), nullable=True, index=True),  # no FK: kept after the app goes
    Column("outcome", String(32), nullable=False),
    Column("source", String(SHORT_TEXT_LEN), nullable=True),
    Column("detail", Text, nullable=False),
)

# Browser sessions (revision 0005): only a SHA-256 of the session id and of its CSRF token.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "user", String(KEY_NAME_LEN), ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("csrf_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
