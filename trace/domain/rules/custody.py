"""Custody: grading and cold storage by the party that holds a batch, shipping it to another
party and that party's receipt. Nobody appends to a batch in transit until it is received."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from trace.domain import limits, scanned
from trace.domain.errors import Code, Forbidden, RuleViolation
from trace.domain.events import Entry, Grade, Receive, Ship, Store
from trace.domain.identifiers import commitment, new_salt
from trace.domain.inputs import GradeInput, ReceiveInput, ShipInput, StoreInput
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.certificates import receipt_certificate
from trace.domain.rules.common import (
    HANDLERS,
    acting_party,
    event_time,
    holder,
    not_held_by_failure,
    require_batch,
    require_party,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.rules.roles import its_work
from trace.domain.state import State
from trace.domain.tables.batches import ShipmentVehicle

SHIP_TO_SELF = Code("ship.to_self", RuleViolation, N_("You cannot ship to your own party."))
SHIP_TARGET = Code("ship.target_kind", RuleViolation,
                   N_("Ship only to a processor, cold store, carrier, retailer or produce buyer."))
NOT_ADDRESSEE = Code("custody.not_addressee", Forbidden, N_("Batch %(lot)s was not shipped to your party."))
RECEIPT_COUNT = Code("receive.packages", RuleViolation,
                     N_("The receipt counts %(got)s packages, but the batch has %(expected)s unsold packages: "
                        "every one of them is counted on arrival."))


def store_vehicle(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    """The plate behind a vehicle commitment, keyed by the entry that committed to it."""
    if private.get("plate"):
        conn.execute(insert(ShipmentVehicle.__table__), {"entry": entry.index, **private})  # type: ignore[arg-type]


def vehicle_commitment(plate: str) -> tuple[str | None, dict[str, Any]]:
    """The commitment to a plate (None for none) and the private row behind it."""
    if not plate:
        return None, {}
    salt = new_salt()
    return commitment("vehicle", salt, plate), {"plate": plate, "salt": salt}


# -- grade, store ----------------------------------------------------------------------------------


@command("grade", GradeInput)
def build_grade(state: State, inp: GradeInput, ctx: Context) -> Built:
    """A grade for a batch."""
    return Built(Grade(batch=inp.batch, grade=inp.grade, occurred_at=when(inp.occurred_at, ctx)))


@check_of(Grade)
def check_grade(state: State, ev: Grade, ctx: Context) -> None:
    """The holder grades, if grading is its kind of work."""
    batch = require_batch(state, ev.batch)
    its_work(holder(state, ctx, batch), "grade", ctx)
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Grade)
def apply_grade(state: State, ev: Grade, ctx: Context) -> None:
    """The batch's grade."""
    batch = require_batch(state, ev.batch)
    batch.grade = ev.grade
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


@command("store", StoreInput)
def build_store(state: State, inp: StoreInput, ctx: Context) -> Built:
    """Cold storage at a facility and temperature."""
    return Built(Store(batch=inp.batch, facility=inp.facility, temperature_dc=inp.temperature_c,
                       occurred_at=when(inp.occurred_at, ctx)))


@check_of(Store)
def check_store(state: State, ev: Store, ctx: Context) -> None:
    """The holder records storage."""
    batch = require_batch(state, ev.batch)
    its_work(holder(state, ctx, batch), "store", ctx)
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Store)
def apply_store(state: State, ev: Store, ctx: Context) -> None:
    """Storage changes nothing but the batch's history."""
    state.touch(ev.batch, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


# -- ship, receive ---------------------------------------------------------------------------------


@command("ship", ShipInput, store=store_vehicle)
def build_ship(state: State, inp: ShipInput, ctx: Context) -> Built:
    """A shipment; the log holds a commitment to the vehicle's plate, which may be a person's car."""
    committed, private = vehicle_commitment(inp.vehicle)
    return Built(Ship(batch=inp.batch, to_party=inp.to_party, vehicle_commitment=committed,
                      occurred_at=when(inp.occurred_at, ctx)), private)


@check_of(Ship)
def check_ship(state: State, ev: Ship, ctx: Context) -> None:
    """The holder ships, unless a failed inspection holds the batch, to a handler other than itself."""
    batch = require_batch(state, ev.batch)
    party = holder(state, ctx, batch)
    its_work(party, "ship", ctx)
    not_held_by_failure(batch)
    target = require_party(state, ev.to_party, "to_party")
    if target.id == party.id:
        raise SHIP_TO_SELF("to_party")
    if target.kind not in HANDLERS:
        raise SHIP_TARGET("to_party")
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Ship)
def apply_ship(state: State, ev: Ship, ctx: Context) -> None:
    """The batch is in transit to the receiver."""
    batch = require_batch(state, ev.batch)
    batch.transit_to_id = ev.to_party
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


@command("receive", ReceiveInput)
def build_receive(state: State, inp: ReceiveInput, ctx: Context) -> Built:
    """A receipt counting the packages that arrived (scanned, named, or, for machines, all of
    them), with the certificate the batch travels with (the receiver keeps it)."""
    batch = require_batch(state, inp.batch)
    party = acting_party(state, ctx)
    if batch.transit_to_id != party.id:  # before anything is said about the batch's packages
        raise NOT_ADDRESSEE("batch", lot=batch.lot_code)
    ids = set(inp.packages or ())
    if inp.codes:
        ids |= set(scanned.of_batch(scanned.resolve(state, inp.codes, "codes", limits.MAX_RECEIVE), batch, "codes"))
    if inp.all_packages:
        ids |= set(state.unsold_packages(batch.id))
    scanned.missing(state, batch, sorted(ids), "codes")
    return Built(Receive(batch=inp.batch, packages=sorted(ids), occurred_at=when(inp.occurred_at, ctx),
                         certificate=receipt_certificate(state, batch)))


@check_of(Receive)
def check_receive(state: State, ev: Receive, ctx: Context) -> None:
    """Only the party the batch was shipped to receives it, counting every unsold package (v3)."""
    batch = require_batch(state, ev.batch)
    party = acting_party(state, ctx)
    if batch.transit_to_id != party.id:
        raise NOT_ADDRESSEE("batch", lot=batch.lot_code)
    its_work(party, "receive", ctx)
    if ev.packages is not None:
        unsold = state.unsold_packages(batch.id)
        if len(ev.packages) != len(unsold) or set(ev.packages) != set(unsold):
            raise RECEIPT_COUNT("codes", got=len(ev.packages), expected=len(unsold))
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Receive)
def apply_receive(state: State, ev: Receive, ctx: Context) -> None:
    """Custody passes to the receiver."""
    batch = require_batch(state, ev.batch)
    assert ctx.party_id is not None
    batch.custodian_id, batch.transit_to_id = ctx.party_id, None
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
