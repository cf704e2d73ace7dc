"""Transformations keep the mass balance: a split takes no more than the batch has loose, a merge
no more than each part has and gives no more than it took, processing gives at most what went in.
A new batch keeps its parents' origin, so the GI name follows the fruit, never more fruit."""
from __future__ import annotations

from trace.domain.errors import Code, Forbidden, InvalidInput, RuleViolation
from trace.domain.events import Merge, NewLotQuantity, Part, Process, Split
from trace.domain.identifiers import lot_code
from trace.domain.inputs import MergeInput, ProcessInput, SplitInput
from trace.domain.messages import N_, Mass
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.certificates import chained
from trace.domain.rules.common import (
    GROWER,
    PROCESSOR,
    event_time,
    expected_lot,
    holder,
    next_id,
    require_batch,
    require_product,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.rules.roles import its_work
from trace.domain.state import BatchState, LinkState, State
from trace.domain.tables.batches import Batch

EXCEEDS_LOOSE = Code("mass.exceeds_loose", RuleViolation,
                     N_("This takes %(take)s from batch %(lot)s, which has only %(loose)s unpacked."))
MERGE_EXCEEDS = Code("mass.merge_exceeds_input", RuleViolation,
                     N_("The merged batch (%(out)s) exceeds its inputs (%(total)s)."))
PROCESS_EXCEEDS = Code("mass.exceeds_input", RuleViolation, N_("The output (%(out)s) cannot exceed the input (%(input)s)."))
MERGE_TWICE = Code("merge.twice", InvalidInput, N_("A batch appears twice in the merge."))
MERGE_MIXED = Code("merge.mixed", RuleViolation, N_("Only batches of the same product and form can be merged."))
PROCESSORS_ONLY = Code("process.processors_only", Forbidden, N_("Only processors and growers process fruit."))
YIELD_MISMATCH = Code("log.yield", RuleViolation, N_("The yield is recorded as %(got)s‰; output over input is %(expected)s‰."))


def _child(state: State, parent: BatchState, spec: NewLotQuantity, index: int, form: str | None = None) -> BatchState:
    child = BatchState(
        id=spec.id, lot_code=spec.lot, product_id=parent.product_id, origin_plot_id=parent.origin_plot_id,
        harvest_g=None, season=parent.season, form=form or parent.form, grade=parent.grade, quantity_g=spec.quantity_g,
        packed_g=0, unsold=0, custodian_id=parent.custodian_id, transit_to_id=None, harvested_at=parent.harvested_at,
        status="active", inspection=parent.inspection, recalled=False, recall_entry=None, created_entry=index,
        inspection_kind=parent.inspection_kind)
    state.add(child)
    return child


def _take(parent: BatchState, quantity_g: int) -> None:
    parent.quantity_g -= quantity_g
    if parent.quantity_g == 0:
        parent.status = "consumed"


def _within_loose(batch: BatchState, take: int, field: str) -> None:
    if take > batch.loose_g:
        raise EXCEEDS_LOOSE(field, take=Mass(take), lot=batch.lot_code, loose=Mass(batch.loose_g))


def _fresh_lots(state: State, specs: list[NewLotQuantity], product_id: str, season: int) -> None:
    product = require_product(state, product_id)
    for i, spec in enumerate(specs):
        next_id(state, Batch, spec.id - i, N_("batch"))
        expected_lot(product, season, spec.id, spec.lot)


# -- split ---------------------------------------------------------------------------------------


@command("split", SplitInput)
def build_split(state: State, inp: SplitInput, ctx: Context) -> Built:
    """New lots with the next free ids, one per quantity."""
    batch = require_batch(state, inp.batch)
    product = require_product(state, batch.product_id)
    first = state.next_id(Batch)
    children = [NewLotQuantity(id=first + i, lot=lot_code(product.lot_prefix, batch.season, first + i), quantity_g=q)
                for i, q in enumerate(inp.quantities)]
    return Built(Split(batch=batch.id, children=children, occurred_at=when(inp.occurred_at, ctx),
                       certificates=chained(state, [batch], children)))


@check_of(Split)
def check_split(state: State, ev: Split, ctx: Context) -> None:
    """The holder splits no more than the batch has loose."""
    batch = require_batch(state, ev.batch)
    its_work(holder(state, ctx, batch), "split", ctx)
    _within_loose(batch, sum(c.quantity_g for c in ev.children), "quantities")
    _fresh_lots(state, ev.children, batch.product_id, batch.season)
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Split)
def apply_split(state: State, ev: Split, ctx: Context) -> None:
    """The parent gives each child its quantity."""
    parent = require_batch(state, ev.batch)
    state.touch(parent.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
    for spec in ev.children:
        _take(parent, spec.quantity_g)
        _child(state, parent, spec, ctx.index)
        state.add(LinkState(parent.id, spec.id, spec.quantity_g, "split", ctx.index))
        state.touch(spec.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


# -- merge ---------------------------------------------------------------------------------------


@command("merge", MergeInput)
def build_merge(state: State, inp: MergeInput, ctx: Context) -> Built:
    """One new lot from the parts (its quantity: what they give, unless said otherwise)."""
    first = require_batch(state, inp.parts[0].batch, "parts")
    batches = [state.batch(p.batch) for p in inp.parts]
    season = min(b.season for b in batches if b is not None)
    product = require_product(state, first.product_id)
    bid = state.next_id(Batch)
    out = sum(p.quantity_g for p in inp.parts) if inp.quantity_g is None else inp.quantity_g
    child = NewLotQuantity(id=bid, lot=lot_code(product.lot_prefix, season, bid), quantity_g=out)
    return Built(Merge(batches=[Part(id=p.batch, quantity_g=p.quantity_g) for p in inp.parts], child=child,
                       occurred_at=when(inp.occurred_at, ctx),
                       certificates=chained(state, [b for b in batches if b is not None], [child])))


@check_of(Merge)
def check_merge(state: State, ev: Merge, ctx: Context) -> None:
    """The holder merges batches of one product and form it holds, within what each has loose."""
    batches = []
    for part in ev.batches:
        batch = require_batch(state, part.id, "parts")
        its_work(holder(state, ctx, batch, "parts"), "merge", ctx)
        _within_loose(batch, part.quantity_g, "parts")
        batches.append(batch)
    if len({b.id for b in batches}) != len(batches):
        raise MERGE_TWICE("parts")
    if len({(b.product_id, b.form) for b in batches}) != 1:
        raise MERGE_MIXED("parts")
    total = sum(p.quantity_g for p in ev.batches)
    if ev.child.quantity_g > total:
        raise MERGE_EXCEEDS("quantity_g", out=Mass(ev.child.quantity_g), total=Mass(total))
    event_time(ev.occurred_at, ctx, max(batches, key=lambda b: b.harvested_at))
    _fresh_lots(state, [ev.child], batches[0].product_id, min(b.season for b in batches))


@apply_of(Merge)
def apply_merge(state: State, ev: Merge, ctx: Context) -> None:
    """The child has the parts' common origin, grade and inspection, or none where they differ."""
    parents = [require_batch(state, part.id) for part in ev.batches]
    first = parents[0]
    child = _child(state, first, ev.child, ctx.index)
    child.origin_plot_id = first.origin_plot_id if all(p.origin_plot_id == first.origin_plot_id for p in parents) else None
    child.harvested_at = min(p.harvested_at for p in parents)
    child.season = min(p.season for p in parents)
    child.grade = first.grade if all(p.grade == first.grade for p in parents) else ""
    inspections = {p.inspection for p in parents}
    child.inspection = "failed" if "failed" in inspections else ("passed" if inspections == {"passed"} else "none")
    # Whose verdict it is: a failure stays the bureau's if any part's was; a pass is the bureau's
    # only if every part's was (version 3 on; before, nobody recorded whose it was).
    kinds = {p.inspection_kind for p in parents if p.inspection == child.inspection}
    child.inspection_kind = ("" if child.inspection == "none" else
                             next((k for k in ("official", "", "self") if k in kinds), "") if child.inspection == "failed"
                             else ("official" if kinds == {"official"} else ("self" if "self" in kinds else "")))
    for parent, part in zip(parents, ev.batches, strict=True):
        _take(parent, part.quantity_g)
        state.add(LinkState(parent.id, child.id, part.quantity_g, "merge", ctx.index))
        state.touch(parent.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
    state.touch(child.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


# -- process -------------------------------------------------------------------------------------


@command("process", ProcessInput)
def build_process(state: State, inp: ProcessInput, ctx: Context) -> Built:
    """A new lot of another form; the yield is output over input, in per mille."""
    batch = require_batch(state, inp.batch)
    product = require_product(state, batch.product_id)
    bid = state.next_id(Batch)
    child = NewLotQuantity(id=bid, lot=lot_code(product.lot_prefix, batch.season, bid), quantity_g=inp.output_g)
    return Built(Process(batch=batch.id, input_g=inp.input_g, form=inp.form, method=inp.method,
                         yield_permille=min(1000, inp.output_g * 1000 // inp.input_g), child=child,
                         occurred_at=when(inp.occurred_at, ctx), certificates=chained(state, [batch], [child])))


@check_of(Process)
def check_process(state: State, ev: Process, ctx: Context) -> None:
    """Processors (and growers) process what they hold; the output never exceeds the input."""
    if ev.child.quantity_g > ev.input_g:
        raise PROCESS_EXCEEDS("output_g", out=Mass(ev.child.quantity_g), input=Mass(ev.input_g))
    batch = require_batch(state, ev.batch)
    party = holder(state, ctx, batch)
    if party.kind not in (PROCESSOR, GROWER):
        raise PROCESSORS_ONLY()
    _within_loose(batch, ev.input_g, "input_g")
    expected = ev.child.quantity_g * 1000 // ev.input_g
    if ev.yield_permille != expected:
        raise YIELD_MISMATCH(None, got=ev.yield_permille, expected=expected)
    _fresh_lots(state, [ev.child], batch.product_id, batch.season)
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Process)
def apply_process(state: State, ev: Process, ctx: Context) -> None:
    """The input leaves the parent; the child is a new form and needs its own inspection."""
    parent = require_batch(state, ev.batch)
    _take(parent, ev.input_g)
    child = _child(state, parent, ev.child, ctx.index, form=ev.form)
    child.inspection, child.inspection_kind = "none", ""
    state.add(LinkState(parent.id, child.id, ev.input_g, "process", ctx.index))
    state.touch(parent.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
    state.touch(child.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
