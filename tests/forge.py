"""Writing past the domain, as an insider with write access to the database would: an entry
appended through the ledger (canonical, chained, in the Merkle tree, under a freshly signed
checkpoint) and the state tables changed to match it by the rules' apply step, with no check.

(No tests here: the helper of tests/test_rule_book.py and the insider tests.)"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from trace.clock import parse_log_time, rfc3339, utc_now
from trace.db import write_session
from trace.domain import events, rules
from trace.domain.events import CURRENT_VERSION, Event
from trace.domain.events.base import _plan
from trace.domain.rules.context import Context
from trace.domain.state import DbState
from trace.ledger.models import LogEntry


def forge(svc: Any, event: Event | dict[str, Any], *, party: int | None, user: str | int | None = None,
          apply: bool = True, version: int = CURRENT_VERSION, recorded_at: str | None = None, demo: bool = True) -> int:
    """Append `event` as if `party` (and `user`) had recorded it at `recorded_at` (default: when
    the log's last entry was recorded, as the tests' demo clock would); returns its index. Entries
    of version 3 also say whether a demo clock recorded them."""
    with write_session(svc.engine) as s:
        head = svc.ledger.lock(s)
        now = recorded_at or _recorded_at(s, event)
        if isinstance(event, Event):
            record = {"event": events.dump(_carried(event, version)), "party": party, "user": user}
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


def _recorded_at(s: Any, event: Event | dict[str, Any]) -> str:
    """When the tests' demo clock would record the event: when it happened, never before the
    log's last entry (real time for an empty log)."""
    body = s.scalar(select(LogEntry.body).order_by(LogEntry.idx.desc()).limit(1))
    last = json.loads(bytes(body)).get("recorded_at") if body is not None else None
    happened = event.get("occurred_at") if isinstance(event, dict) else getattr(event, "occurred_at", None)
    times = [x for x in (last, happened if isinstance(happened, str) else None) if x]
    return max(times, key=parse_log_time) if times else rfc3339(utc_now())


def _carried(model: Any, version: int) -> Any:
    """The model with exactly the fields an entry of `version` carries marked as set (a test
    builds an event with the fields it cares about; the log's encoding says which it holds)."""
    for name, lo, hi, nested in _plan(type(model)):
        if lo <= version <= hi:
            model.__pydantic_fields_set__.add(name)
        else:
            model.__pydantic_fields_set__.discard(name)
        if nested:
            value = getattr(model, name)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, BaseModel):
                    _carried(item, version)
    return model
