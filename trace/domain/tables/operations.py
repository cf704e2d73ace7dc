"""Operational tables that stay out of the log and out of the replay: login throttling, the
one-time tokens of the portal's forms, and an index of the catalogue's history.

None of these is a projection of the log that `verify` compares: throttling and form tokens are
about requests, not fruit; the catalogue index only points at log entries, and readers decode
those entries themselves (a damaged index can hide a version of a product, never invent one)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trace.db import Base


class LoginThrottle(Base):
    """Failed logins counted per key: a client network, an account, the two together, or a
    device that logged in before. `next_at` is when the next attempt may start; `busy_until`
    holds the key while one attempt's password is being checked, so parallel guesses queue."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    busy_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_login_throttle_last_at", "last_at"),)


class FormSubmission(Base):
    """A form's one-time token, used as the idempotency key of the command it ran: a second
    submit of the same form finds the first one's entry here and records nothing."""

    __tablename__ = "form_submissions"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(40))  # who sent it: a user id, or the console
    command: Mapped[str] = mapped_column(String(40))
    entry: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_form_submissions_created_at", "created_at"),)


class ProductHistory(Base):
    """Which log entries defined or changed a product (the catalogue page shows its history)."""

    __tablename__ = "product_history"
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
