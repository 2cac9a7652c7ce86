"""Indexes for each webhook delivery's replay checks: lookups, not scans of every delivery.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_webhook_deliveries_app_branch_commit_sha": ["app", "branch", "commit_sha"],
    "ix_webhook_deliveries_app_branch_seq": ["app", "branch", "seq"],
    "ix_webhook_deliveries_deploy_id": ["deploy_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "webhook_deliveries", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="webhook_deliveries")
