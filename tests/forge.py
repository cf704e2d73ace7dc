"""Writing past the domain, as an insider with write access to the database would: an entry
appended through the ledger (canonical, chained, in the Merkle tree, under a freshly signed
checkpoint) and the state tables changed to match it by the rules' apply step, with no check.

(No tests here: the helper of tests/test_rule_book.py and the insider tests.)"""
from __future__ import annotations

from typing import Any

from trace.clock import parse_log_time, rfc3339, utc_now
from trace.db import write_session
from trace.domain import events, rules
from trace.domain.events import Event
from trace.domain.rules.context import Context
from trace.domain.state import DbState


def forge(svc: Any, event: Event | dict[str, Any], *, party: int | None, user: str | int | None = None,
          apply: bool = True, version: int = 2, recorded_at: str | None = None, demo: bool = True) -> int:
    """Append `event` as if `party` (and `user`) had recorded it at `recorded_at` (default: now);
    returns its index. Entries of version 3 also say whether a demo clock recorded them."""
    now = recorded_at or rfc3339(utc_now())
    with write_session(svc.engine) as s:
        head = svc.ledger.lock(s)
        if isinstance(event, Event):
            record = {"event": events.dump(event), "party": party, "user": user}
            if version >= 2:
                record["v"] = version
        else:
            record = {"event": event, "party": party, "user": user, "v": version}
        if version >= 3:
            record["demo"] = demo
        head, appended = svc.ledger.append(s, head, record, now)
        if apply:
            entry = events.decode(appended.body)
            state = DbState(s.connection())
            ctx = Context(party, user, party is None, parse_log_time(now), now, appended.index, version,
                          demo and version >= 3)
            rules.apply(state, entry.event, ctx)
            state.flush()
        svc.ledger.sign_checkpoint(s, head)
    return appended.index
