"""Initial schema: apps, domains, encrypted config, releases and deploys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("web_scale", sa.Integer(), nullable=False),
        sa.Column("current_release", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_apps"),
    )
    op.create_table(
        "domains",
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_domains"),
        sa.ForeignKeyConstraint(["app"], ["apps.name"], name="fk_domains_app_apps", ondelete="CASCADE"),
    )
    op.create_index("ix_domains_app", "domains", ["app"])
    op.create_table(
        "config_vars",
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("app", "key", name="pk_config_vars"),
        sa.ForeignKeyConstraint(["app"], ["apps.name"], name="fk_config_vars_app_apps", ondelete="CASCADE"),
    )
    op.create_table(
        "releases",
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("image_id", sa.String(255), nullable=False),
        sa.Column("source_digest", sa.String(255), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("healthchecks", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deploy_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("app", "number", name="pk_releases"),
        sa.ForeignKeyConstraint(["app"], ["apps.name"], name="fk_releases_app_apps", ondelete="CASCADE"),
    )
    op.create_table(
        "deploys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_number", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deploys"),
        sa.ForeignKeyConstraint(["app"], ["apps.name"], name="fk_deploys_app_apps", ondelete="CASCADE"),
    )
    op.create_index("ix_deploys_app_created_at", "deploys", ["app", "created_at"])
    op.create_index("ix_deploys_status", "deploys", ["status"])


def downgrade() -> None:
    op.drop_table("deploys")
    op.drop_table("releases")
    op.drop_table("config_vars")
    op.drop_table("domains")
    op.drop_table("apps")
