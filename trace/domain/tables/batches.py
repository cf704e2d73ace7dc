"""Batches (lots), their lineage and history, and the packages issued from them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace.db import Base
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, Plot


class Batch(Base):
    """A lot of one product. Quantities are integer grams; times are RFC 3339 UTC strings."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint("quantity_g >= 0", name="quantity_not_negative"),
        CheckConstraint("packed_g >= 0 AND packed_g <= quantity_g", name="packed_within_quantity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lot_code: Mapped[str] = mapped_column(String(40), unique=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    origin_plot_id: Mapped[int | None] = mapped_column(ForeignKey("plots.id"))
    harvest_g: Mapped[int | None] = mapped_column(BigInteger)  # set on harvest batches only
    season: Mapped[int] = mapped_column(Integer)
    form: Mapped[str] = mapped_column(String(20), default="fresh")
    grade: Mapped[str] = mapped_column(String(40), default="")
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    packed_g: Mapped[int] = mapped_column(BigInteger, default=0)
    unsold: Mapped[int] = mapped_column(Integer, default=0)  # packages issued and not yet sold
    custodian_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    transit_to_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    harvested_at: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active, consumed, sold
    inspection: Mapped[str] = mapped_column(String(10), default="none")  # none, passed, failed
    recalled: Mapped[bool] = mapped_column(Boolean, default=False)
    recall_entry: Mapped[int | None] = mapped_column(BigInteger)
    created_entry: Mapped[int] = mapped_column(BigInteger)
    # Whose verdict `inspection` is (from version 3): official (the bureau's sampling), self (a
    # custodian's own check), or '' (none yet, or recorded before version 3).
    inspection_kind: Mapped[str] = mapped_column(String(10), default="")
    product: Mapped[Product] = relationship()
    plot: Mapped[Plot | None] = relationship()
    custodian: Mapped[Party] = relationship(foreign_keys=[custodian_id])
    transit_to: Mapped[Party | None] = relationship(foreign_keys=[transit_to_id])

    @property
    def loose_g(self) -> int:
        """Grams not yet packed."""
        return self.quantity_g - self.packed_g


class BatchLink(Base):
    """Lineage: `child` was made from `quantity_g` of `parent` (split, merge, process)."""

    __tablename__ = "batch_links"
    __table_args__ = (Index("ix_batch_links_child_id", "child_id"),)  # tracing back goes child -> parent
    parent_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    entry: Mapped[int] = mapped_column(BigInteger)


class BatchEvent(Base):
    """Index from a batch to the log entries of its history."""

    __tablename__ = "batch_events"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[str] = mapped_column(String(30))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    corrected_by: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_batch_events_entry", "entry"), Index("ix_batch_events_party_id", "party_id", "entry"),
                      Index("ix_batch_events_kind", "kind", "occurred_at"))


class Package(Base):
    """A package with a QR code. The log holds only a hash of its serial, so the public log
    never lists valid codes for a counterfeiter to print."""

    __tablename__ = "packages"
    __table_args__ = (CheckConstraint("net_g > 0", name="net_positive"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    serial_hash: Mapped[str] = mapped_column(String(64), unique=True)
    net_g: Mapped[int] = mapped_column(BigInteger)
    packed_at: Mapped[str] = mapped_column(String(30))
    pack_entry: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="packed")  # packed, sold
    sold_at: Mapped[str | None] = mapped_column(String(30))
    batch: Mapped[Batch] = relationship()


class PackageSecret(Base):
    """The serial printed in the QR code. Secret like the signing key: not in the log."""

    __tablename__ = "package_secrets"
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), unique=True)


class ShipmentVehicle(Base):
    """The plate a shipment (or a correction of it) named. Private, like a phone number: the log
    holds a salted commitment to it (SHA-256 of the salt and the plate), so the operator can prove
    what it was without the public log showing it."""

    __tablename__ = "shipment_vehicles"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    plate: Mapped[str] = mapped_column(String(40))
    salt: Mapped[str] = mapped_column(String(32))


class PackageScan(Base):
    """Scan counter of a package code: counts and coarse data only, nothing about the consumer."""

    __tablename__ = "package_scans"
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Distinct clients after sale, counted by a salted, truncated hash kept only as a small set.
    clients_after_sale: Mapped[int] = mapped_column(Integer, default=0)
    client_marks: Mapped[str] = mapped_column(String(400), default="")


class RecallTask(Base):
    """What one recall asks of one batch it reached (from version 3): the packages and loose
    grams it had when recalled, and what its holders have recorded doing with them so far. A
    package taken off sale (下架) may later be returned (退回) or destroyed (销毁); the counts say
    where each package is now, so "still out" is what is neither sold before the recall nor pulled."""

    __tablename__ = "recall_tasks"
    recall_entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True, index=True)
    packages: Mapped[int] = mapped_column(Integer)  # issued from the batch
    sold: Mapped[int] = mapped_column(Integer)  # sold before the recall
    loose_g: Mapped[int] = mapped_column(BigInteger)  # loose fruit at the recall
    off_sale: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    destroyed: Mapped[int] = mapped_column(Integer, default=0)
    off_sale_g: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_g: Mapped[int] = mapped_column(BigInteger, default=0)
    destroyed_g: Mapped[int] = mapped_column(BigInteger, default=0)
    first_action_at: Mapped[str | None] = mapped_column(String(30))
    last_action_at: Mapped[str | None] = mapped_column(String(30))

    @property
    def out(self) -> int:
        """Packages neither sold before the recall nor pulled since."""
        return self.packages - self.sold - self.off_sale - self.returned - self.destroyed

    @property
    def out_g(self) -> int:
        """Loose grams not pulled yet."""
        return self.loose_g - self.off_sale_g - self.returned_g - self.destroyed_g

    @property
    def pulled(self) -> int:
        """Packages taken off sale, returned or destroyed."""
        return self.off_sale + self.returned + self.destroyed
