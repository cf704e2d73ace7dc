"""Reading log entries as typed events, and the context in which a reader's questions are asked."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from trace.clock import parse_log_time, rfc3339, utc_now
from trace.domain import events
from trace.domain.actors import Actor
from trace.domain.events import Entry
from trace.domain.rules.context import Context
from trace.ledger.models import LogEntry

CHUNK = 500  # indexes per query: an IN list stays small on every engine


def raw(s: Session, indexes: Iterable[int]) -> dict[int, bytes]:
    """The exact bytes of some entries, by index."""
    wanted = sorted(set(indexes))
    out: dict[int, bytes] = {}
    for i in range(0, len(wanted), CHUNK):
        for idx, body in s.execute(select(LogEntry.idx, LogEntry.body).where(LogEntry.idx.in_(wanted[i:i + CHUNK]))):
            out[idx] = bytes(body)
    return out


def entries(s: Session, indexes: Iterable[int]) -> dict[int, Entry]:
    """Some entries as typed entries, by index. An entry that does not decode is left out (verify
    names it; readers show only what the log's contract says)."""
    out = {}
    for idx, body in raw(s, indexes).items():
        try:
            out[idx] = events.decode(body)
        except events.MalformedEntry:
            continue
    return out


def read_context(actor: Actor) -> Context:
    """The rules' view of an actor now, for questions such as "what may I do to this batch"."""
    now = rfc3339(utc_now())
    return Context(actor.party_id, actor.pseudonym, actor.is_admin, parse_log_time(now), now,
                   version=events.CURRENT_VERSION)
