"""stable user identity, ordered billing events, idempotency keys

Revision ID: 0003
Revises: 0002

- users: ``hub_created`` and ``detached_at``; the name is unique among live rows only
  (a deleted hub account's row keeps its name, detached, and a new account gets a new row);
- subscriptions: ``last_event_created`` / ``last_event_rank`` (the newest Stripe event applied);
- idempotency_keys: the stored response of each (user, Idempotency-Key).
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("hub_created", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint("uq_users_name", "users", type_="unique")
    op.create_index("uq_users_live_name", "users", ["name"], unique=True,
                    postgresql_where=sa.text("detached_at IS NULL"))
    op.add_column("subscriptions", sa.Column("last_event_created", sa.BigInteger(), nullable=True))
    op.add_column("subscriptions", sa.Column("last_event_rank", sa.SmallInteger(), nullable=True))
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request", sa.String(length=300), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_idempotency_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_column("subscriptions", "last_event_rank")
    op.drop_column("subscriptions", "last_event_created")
    # detached rows share names with live ones: drop them before the name is unique again
    op.execute("DELETE FROM users WHERE detached_at IS NOT NULL")
    op.drop_index("uq_users_live_name", table_name="users")
    op.create_unique_constraint("uq_users_name", "users", ["name"])
    op.drop_column("users", "detached_at")
    op.drop_column("users", "hub_created")
