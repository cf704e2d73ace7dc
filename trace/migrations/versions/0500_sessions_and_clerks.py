"""sessions and clerks: login throttling, session versions, one-time form tokens, product history

Revision ID: 0500
Revises: 0400
Create Date: 2026-12-01

* `login_throttle` replaces the per-user lockout (users.failed_logins, users.locked_until): failed
  logins are counted per client network, per account, per (account, network) and per trusted
  device, with growing delays instead of a lockout a stranger could trigger.
* `users.session_version`: logout and a password change end every session of the user.
* `form_submissions`: the one-time token of a portal form is the idempotency key of its command.
* `product_history`: the entries that defined or changed each product, filled here from the log.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0500"
down_revision = "0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index("ix_login_throttle_last_at", "login_throttle", ["last_at"], unique=False)
    op.create_table(
        "form_submissions",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_submissions")),
    )
    op.create_index("ix_form_submissions_created_at", "form_submissions", ["created_at"], unique=False)
    op.create_table(
        "product_history",
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("product_id", "entry", name=op.f("pk_product_history")),
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("session_version", server_default=None)
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")
    _fill_product_history()


def _fill_product_history() -> None:
    """The product.define entries already in the log (a handful, found without decoding the rest)."""
    conn = op.get_bind()
    needle = '"product.define"'
    if conn.dialect.name == "sqlite":
        found = conn.execute(sa.text("SELECT idx, body FROM log_entries WHERE instr(CAST(body AS TEXT), :n) > 0"), {"n": needle})
    else:
        found = conn.execute(sa.text("SELECT idx, body FROM log_entries WHERE position(convert_to(:n, 'UTF8') in body) > 0"),
                             {"n": needle})
    rows = []
    for idx, body in found:
        entry = json.loads(bytes(body))
        event = entry.get("event") or {}
        if event.get("type") == "product.define":
            rows.append({"product_id": event["product"]["id"], "entry": idx})
    if rows:
        op.bulk_insert(sa.table("product_history", sa.column("product_id", sa.String), sa.column("entry", sa.BigInteger)), rows)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("session_version")
    op.drop_table("product_history")
    op.drop_index("ix_form_submissions_created_at", table_name="form_submissions")
    op.drop_table("form_submissions")
    op.drop_index("ix_login_throttle_last_at", table_name="login_throttle")
    op.drop_table("login_throttle")
