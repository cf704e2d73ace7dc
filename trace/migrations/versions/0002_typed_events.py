"""typed events, version 2 entries: unsold counts, private coordinates and plates, logged logins

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Version 2 entries keep plots' coordinates and vehicles' plates out of the public log (they hold
salted commitments; the values and salts live in plot_locations and shipment_vehicles) and name
users by pseudonym. Logins made before this revision get a pseudonym here, and `flask --app
trace init` logs their `user.create` entries (the version 1 entries they wrote keep their numeric
ids)."""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("unsold", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE batches SET unsold = (SELECT count(*) FROM packages"
                " WHERE packages.batch_id = batches.id AND packages.status = 'packed')")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.alter_column("unsold", server_default=None)

    with op.batch_alter_table("plots") as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(length=64), nullable=True))
    op.create_table(
        "plot_locations",
        sa.Column("plot_id", sa.Integer(), nullable=False),
        sa.Column("lat_micro", sa.Integer(), nullable=False),
        sa.Column("lon_micro", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["plot_id"], ["plots.id"], name=op.f("fk_plot_locations_plot_id_plots")),
        sa.PrimaryKeyConstraint("plot_id", name=op.f("pk_plot_locations")),
    )
    op.create_table(
        "shipment_vehicles",
        sa.Column("entry", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("plate", sa.String(length=40), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entry", name=op.f("pk_shipment_vehicles")),
    )

    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("pseudonym", sa.String(length=17), nullable=True))
        batch_op.add_column(sa.Column("created_entry", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    for (uid,) in conn.execute(sa.text("SELECT id FROM users")).all():
        conn.execute(sa.text("UPDATE users SET pseudonym = :p WHERE id = :i"), {"p": "u" + secrets.token_hex(8), "i": uid})
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("pseudonym", existing_type=sa.String(length=17), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_pseudonym"), ["pseudonym"])

    with op.batch_alter_table("batch_events") as batch_op:
        batch_op.create_index("ix_batch_events_entry", ["entry"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batch_events") as batch_op:
        batch_op.drop_index("ix_batch_events_entry")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_pseudonym"), type_="unique")
        batch_op.drop_column("created_entry")
        batch_op.drop_column("pseudonym")
    op.drop_table("shipment_vehicles")
    op.drop_table("plot_locations")
    with op.batch_alter_table("plots") as batch_op:
        batch_op.drop_column("location")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("unsold")
