"""Recalls: the bureau recalls any batch, a custodian its own; the recall reaches the batch and
every batch made from it, at once.

From version 3 a recall has a level of the food-recall rules (食品召回管理办法) and the deadlines
that follow from it (trace.domain.workdays), and it sets every batch it reaches a task: the
packages and loose fruit the batch had. Each holder of recalled stock then records what it did
(下架 taken off sale, 退回 returned, 销毁 destroyed, with counts) as `recall.action` entries; a
package taken off sale may later be returned or destroyed, and is counted where it is now."""
from __future__ import annotations

from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.events import Recall, RecallAction
from trace.domain.inputs import RecallActionInput, RecallInput
from trace.domain.messages import N_, Mass, Term
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import acting_party, event_time, is_regulator, require_batch, when
from trace.domain.rules.context import Context
from trace.domain.state import RecallTaskState, State
from trace.domain.workdays import deadlines

NOT_CUSTODIAN = Code("recall.not_custodian", Forbidden, N_("You may recall only batches in your custody."))
ALREADY = Code("recall.already", RuleViolation, N_("Batch %(lot)s is already recalled."))
AFFECTED = Code("log.recall_reach", RuleViolation,
                N_("The recall names %(got)s batches, but the batch and those made from it are %(expected)s."))
LEVEL = Code("recall.level", InvalidInput, N_("A recall needs its level: I, II or III."))
DEADLINES = Code("log.recall_deadlines", RuleViolation,
                 N_("The recall's deadlines are %(got)s; a level %(level)s recall decided then has %(expected)s."))
NO_TASK = Code("recall.no_task", NotFound, N_("Entry %(entry)s is not a recall that reached batch %(lot)s."))
NOT_HOLDER = Code("recall.not_holder", Forbidden,
                  N_("Only the party holding batch %(lot)s records what was done with its recalled stock."))
NOTHING = Code("recall.action_empty", InvalidInput, N_("Say how many packages, or how much loose fruit, this was."))
EXCEEDS = Code("recall.action_exceeds", RuleViolation,
               N_("Batch %(lot)s has only %(packages)s packages and %(loose)s of loose fruit that could be %(action)s."))

ACTION_WORDS = {"off_sale": N_("taken off sale"), "returned": N_("returned"), "destroyed": N_("destroyed")}


@command("recall", RecallInput)
def build(state: State, inp: RecallInput, ctx: Context) -> Built:
    """A recall of the batch and every batch made from it, with its level's deadlines."""
    batch = require_batch(state, inp.batch)
    at = when(inp.occurred_at, ctx)
    level = int(inp.level)
    start_by, end_by = deadlines(level, at)
    return Built(Recall(batch=batch.id, reason=inp.reason, affected=state.descendants(batch.id), level=level,
                        start_by=start_by, end_by=end_by, occurred_at=at))


@check_of(Recall)
def check(state: State, ev: Recall, ctx: Context) -> None:
    """Who may recall, once, that the recall reaches exactly what was made from the batch, and
    (version 3 on) that it has a level and that level's deadlines."""
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
    if ctx.version >= 3:
        if ev.level is None:
            raise LEVEL("level")
        right = deadlines(ev.level, ev.occurred_at)
        if (ev.start_by, ev.end_by) != right:
            raise DEADLINES(None, got=f"{ev.start_by} / {ev.end_by}", level=ev.level, expected=" / ".join(right))


@apply_of(Recall)
def apply(state: State, ev: Recall, ctx: Context) -> None:
    """Every affected batch is recalled by this entry; from version 3 each gets its task."""
    for bid in ev.affected:
        batch = require_batch(state, bid)
        batch.recalled, batch.recall_entry = True, ctx.index
        if ctx.version >= 3:
            total = state.package_count(bid)
            state.add(RecallTaskState(ctx.index, bid, total, total - batch.unsold, batch.loose_g))
        state.touch(bid, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


# -- what holders did ------------------------------------------------------------------------


@command("recall.action", RecallActionInput)
def build_action(state: State, inp: RecallActionInput, ctx: Context) -> Built:
    """What the holder did with recalled stock of one batch."""
    return Built(RecallAction(recall=inp.recall, batch=inp.batch, action=inp.action, packages=inp.packages,
                              loose_g=inp.loose_g, note=inp.note, occurred_at=when(inp.occurred_at, ctx)))


def _room(task: RecallTaskState, action: str) -> tuple[int, int]:
    """Packages and grams an action may take: off sale draws on what is still out; a return or a
    destruction on what was taken off sale, then on what is still out."""
    if action == "off_sale":
        return task.out, task.out_g
    return task.out + task.off_sale, task.out_g + task.off_sale_g


@check_of(RecallAction)
def check_action(state: State, ev: RecallAction, ctx: Context) -> None:
    """The holder of a recalled batch records what it did, within what the batch had."""
    batch = require_batch(state, ev.batch)
    task = state.recall_task(ev.recall, ev.batch)
    if task is None:
        raise NO_TASK("recall", entry=ev.recall, lot=batch.lot_code)
    party = acting_party(state, ctx)
    if batch.custodian_id != party.id:
        raise NOT_HOLDER("batch", lot=batch.lot_code)
    if not ev.packages and not ev.loose_g:
        raise NOTHING("packages")
    packages, grams = _room(task, ev.action)
    if ev.packages > packages or ev.loose_g > grams:
        raise EXCEEDS("packages" if ev.packages > packages else "loose_g", lot=batch.lot_code, packages=packages,
                      loose=Mass(grams), action=Term(ACTION_WORDS[ev.action]))
    event_time(ev.occurred_at, ctx, batch)


@apply_of(RecallAction)
def apply_action(state: State, ev: RecallAction, ctx: Context) -> None:
    """The counts move to where the stock is now."""
    task = state.recall_task(ev.recall, ev.batch)
    assert task is not None
    if ev.action == "off_sale":
        task.off_sale += ev.packages
        task.off_sale_g += ev.loose_g
    else:
        from_held, from_held_g = min(ev.packages, task.off_sale), min(ev.loose_g, task.off_sale_g)
        task.off_sale -= from_held
        task.off_sale_g -= from_held_g
        if ev.action == "returned":
            task.returned += ev.packages
            task.returned_g += ev.loose_g
        else:
            task.destroyed += ev.packages
            task.destroyed_g += ev.loose_g
    task.first_action_at = min(task.first_action_at or ev.occurred_at, ev.occurred_at)
    task.last_action_at = max(task.last_action_at or ev.occurred_at, ev.occurred_at)
    state.touch(ev.batch, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
