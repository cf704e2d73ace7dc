"""Indexes derived from the log for the bureau's anomaly lists: not state the rules read, and not
compared by verify, but a pure function of the log's entries, caught up from a watermark (see
trace.domain.queries.anomalies.refresh) and rebuilt from the log at will."""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trace.db import Base


class DerivedWatermark(Base):
    """How far an index has read the log: the next entry to read."""

    __tablename__ = "derived_watermarks"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_entry: Mapped[int] = mapped_column(BigInteger, default=0)


class LateEntry(Base):
    """An entry whose event is dated a day or more before the entry was recorded (补录)."""

    __tablename__ = "derived_late_entries"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    party_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[str] = mapped_column(String(30))
    recorded_at: Mapped[str] = mapped_column(String(30), index=True)
    lag_hours: Mapped[int] = mapped_column(Integer, index=True)


class ColdReading(Base):
    """A cold-storage temperature as logged (tenths of a degree), corrected if a later entry did."""

    __tablename__ = "derived_cold_readings"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(Integer, index=True)
    party_id: Mapped[int | None] = mapped_column(Integer)
    facility: Mapped[str] = mapped_column(String(200))
    temperature_dc: Mapped[int] = mapped_column(Integer, index=True)
    occurred_at: Mapped[str] = mapped_column(String(30))
    corrected_by: Mapped[int | None] = mapped_column(BigInteger)


class StorageRange(Base):
    """The cold-storage range the bureau sets for a product (tenths of a degree): readings outside
    it are listed as anomalies. Set by a regulator on the desk; a monitoring threshold, not a rule."""

    __tablename__ = "storage_ranges"
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    min_dc: Mapped[int] = mapped_column(Integer)
    max_dc: Mapped[int] = mapped_column(Integer)
