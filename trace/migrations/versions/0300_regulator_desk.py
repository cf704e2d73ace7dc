"""the regulator's desk: inspections by kind, credit days, recall tasks, consumer cases, indexes

Revision ID: 0300
Revises: 0100
Create Date: 2026-12-01

Version 3 entries: a batch remembers whose verdict its inspection status is (`inspection_kind`,
'' for verdicts recorded before); a credit status holds between two days; a recall gives every
batch it reaches a task (`recall_tasks`). Recalls and verdicts logged before version 3 keep their
meaning, so nothing is backfilled: replaying them gives exactly these defaults.
Consumer cases (`cases`, `case_photos`, `case_events`) are operational data, never in the log.
The anomaly lists read two indexes derived from the log (`derived_*`), rebuilt from it at will.
Indexes for tracing back (batch_links.child_id) and for the worklists."""
import sqlalchemy as sa
from alembic import op

revision = "0300"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch_op:
        batch_op.add_column(sa.Column("credit_start", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("credit_end", sa.String(length=10), nullable=True))
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("inspection_kind", sa.String(length=10), nullable=False, server_default=""))
    with op.batch_alter_table("batches") as batch_op:
        batch_op.alter_column("inspection_kind", server_default=None)
    op.create_table(
        "recall_tasks",
        sa.Column("recall_entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("loose_g", sa.BigInteger(), nullable=False),
        sa.Column("off_sale", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("destroyed", sa.Integer(), nullable=False),
        sa.Column("off_sale_g", sa.BigInteger(), nullable=False),
        sa.Column("returned_g", sa.BigInteger(), nullable=False),
        sa.Column("destroyed_g", sa.BigInteger(), nullable=False),
        sa.Column("first_action_at", sa.String(length=30), nullable=True),
        sa.Column("last_action_at", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_recall_tasks_batch_id_batches")),
        sa.PrimaryKeyConstraint("recall_entry", "batch_id", name=op.f("pk_recall_tasks")),
    )
    op.create_index(op.f("ix_recall_tasks_batch_id"), "recall_tasks", ["batch_id"], unique=False)
    op.create_index("ix_batch_links_child_id", "batch_links", ["child_id"], unique=False)
    op.create_index("ix_batch_events_party_id", "batch_events", ["party_id", "entry"], unique=False)
    op.create_index("ix_batch_events_kind", "batch_events", ["kind", "occurred_at"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("place", sa.String(length=60), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_cases_assignee_id_users")),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_cases_batch_id_batches")),
        sa.ForeignKeyConstraint(["package_id"], ["packages.id"], name=op.f("fk_cases_package_id_packages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_batch_id"), "cases", ["batch_id"], unique=False)
    op.create_index(op.f("ix_cases_package_id"), "cases", ["package_id"], unique=False)
    op.create_index(op.f("ix_cases_status"), "cases", ["status"], unique=False)
    op.create_table(
        "case_photos",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_photos_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_photos")),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_case_events_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"], unique=False)

    op.create_table(
        "derived_watermarks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("next_entry", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_derived_watermarks")),
    )
    op.create_table(
        "derived_late_entries",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.String(length=30), nullable=False),
        sa.Column("recorded_at", sa.String(length=30), nullable=False),
        sa.Column("lag_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_derived_late_entries")),
    )
    op.create_index(op.f("ix_derived_late_entries_batch_id"), "derived_late_entries", ["batch_id"], unique=False)
    op.create_index(op.f("ix_derived_late_entries_lag_hours"), "derived_late_entries", ["lag_hours"], unique=False)
    op.create_index(op.f("ix_derived_late_entries_recorded_at"), "derived_late_entries", ["recorded_at"], unique=False)
    op.create_table(
        "derived_cold_readings",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("facility", sa.String(length=200), nullable=False),
        sa.Column("temperature_dc", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.String(length=30), nullable=False),
        sa.Column("corrected_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_derived_cold_readings")),
    )
    op.create_index(op.f("ix_derived_cold_readings_batch_id"), "derived_cold_readings", ["batch_id"], unique=False)
    op.create_index(op.f("ix_derived_cold_readings_temperature_dc"), "derived_cold_readings", ["temperature_dc"],
                    unique=False)
    op.create_table(
        "storage_ranges",
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("min_dc", sa.Integer(), nullable=False),
        sa.Column("max_dc", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_storage_ranges")),
    )


def downgrade() -> None:
    for table in ("storage_ranges", "derived_cold_readings", "derived_late_entries", "derived_watermarks",
                  "case_events", "case_photos", "cases"):
        op.drop_table(table)
    op.drop_index("ix_batch_events_kind", table_name="batch_events")
    op.drop_index("ix_batch_events_party_id", table_name="batch_events")
    op.drop_index("ix_batch_links_child_id", table_name="batch_links")
    op.drop_index(op.f("ix_recall_tasks_batch_id"), table_name="recall_tasks")
    op.drop_table("recall_tasks")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("inspection_kind")
    with op.batch_alter_table("parties") as batch_op:
        batch_op.drop_column("credit_end")
        batch_op.drop_column("credit_start")
