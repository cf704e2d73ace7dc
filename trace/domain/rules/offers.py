"""What a party may do to a batch now: the forms the portal offers are exactly the events the
rule book accepts. Each action is probed with a small event of its kind (one gram, one package,
the first candidate) through the same `check` that a real command and a replay run, so that the
page never offers what the domain would refuse, nor hides what it would accept."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from trace.domain import rules
from trace.domain.errors import DomainError
from trace.domain.events import (
    Correct,
    Event,
    Grade,
    Inspect,
    Merge,
    NewLotQuantity,
    NewPackage,
    Pack,
    Part,
    Process,
    Recall,
    Receive,
    Sell,
    Ship,
    Split,
    Store,
)
from trace.domain.identifiers import lot_code
from trace.domain.rules.common import HANDLERS, is_regulator
from trace.domain.rules.context import Context
from trace.domain.state import BatchState, State
from trace.domain.tables.batches import Batch, Package
from trace.domain.workdays import deadlines

ACTIONS = ("receive", "inspect", "grade", "store", "split", "merge", "process", "pack", "ship", "sell", "recall",
           "correct")
_PROBE = "0" * 64


def accepted(state: State, ctx: Context, event: Event) -> bool:
    """Whether the rule book would accept this event from this actor now."""
    try:
        rules.check(state, event, ctx)
    except DomainError:
        return False
    return True


def correctable(state: State, ctx: Context, batch: BatchState, entries: Sequence[int]) -> list[int]:
    """The entries of a batch's history this actor may correct."""
    return [e for e in entries if accepted(state, ctx, Correct(
        batch=batch.id, target=e, changes={"note": "-"}, reason="-", occurred_at=ctx.recorded_at))]


def offers(state: State, ctx: Context, batch: BatchState, *, merge_candidates: Sequence[int] = (),
           ship_targets: Sequence[int] = (), correctable_entries: Sequence[int] = ()) -> tuple[str, ...]:
    """The actions this actor may take on this batch now, in the order the page offers them."""
    now = ctx.recorded_at
    product = state.product(batch.product_id)
    prefix = product.lot_prefix if product else "X"

    def new_lot(quantity_g: int = 1) -> NewLotQuantity:
        bid = state.next_id(Batch)
        return NewLotQuantity(id=bid, lot=lot_code(prefix, batch.season, bid), quantity_g=quantity_g)

    unsold = state.unsold_packages(batch.id, limit=1)
    probes: dict[str, Callable[[], Event | None]] = {
        "receive": lambda: Receive(batch=batch.id, occurred_at=now),
        "inspect": lambda: Inspect(batch=batch.id, kind="official" if is_regulator(state, ctx) else "self", lab="-",
                                   report_no="-", passed=True, results=[], certificate_no="", occurred_at=now),
        "grade": lambda: Grade(batch=batch.id, grade="-", occurred_at=now),
        "store": lambda: Store(batch=batch.id, facility="-", temperature_dc=0, occurred_at=now),
        "split": lambda: Split(batch=batch.id, children=[new_lot()], occurred_at=now),
        "merge": lambda: Merge(batches=[Part(id=batch.id, quantity_g=1), Part(id=merge_candidates[0], quantity_g=1)],
                               child=new_lot(2), occurred_at=now) if merge_candidates else None,
        "process": lambda: Process(batch=batch.id, input_g=1, form="dried", method="", yield_permille=1000,
                                   child=new_lot(), occurred_at=now),
        "pack": lambda: Pack(batch=batch.id, occurred_at=now, packages=[
            NewPackage(id=state.next_id(Package), net_g=1, serial_hash=_PROBE)]),
        "ship": lambda: next((Ship(batch=batch.id, to_party=t, vehicle_commitment=None, occurred_at=now)
                              for t in ship_targets), None),
        "sell": lambda: Sell(batch=batch.id, packages=unsold, loose_g=0 if unsold else 1, occurred_at=now),
        "recall": lambda: Recall(batch=batch.id, reason="-", affected=state.descendants(batch.id), level=3,
                                 start_by=deadlines(3, now)[0], end_by=deadlines(3, now)[1], occurred_at=now),
        "correct": lambda: Correct(batch=batch.id, target=correctable_entries[0], changes={"note": "-"}, reason="-",
                                   occurred_at=now) if correctable_entries else None,
    }
    out = []
    for action in ACTIONS:
        probe = probes[action]()
        if probe is not None and accepted(state, ctx, probe):
            out.append(action)
    return tuple(out)


def ship_targets(state: State, parties: Sequence[tuple[int, str]], ctx: Context) -> list[int]:
    """The parties a batch may be shipped to: handlers other than the actor's own party."""
    return [pid for pid, kind in parties if kind in HANDLERS and pid != ctx.party_id]
