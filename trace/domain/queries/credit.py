"""The public quality-credit list: the parties on the red list (良好) and the black list (失信)
today, with why and since when, as the bureau recorded it in the log. Public facts: a party's
registered name, kind, township and credit code, never its contacts or logins."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import china_date
from trace.db import read_session
from trace.domain.state import credit_in_force
from trace.domain.tables.parties import Party


@dataclass(frozen=True)
class Listed:
    """A party on the red or black list, and why."""

    id: int
    name: str
    kind: str
    township: str
    uscc: str
    status: str  # red or black
    reason: str
    start: str | None  # Beijing dates; None: recorded before changes said from when
    end: str | None


def public_credit_list(engine: Engine, now: datetime | None = None) -> dict[str, list[Listed]]:
    """The red and black lists in force today (Beijing): {"red": [...], "black": [...]}."""
    with read_session(engine) as s:
        return in_force(s, beijing_day(now))


def beijing_day(now: datetime | None = None) -> str:
    """Today (or `now`'s day) in Beijing, YYYY-MM-DD: the days a credit status holds are Beijing days."""
    return china_date(now or datetime.now(UTC)).isoformat()


def status_on(p: Party, day: str) -> str:
    """A party's credit status in force on a Beijing day, as the rules read it."""
    return credit_in_force(p.credit_status, p.credit_start, p.credit_end, day)


def in_force(s: Session, today: str) -> dict[str, list[Listed]]:
    """The red and black lists on a Beijing day, as the rules read them (state.credit_in_force):
    a status whose period has not begun or has ended is not in force."""
    out: dict[str, list[Listed]] = {"red": [], "black": []}
    for p in s.scalars(select(Party).where(Party.credit_status.in_(("red", "black"))).order_by(Party.name)):
        if status_on(p, today) == "normal":
            continue
        out[p.credit_status].append(Listed(p.id, p.name, p.kind, p.township, p.uscc, p.credit_status, p.credit_reason,
                                           p.credit_start, p.credit_end))
    return out
