"""Mutes: pages held back for a definition or everything, for a while; alerts say so.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutes",
        sa.Column("mute_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_early_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mute_id", name=op.f("pk_mutes")),
    )
    op.create_index(op.f("ix_mutes_target"), "mutes", ["target"])
    op.create_index(op.f("ix_mutes_ends_at"), "mutes", ["ends_at"])
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("muted", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("muted")
    op.drop_index(op.f("ix_mutes_ends_at"), table_name="mutes")
    op.drop_index(op.f("ix_mutes_target"), table_name="mutes")
    op.drop_table("mutes")
