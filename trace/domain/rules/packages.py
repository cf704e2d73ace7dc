"""Packages: issuing QR-coded packages from a batch, and selling them (or loose fruit).

A package's serial is 100 random bits printed in its QR code; the log holds only its SHA-256,
so the public log never hands a counterfeiter valid codes."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from trace.domain import limits, scanned
from trace.domain.errors import Code, InvalidInput, RuleViolation
from trace.domain.events import Entry, NewPackage, Pack, Sell
from trace.domain.identifiers import new_serial, serial_hash
from trace.domain.inputs import PackInput, SellInput
from trace.domain.messages import N_, Mass
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import (
    ID_SEQUENCE,
    event_time,
    holder,
    next_id,
    not_black_listed,
    not_held_by_failure,
    require_batch,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.rules.roles import its_work
from trace.domain.state import PackageState, State
from trace.domain.tables.batches import Package, PackageSecret

PACK_EXCEEDS = Code("mass.pack_exceeds_loose", RuleViolation,
                    N_("%(count)s × %(net)s = %(total)s exceeds the batch's %(loose)s unpacked."))
NOT_UNSOLD = Code("sell.not_unsold", RuleViolation, N_("Some packages are not unsold packages of this batch."))
LOOSE_EXCEEDS = Code("mass.loose_exceeds", RuleViolation, N_("Only %(loose)s are left loose."))
NOTHING_TO_SELL = Code("sell.nothing", InvalidInput, N_("Nothing to sell: no unsold packages or loose quantity."))
SELL_TWICE = Code("sell.twice", InvalidInput, N_("A package appears twice in the sale."))


def _store_serials(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    assert isinstance(entry.event, Pack)
    conn.execute(insert(PackageSecret.__table__), [  # type: ignore[arg-type]
        {"package_id": p.id, "serial": s} for p, s in zip(entry.event.packages, private["serials"], strict=True)])


@command("pack", PackInput, store=_store_serials)
def build_pack(state: State, inp: PackInput, ctx: Context) -> Built:
    """`count` packages with fresh serials and the next free ids."""
    first = state.next_id(Package)
    serials = [new_serial() for _ in range(inp.count)]
    return Built(Pack(batch=inp.batch, occurred_at=when(inp.occurred_at, ctx), packages=[
        NewPackage(id=first + i, net_g=inp.net_g, serial_hash=serial_hash(sn)) for i, sn in enumerate(serials)],
        shelf_life_days=inp.shelf_life_days), {"serials": serials})


@check_of(Pack)
def check_pack(state: State, ev: Pack, ctx: Context) -> None:
    """The holder packs, unless black-listed or held by a failed inspection, within the loose fruit."""
    batch = require_batch(state, ev.batch)
    party = holder(state, ctx, batch)
    its_work(party, "pack", ctx)
    not_black_listed(party, N_("pack"), ctx)
    not_held_by_failure(batch)
    total = sum(p.net_g for p in ev.packages)
    if total > batch.loose_g:
        nets = {p.net_g for p in ev.packages}
        raise PACK_EXCEEDS("count", count=len(ev.packages), net=Mass(nets.pop()) if len(nets) == 1 else "…",
                           total=Mass(total), loose=Mass(batch.loose_g))
    first = ev.packages[0].id
    next_id(state, Package, first, N_("package"))
    if [p.id for p in ev.packages] != list(range(first, first + len(ev.packages))):
        raise _gap(ev)
    event_time(ev.occurred_at, ctx, batch)


def _gap(ev: Pack) -> Exception:
    """Package ids of one pack event run on without a gap."""
    ids = [p.id for p in ev.packages]
    gap = next(i for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False)) if b != a + 1)
    return ID_SEQUENCE(None, what=N_("package"), got=ids[gap + 1], expected=ids[gap] + 1)


@apply_of(Pack)
def apply_pack(state: State, ev: Pack, ctx: Context) -> None:
    """The packages exist, unsold; their grams are packed."""
    batch = require_batch(state, ev.batch)
    for p in ev.packages:
        state.add(PackageState(p.id, batch.id, p.serial_hash, p.net_g, ev.occurred_at, ctx.index, "packed", None))
        batch.packed_g += p.net_g
    batch.unsold += len(ev.packages)
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)


@command("sell", SellInput)
def build_sell(state: State, inp: SellInput, ctx: Context) -> Built:
    """The packages whose codes were scanned (or whose ids are given), every unsold one when
    asked for, and/or a loose quantity. Never "the first N": a shopper's package must be the one
    the log says was sold."""
    batch = require_batch(state, inp.batch)
    ids = set(inp.packages or ())
    if inp.codes:
        its_work(holder(state, ctx, batch), "sell", ctx)  # who may sell comes before which packages exist
        ids |= set(scanned.of_batch(scanned.resolve(state, inp.codes, "codes", limits.MAX_SELL), batch, "codes"))
    if inp.all_unsold:
        ids |= set(state.unsold_packages(batch.id))
    return Built(Sell(batch=inp.batch, packages=sorted(ids), loose_g=inp.loose_g, occurred_at=when(inp.occurred_at, ctx)))


@check_of(Sell)
def check_sell(state: State, ev: Sell, ctx: Context) -> None:
    """The holder sells unsold packages of the batch and loose fruit it has, unless held."""
    batch = require_batch(state, ev.batch)
    its_work(holder(state, ctx, batch), "sell", ctx)
    not_held_by_failure(batch)
    if len(set(ev.packages)) != len(ev.packages):
        raise SELL_TWICE("packages")
    for pid in ev.packages:
        pkg = state.package(pid)
        if pkg is None or pkg.batch_id != batch.id or pkg.status != "packed":
            raise NOT_UNSOLD("packages")
    if ev.loose_g > batch.loose_g:
        raise LOOSE_EXCEEDS("loose_g", loose=Mass(batch.loose_g))
    if not ev.packages and not ev.loose_g:
        raise NOTHING_TO_SELL("packages")
    event_time(ev.occurred_at, ctx, batch)


@apply_of(Sell)
def apply_sell(state: State, ev: Sell, ctx: Context) -> None:
    """The packages are sold; the batch is sold out when nothing is left, packed or loose."""
    batch = require_batch(state, ev.batch)
    for pid in ev.packages:
        pkg = state.package(pid)
        assert pkg is not None
        pkg.status, pkg.sold_at = "sold", ev.occurred_at
    batch.unsold -= len(ev.packages)
    if ev.loose_g:
        batch.quantity_g -= ev.loose_g
    if batch.loose_g == 0 and batch.unsold == 0:
        batch.status = "sold"
    state.touch(batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
