"""An index for the queue: an app's oldest queued deploy is one lookup, not a scan.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deploys_status_app_created_at", "deploys", ["status", "app", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deploys_status_app_created_at", table_name="deploys")
