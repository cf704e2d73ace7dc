"""Inspections: the bureau's official sampling (监督抽检) on any batch, a custodian's own check
(自检) on its own. A failed inspection holds packing, shipping and selling (see common)."""
from __future__ import annotations

from trace.domain.errors import Code, Forbidden, RuleViolation
from trace.domain.events import Inspect, Result
from trace.domain.inputs import InspectInput
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import acting_party, event_time, is_regulator, require_batch, when
from trace.domain.rules.context import Context
from trace.domain.state import State

NOT_CUSTODIAN = Code("inspection.not_custodian", Forbidden, N_("You may inspect only batches in your custody."))
KIND_MISMATCH = Code("log.inspection_kind", RuleViolation,
                     N_("The inspection is recorded as %(got)s, but its author makes it %(expected)s."))


@command("inspect", InspectInput)
def build(state: State, inp: InspectInput, ctx: Context) -> Built:
    """An inspection with its result rows; official when the bureau records it."""
    return Built(Inspect(
        batch=inp.batch, kind="official" if is_regulator(state, ctx) else "self", lab=inp.lab, report_no=inp.report_no,
        passed=inp.passed, certificate_no=inp.certificate_no, occurred_at=when(inp.occurred_at, ctx),
        results=[Result(name=r.name, value=r.value, limit=r.limit, unit=r.unit, pass_=r.passed) for r in inp.results]))


@check_of(Inspect)
def check(state: State, ev: Inspect, ctx: Context) -> None:
    """The bureau inspects any batch; anyone else only batches it holds."""
    batch = require_batch(state, ev.batch)
    party = acting_party(state, ctx)
    regulator = is_regulator(state, ctx)
    if not regulator and batch.custodian_id != party.id:
        raise NOT_CUSTODIAN("batch")
    if ev.kind is not None and ev.kind != ("official" if regulator else "self"):
        raise KIND_MISMATCH(None, got=ev.kind, expected="official" if regulator else "self")
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Inspect)
def apply(state: State, ev: Inspect, ctx: Context) -> None:
    """The batch's inspection status is the latest verdict."""
    batch = require_batch(state, ev.batch)
    batch.inspection = "passed" if ev.passed else "failed"
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
