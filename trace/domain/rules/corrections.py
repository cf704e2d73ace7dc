"""Corrections: a later entry amends fields of an earlier event of a batch; the earlier entry
stays in the log as it was, and readers show the amended value beside the original."""
from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from trace.clock import rfc3339
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound
from trace.domain.events import Correct
from trace.domain.inputs import CorrectInput
from trace.domain.inputs.base import Temperature, Text, When, _refusal
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import acting_party, event_time, is_regulator, require_batch, when
from trace.domain.rules.context import Context
from trace.domain.rules.custody import store_vehicle, vehicle_commitment
from trace.domain.state import State

# What may be corrected, per kind of event; a time and a note may be corrected on any event.
CORRECTABLE: dict[str, frozenset[str]] = {
    "inspect": frozenset({"lab", "report_no", "certificate_no"}), "store": frozenset({"facility", "temperature_dc"}),
    "grade": frozenset({"grade"}), "ship": frozenset({"vehicle"}), "process": frozenset({"method"}),
}
ALWAYS = frozenset({"occurred_at", "note"})
# How each field's new value is parsed, and what a version 2 entry calls it.
_PARSERS: dict[str, TypeAdapter[Any]] = {
    "occurred_at": TypeAdapter(When), "temperature_dc": TypeAdapter(Temperature),
    "note": TypeAdapter(Text(500)), "lab": TypeAdapter(Text(200)), "report_no": TypeAdapter(Text(60)),
    "certificate_no": TypeAdapter(Text(60, required=False)), "facility": TypeAdapter(Text(200)),
    "grade": TypeAdapter(Text(40)), "vehicle": TypeAdapter(Text(40)), "method": TypeAdapter(Text(200, required=False)),
}
LOGGED_AS = {"vehicle": "vehicle_commitment"}

NO_SUCH_ENTRY = Code("correct.no_such_entry", NotFound, N_("Entry %(entry)s is not in batch %(lot)s's history."))
NOT_YOURS = Code("correct.not_yours", Forbidden, N_("You may correct only events your party recorded."))
FIELDS = Code("correct.fields", InvalidInput,
              N_("These fields cannot be corrected: %(bad)s; what can be corrected: %(allowed)s."))


def allowed_fields(kind: str) -> frozenset[str]:
    """The fields a correction of an event of this kind may change (as a caller names them)."""
    return CORRECTABLE.get(kind, frozenset()) | ALWAYS


@command("correct", CorrectInput, store=store_vehicle)
def build(state: State, inp: CorrectInput, ctx: Context) -> Built:
    """The changes, each parsed as its field is; a new plate is committed to, not logged."""
    batch = require_batch(state, inp.batch)
    item = state.history_item(batch.id, inp.target)
    if item is None:
        raise NO_SUCH_ENTRY("target", entry=inp.target, lot=batch.lot_code)
    allowed = allowed_fields(item.kind)
    bad = sorted(set(inp.changes) - allowed)
    if bad:
        raise FIELDS("changes", bad=bad, allowed=sorted(allowed))
    changes: dict[str, Any] = {}
    private: dict[str, Any] = {}
    for name, raw in inp.changes.items():
        try:
            value = _PARSERS[name].validate_python(raw)
        except ValidationError as exc:
            err = _refusal(CorrectInput, {**exc.errors(include_url=False)[0], "loc": ("changes",)}, None)
            raise err from None
        if name == "occurred_at":
            value = rfc3339(value) if value is not None else ctx.recorded_at
        if name == "vehicle":
            value, private = vehicle_commitment(value)
        changes[LOGGED_AS.get(name, name)] = value if value is not None else ""
    return Built(Correct(batch=batch.id, target=inp.target, changes=changes, reason=inp.reason,
                         occurred_at=when(inp.occurred_at, ctx)), private)


@check_of(Correct)
def check(state: State, ev: Correct, ctx: Context) -> None:
    """A party corrects what it recorded; the bureau anything; only fields that may change."""
    batch = require_batch(state, ev.batch)
    party = acting_party(state, ctx)
    item = state.history_item(batch.id, ev.target)
    if item is None:
        raise NO_SUCH_ENTRY("target", entry=ev.target, lot=batch.lot_code)
    if not is_regulator(state, ctx) and item.party_id != party.id:
        raise NOT_YOURS("target")
    allowed = {LOGGED_AS.get(f, f) for f in allowed_fields(item.kind)}
    if ctx.version == 1:
        allowed |= {"vehicle"} if item.kind == "ship" else set()
    bad = sorted(set(ev.changes) - allowed)
    if bad:
        raise FIELDS("changes", bad=bad, allowed=sorted(allowed))
    if "occurred_at" in ev.changes:
        event_time(str(ev.changes["occurred_at"]), ctx, batch, "changes")
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Correct)
def apply(state: State, ev: Correct, ctx: Context) -> None:
    """The target is marked corrected; a corrected grade or time changes the state too."""
    batch = require_batch(state, ev.batch)
    at = ev.changes.get("occurred_at")
    state.mark_corrected(batch.id, ev.target, ctx.index, str(at) if at is not None else None)
    if "grade" in ev.changes:
        batch.grade = str(ev.changes["grade"])
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
