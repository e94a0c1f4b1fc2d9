"""The registry in the store: labelled project and investment records.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``registry_records``."""
    op.create_table(
        "registry_records",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("label_originator", sa.String(3), nullable=False),
        sa.Column("label_rel_to", sa.String(64), nullable=False),
        sa.Column("label_public", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_registry_records_updated_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_registry_records"),
        sa.UniqueConstraint("kind", "record_id", name="uq_registry_records_kind"),
    )


def downgrade() -> None:
    """Drop ``registry_records``."""
    op.drop_table("registry_records")
