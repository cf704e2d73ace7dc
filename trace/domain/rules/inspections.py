"""Inspections: the bureau's official sampling (监督抽检) on any batch, a custodian's own check
(自检) on its own. A failed inspection holds packing, shipping and selling (see common).

From version 3 an inspection means what it says: a verdict agrees with its result rows (a row
over its limit makes the verdict a failure), and only the bureau clears the bureau's failure (a
custodian's own passing check does not lift an official hold, nor one whose author is unknown
because it was recorded before version 3). Entries of versions 1 and 2 are judged by the rules
they were written under."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

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
OFFICIAL_HOLD = Code("inspection.official_hold", Forbidden,
                     N_("Batch %(lot)s failed the market supervision bureau's official sampling; only a new official "
                        "inspection by the bureau can clear it, not an own check."))
VERDICT_ROWS = Code("inspection.verdict_rows", RuleViolation,
                    N_("The verdict is “passed”, but the result %(name)s is over its limit: an inspection with a row over "
                       "its limit has failed."))
ROW_OVER_LIMIT = Code("inspection.row_over_limit", RuleViolation,
                      N_("The result %(name)s is %(value)s, over its limit of %(limit)s, so it cannot be within the limit."))

_NUMBER = re.compile(r"^\s*([<≤>≥]=?)?\s*(\d+(?:\.\d+)?)\s*$")


def _number(text: str) -> tuple[str, Decimal] | None:
    """A measured value or a limit as typed on a report ('0.08', '<0.01', '≤0.02'), or None."""
    m = _NUMBER.match(text.replace("＜", "<").replace("＞", ">").replace("<=", "≤").replace(">=", "≥"))
    if not m:
        return None
    try:
        return (m.group(1) or "", Decimal(m.group(2)))
    except InvalidOperation:
        return None


def over_limit(value: str, limit: str) -> bool:
    """Whether a measured value is certainly over a maximum limit (both numbers; '<x' values are
    below x, so never over a limit of x or more)."""
    v, lim = _number(value), _number(limit)
    if v is None or lim is None or lim[0] in (">", "≥"):
        return False
    op, amount = v
    if op in ("<", "≤"):
        return False
    return amount > lim[1] if op in ("", ">", "≥") else False


@command("inspect", InspectInput)
def build(state: State, inp: InspectInput, ctx: Context) -> Built:
    """An inspection with its result rows; official when the bureau records it."""
    return Built(Inspect(
        batch=inp.batch, kind="official" if is_regulator(state, ctx) else "self", lab=inp.lab, report_no=inp.report_no,
        passed=inp.passed, certificate_no=inp.certificate_no, occurred_at=when(inp.occurred_at, ctx),
        results=[Result(name=r.name, value=r.value, limit=r.limit, unit=r.unit, pass_=r.passed) for r in inp.results]))


@check_of(Inspect)
def check(state: State, ev: Inspect, ctx: Context) -> None:
    """The bureau inspects any batch; anyone else only batches it holds. From version 3: rows
    agree with their values and the verdict with its rows; only the bureau clears its failure."""
    batch = require_batch(state, ev.batch)
    party = acting_party(state, ctx)
    regulator = is_regulator(state, ctx)
    if not regulator and batch.custodian_id != party.id:
        raise NOT_CUSTODIAN("batch")
    if ev.kind is not None and ev.kind != ("official" if regulator else "self"):
        raise KIND_MISMATCH(None, got=ev.kind, expected="official" if regulator else "self")
    if ctx.version >= 3:
        for i, r in enumerate(ev.results):
            if r.pass_ and over_limit(r.value, r.limit):
                raise ROW_OVER_LIMIT(f"results.{i}.pass", name=r.name, value=r.value, limit=r.limit)
        failing = next((r for r in ev.results if not r.pass_), None)
        if ev.passed and failing is not None:
            raise VERDICT_ROWS("passed", name=failing.name)
        if ev.passed and not regulator and batch.inspection == "failed" and batch.inspection_kind != "self":
            raise OFFICIAL_HOLD("batch", lot=batch.lot_code)
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Inspect)
def apply(state: State, ev: Inspect, ctx: Context) -> None:
    """The batch's inspection status is the latest verdict; a failure the bureau (or an unknown
    author) recorded stays the bureau's until the bureau lifts it, whatever own checks say."""
    batch = require_batch(state, ev.batch)
    if ctx.version >= 3:
        kind = ev.kind or ""
        if not ev.passed and batch.inspection == "failed" and batch.inspection_kind != "self":
            kind = batch.inspection_kind  # an own failed check does not turn an official hold into an own one
        batch.inspection_kind = kind
    batch.inspection = "passed" if ev.passed else "failed"
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
