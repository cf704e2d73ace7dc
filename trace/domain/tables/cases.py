"""Consumer cases: reports sent from a package's public page or from the "code not registered"
page. Operational and private (a phone number, a photo): never in the log, and shown only to the
market supervision bureau."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace.db import Base


class Case(Base):
    """One report: what was reported (a code as scanned or typed, and the package it names if it
    is one), when, a coarse place (a town or a shop, as the consumer gives it), and the bureau's
    handling of it."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20))  # copy, quality, other
    code: Mapped[str] = mapped_column(String(200), default="")
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    place: Mapped[str] = mapped_column(String(60), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(40), default="")  # for the bureau's eyes only
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open, assigned, answered, closed
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answer: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CasePhoto(Base):
    """A photo sent with a case, re-encoded as JPEG without its metadata (no EXIF: no GPS, no
    camera serial)."""

    __tablename__ = "case_photos"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class CaseEvent(Base):
    """What the bureau did with a case, and who: assigned, answered, closed."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
