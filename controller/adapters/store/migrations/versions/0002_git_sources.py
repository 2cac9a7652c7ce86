"""The git side: apps' source settings, SSH keys, and webhook deliveries (replay protection).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_sources",
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("branch", sa.String(200), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("repo_url", sa.Text(), nullable=True),
        sa.Column("repo_username", sa.String(255), nullable=True),
        sa.Column("repo_token", sa.Text(), nullable=True),
        sa.Column("deploy_key", sa.Text(), nullable=True),
        sa.Column("deploy_key_public", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("app", name="pk_app_sources"),
        sa.ForeignKeyConstraint(["app"], ["apps.name"], name="fk_app_sources_app_apps", ondelete="CASCADE"),
    )
    op.create_table(
        "ssh_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("key_data", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ssh_keys"),
        sa.UniqueConstraint("fingerprint", name="uq_ssh_keys_fingerprint"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("branch", sa.String(200), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("deploy_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["app"], ["apps.name"], name="fk_webhook_deliveries_app_apps", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "app", "provider", "delivery_id", name="uq_webhook_deliveries_app_provider_delivery_id"
        ),
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("ssh_keys")
    op.drop_table("app_sources")
