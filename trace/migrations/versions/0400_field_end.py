"""the field end: divisions, pesticides, farming records, certificates, platform codes, GI logo
authorisations, certifications, late-entry approvals, GI registrations, natural persons

Revision ID: 0400
Revises: 0300
Create Date: 2026-12-02

Entries of encoding version 3 fill these tables; older entries never touch them, so a log
written before this revision replays to empty tables and verifies as it did. A natural person
has no credit code (parties.uscc becomes nullable); places and plots may name their division
codes (product_areas.code, plots.division)."""
import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0300"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{ref_table}"))


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch_op:
        batch_op.alter_column("uscc", existing_type=sa.String(length=18), nullable=True)
    with op.batch_alter_table("product_areas") as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=12), nullable=True))
    with op.batch_alter_table("plots") as batch_op:
        batch_op.add_column(sa.Column("division", sa.String(length=12), nullable=True))

    op.create_table(
        "log_marks",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_marks")),
    )
    op.create_table(
        "divisions",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_divisions")),
    )
    op.create_table(
        "pesticides",
        sa.Column("reg_no", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active_ingredient", sa.String(length=200), nullable=False),
        sa.Column("intervals", sa.String(length=1000), nullable=False),
        sa.Column("banned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("reg_no", name=op.f("pk_pesticides")),
    )
    op.create_table(
        "farm_records",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("plot_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.String(length=30), nullable=False),
        sa.Column("season", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=True),
        sa.Column("pesticide", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("amount_g_per_mu", sa.BigInteger(), nullable=True),
        sa.Column("area_centimu", sa.BigInteger(), nullable=True),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("alerts", sa.String(length=100), nullable=False),
        _fk("farm_records", "plot_id", "plots.id"),
        _fk("farm_records", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_farm_records")),
    )
    op.create_index(op.f("ix_farm_records_plot_id"), "farm_records", ["plot_id"], unique=False)
    op.create_table(
        "farm_operators_private",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_farm_operators_private")),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("quantity_g", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.String(length=30), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        sa.Column("sources", sa.String(length=800), nullable=False),
        _fk("certificates", "batch_id", "batches.id"),
        _fk("certificates", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
    )
    op.create_index(op.f("ix_certificates_batch_id"), "certificates", ["batch_id"], unique=False)
    op.create_table(
        "certificate_receipts",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.String(length=30), nullable=False),
        _fk("certificate_receipts", "certificate_id", "certificates.id"),
        _fk("certificate_receipts", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_certificate_receipts")),
    )
    op.create_index(op.f("ix_certificate_receipts_certificate_id"), "certificate_receipts", ["certificate_id"], unique=False)
    op.create_table(
        "batch_tests",
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("own", sa.Boolean(), nullable=False),
        _fk("batch_tests", "batch_id", "batches.id"),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_tests")),
    )
    op.create_table(
        "batch_codes",
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        _fk("batch_codes", "batch_id", "batches.id"),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_codes")),
    )
    op.create_table(
        "gi_authorisations",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("announcement", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=True),
        sa.Column("revoked_entry", sa.BigInteger(), nullable=True),
        _fk("gi_authorisations", "party_id", "parties.id"),
        _fk("gi_authorisations", "product_id", "products.id"),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_gi_authorisations")),
    )
    op.create_index(op.f("ix_gi_authorisations_party_id"), "gi_authorisations", ["party_id"], unique=False)
    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("plot_id", sa.Integer(), nullable=True),
        sa.Column("scheme", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        sa.Column("revoked_entry", sa.BigInteger(), nullable=True),
        _fk("certifications", "party_id", "parties.id"),
        _fk("certifications", "plot_id", "plots.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certifications")),
    )
    op.create_index(op.f("ix_certifications_party_id"), "certifications", ["party_id"], unique=False)
    op.create_table(
        "late_approvals",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("plot_id", sa.BigInteger(), nullable=True),
        sa.Column("earliest", sa.String(length=30), nullable=False),
        sa.Column("until", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        _fk("late_approvals", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_late_approvals")),
    )
    op.create_index(op.f("ix_late_approvals_party_id"), "late_approvals", ["party_id"], unique=False)
    op.create_table(
        "product_registrations",
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("date", sa.String(length=10), nullable=True),
        sa.Column("spec_ref", sa.String(length=200), nullable=True),
        _fk("product_registrations", "product_id", "products.id"),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_registrations")),
    )
    op.create_table(
        "party_identities",
        sa.Column("party_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("form", sa.String(length=12), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=True),
        sa.Column("platform_code", sa.String(length=40), nullable=True),
        _fk("party_identities", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_party_identities")),
    )
    op.create_table(
        "party_persons_private",
        sa.Column("party_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        _fk("party_persons_private", "party_id", "parties.id"),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_party_persons_private")),
    )


def downgrade() -> None:
    for table in ("party_persons_private", "party_identities", "product_registrations", "late_approvals",
                  "certifications", "gi_authorisations", "batch_codes", "batch_tests", "certificate_receipts",
                  "certificates", "farm_operators_private", "farm_records", "pesticides", "divisions", "log_marks"):
        op.drop_table(table)
    with op.batch_alter_table("plots") as batch_op:
        batch_op.drop_column("division")
    with op.batch_alter_table("product_areas") as batch_op:
        batch_op.drop_column("code")
    with op.batch_alter_table("parties") as batch_op:
        batch_op.alter_column("uscc", existing_type=sa.String(length=18), nullable=False)
