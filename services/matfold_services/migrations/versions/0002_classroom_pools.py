"""classroom usage pools

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classroom_usage_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["classroom_id"], ["classrooms.id"], ondelete="CASCADE",
                                name=op.f("fk_classroom_usage_counters_classroom_id_classrooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classroom_usage_counters")),
        sa.UniqueConstraint("classroom_id", "period", "kind", name=op.f("uq_classroom_usage_counters_classroom_id")),
    )


def downgrade() -> None:
    op.drop_table("classroom_usage_counters")
