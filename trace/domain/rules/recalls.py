"""Recalls: the bureau recalls any batch, a custodian its own; the recall reaches the batch and
every batch made from it, at once."""
from __future__ import annotations

from trace.domain.errors import Code, Forbidden, RuleViolation
from trace.domain.events import Recall
from trace.domain.inputs import RecallInput
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import acting_party, event_time, is_regulator, require_batch, when
from trace.domain.rules.context import Context
from trace.domain.state import State

NOT_CUSTODIAN = Code("recall.not_custodian", Forbidden, N_("You may recall only batches in your custody."))
ALREADY = Code("recall.already", RuleViolation, N_("Batch %(lot)s is already recalled."))
AFFECTED = Code("log.recall_reach", RuleViolation,
                N_("The recall names %(got)s batches, but the batch and those made from it are %(expected)s."))


@command("recall", RecallInput)
def build(state: State, inp: RecallInput, ctx: Context) -> Built:
    """A recall of the batch and every batch made from it."""
    batch = require_batch(state, inp.batch)
    return Built(Recall(batch=batch.id, reason=inp.reason, affected=state.descendants(batch.id),
                        occurred_at=when(inp.occurred_at, ctx)))


@check_of(Recall)
def check(state: State, ev: Recall, ctx: Context) -> None:
    """Who may recall, once, and that the recall reaches exactly what was made from the batch."""
    batch = require_batch(state, ev.batch)
    party = acting_party(state, ctx)
    if not is_regulator(state, ctx) and batch.custodian_id != party.id:
        raise NOT_CUSTODIAN("batch")
    if batch.recalled:
        raise ALREADY("batch", lot=batch.lot_code)
    expected = state.descendants(batch.id)
    if ev.affected != expected:
        raise AFFECTED(None, got=len(ev.affected), expected=len(expected))
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Recall)
def apply(state: State, ev: Recall, ctx: Context) -> None:
    """Every affected batch is recalled by this entry."""
    for bid in ev.affected:
        batch = require_batch(state, bid)
        batch.recalled, batch.recall_entry = True, ctx.index
        state.touch(bid, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
