"""Parties (growers, processors, cold stores, carriers, retailers, regulators), their plots and users."""
from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace.db import Base


class PartyKind(enum.StrEnum):
    """What a party does; a user's role follows its party's kind."""

    GROWER = "grower"
    PROCESSOR = "processor"
    COLD_STORE = "cold_store"
    CARRIER = "carrier"
    RETAILER = "retailer"
    REGULATOR = "regulator"
    BUYER = "buyer"  # a produce buyer (收购商)


class CreditStatus(enum.StrEnum):
    """The market supervision bureau's quality-credit list."""

    NORMAL = "normal"
    RED = "red"
    BLACK = "black"


class Party(Base):
    """A business or authority in the chain, identified by its unified social credit code."""

    __tablename__ = "parties"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)  # none for a natural person
    township: Mapped[str] = mapped_column(String(40), default="")
    gi_logo: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_status: Mapped[str] = mapped_column(String(10), default=CreditStatus.NORMAL.value)
    credit_reason: Mapped[str] = mapped_column(String(500), default="")
    # From version 3 a credit status holds from a day and, optionally, until a day (Beijing dates).
    credit_start: Mapped[str | None] = mapped_column(String(10))
    credit_end: Mapped[str | None] = mapped_column(String(10))
    plots: Mapped[list[Plot]] = relationship(back_populates="party", order_by="Plot.id")


class PartyContact(Base):
    """Contact details: operational, private, deliberately kept out of the public log."""

    __tablename__ = "party_contacts"
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(200), default="")


class Plot(Base):
    """An orchard plot of a grower. Area in hundredths of a mu, coordinates in microdegrees."""

    __tablename__ = "plots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    township: Mapped[str] = mapped_column(String(40))
    village: Mapped[str] = mapped_column(String(40))
    area_centimu: Mapped[int] = mapped_column(BigInteger)
    lat_micro: Mapped[int | None] = mapped_column(Integer)
    lon_micro: Mapped[int | None] = mapped_column(Integer)  # version 1 entries logged these
    location: Mapped[str | None] = mapped_column(String(64))  # from version 2: a commitment to them
    division: Mapped[str | None] = mapped_column(String(12))  # from version 3: the village's division code
    party: Mapped[Party] = relationship(back_populates="plots")

    @property
    def area_mu_text(self) -> str:
        """Area as a decimal string, computed from integers."""
        whole, frac = divmod(self.area_centimu, 100)
        return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")


class PlotLocation(Base):
    """A plot's coordinates, private to its grower and the bureau: the log holds only a salted
    commitment to them (plots.location), so the operator can prove where a plot is."""

    __tablename__ = "plot_locations"
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), primary_key=True)
    lat_micro: Mapped[int] = mapped_column(Integer)
    lon_micro: Mapped[int] = mapped_column(Integer)
    salt: Mapped[str] = mapped_column(String(32))


class User(Base):
    """A login that acts for one party. Its creation is a log event (`user.create`, under its
    pseudonym); its username, password hash and session version are operational and stay out
    (failed logins are counted in trace.domain.tables.operations.LoginThrottle)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(17), unique=True)
    created_entry: Mapped[int | None] = mapped_column(BigInteger)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped at logout and at a password change: every session of the user carries the version
    # it began with, and a session of an older version is over (trace.web.auth checks it).
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    party: Mapped[Party | None] = relationship()
