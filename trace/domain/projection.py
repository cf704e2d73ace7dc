"""The state tables as a projection of the log: `apply` turns one entry into state changes.

The same code runs for a live write and for a replay from entry 0, so replaying the log
rebuilds the state tables exactly; `verify` relies on that."""
from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, create_engine, delete, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from trace.domain.batches import Batch, BatchEvent, BatchLink, Package, PackageSecret
from trace.domain.catalogue import Product, ProductArea
from trace.domain.codes import serial_hash
from trace.domain.parties import Party, Plot
from trace.migrations import upgrade

Record = dict[str, Any]
# The tables rebuilt from the log, in dependency order.
PROJECTED: list[Table] = [
    Product.__table__, ProductArea.__table__, Party.__table__, Plot.__table__,  # type: ignore[list-item]
    Batch.__table__, BatchLink.__table__, BatchEvent.__table__, Package.__table__,  # type: ignore[list-item]
]


def _touch(s: Session, batch_id: int, index: int, record: Record) -> None:
    ev = record["event"]
    s.add(BatchEvent(batch_id=batch_id, entry=index, kind=ev["type"], occurred_at=ev.get("occurred_at", record["recorded_at"]), party_id=record.get("party")))


def _new_batch(s: Session, index: int, record: Record, spec: Record, parent: Batch, qty: int, form: str | None = None) -> Batch:
    child = Batch(
        id=spec["id"], lot_code=spec["lot"], product_id=parent.product_id, origin_plot_id=parent.origin_plot_id,
        season=parent.season, form=form or parent.form, grade=parent.grade, quantity_g=qty, packed_g=0,
        custodian_id=parent.custodian_id, harvested_at=parent.harvested_at, status="active",
        inspection=parent.inspection, recalled=False, created_entry=index,
    )
    s.add(child)
    return child


def _take(parent: Batch, qty: int) -> None:
    parent.quantity_g -= qty
    if parent.quantity_g == 0:
        parent.status = "consumed"


def _product_define(s: Session, index: int, record: Record) -> None:
    p = record["event"]["product"]
    prod = s.get(Product, p["id"])
    if prod is None:
        prod = Product(id=p["id"])
        s.add(prod)
    prod.name_zh, prod.name_en, prod.gi_ref = p["name_zh"], p["name_en"], p.get("gi_ref", "")
    prod.gtin, prod.lot_prefix = p.get("gtin"), p["lot_prefix"]
    prod.harvest_months = ",".join(str(m) for m in p["harvest_months"])
    prod.yield_g_per_mu = p["yield_g_per_mu"]
    prod.area = [ProductArea(township=a["township"], village=a["village"]) for a in p["area"]]


def _party_register(s: Session, index: int, record: Record) -> None:
    p = record["event"]["party"]
    s.add(Party(id=p["id"], kind=p["kind"], name=p["name"], uscc=p["uscc"], township=p.get("township", ""),
                gi_logo=p.get("gi_logo", False), credit_status="normal", credit_reason=""))


def _party_credit(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    party = s.get_one(Party, ev["party_id"])
    party.credit_status, party.credit_reason = ev["status"], ev["reason"]


def _plot_register(s: Session, index: int, record: Record) -> None:
    p = record["event"]["plot"]
    s.add(Plot(id=p["id"], party_id=p["party_id"], township=p["township"], village=p["village"],
               area_centimu=p["area_centimu"], lat_micro=p.get("lat_micro"), lon_micro=p.get("lon_micro")))


def _harvest(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    s.add(Batch(
        id=ev["batch"]["id"], lot_code=ev["batch"]["lot"], product_id=ev["product"], origin_plot_id=ev["plot"],
        harvest_g=ev["quantity_g"], season=ev["season"], form="fresh", grade="", quantity_g=ev["quantity_g"],
        packed_g=0, custodian_id=record["party"], harvested_at=ev["occurred_at"], status="active",
        inspection="none", recalled=False, created_entry=index,
    ))
    s.flush()
    _touch(s, ev["batch"]["id"], index, record)


def _inspect(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    s.get_one(Batch, ev["batch"]).inspection = "passed" if ev["passed"] else "failed"
    _touch(s, ev["batch"], index, record)


def _grade(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    s.get_one(Batch, ev["batch"]).grade = ev["grade"]
    _touch(s, ev["batch"], index, record)


def _split(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    parent = s.get_one(Batch, ev["batch"])
    _touch(s, parent.id, index, record)
    for spec in ev["children"]:
        _take(parent, spec["quantity_g"])
        _new_batch(s, index, record, spec, parent, spec["quantity_g"])
        s.flush()
        s.add(BatchLink(parent_id=parent.id, child_id=spec["id"], quantity_g=spec["quantity_g"], kind="split", entry=index))
        _touch(s, spec["id"], index, record)


def _merge(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    parents = [s.get_one(Batch, part["id"]) for part in ev["batches"]]
    first = parents[0]
    child = _new_batch(s, index, record, ev["child"], first, ev["child"]["quantity_g"])
    child.origin_plot_id = first.origin_plot_id if all(p.origin_plot_id == first.origin_plot_id for p in parents) else None
    child.harvested_at = min(p.harvested_at for p in parents)
    child.season = min(p.season for p in parents)
    child.grade = first.grade if all(p.grade == first.grade for p in parents) else ""
    inspections = {p.inspection for p in parents}
    child.inspection = "failed" if "failed" in inspections else ("passed" if inspections == {"passed"} else "none")
    s.flush()
    for parent, part in zip(parents, ev["batches"], strict=True):
        _take(parent, part["quantity_g"])
        s.add(BatchLink(parent_id=parent.id, child_id=child.id, quantity_g=part["quantity_g"], kind="merge", entry=index))
        _touch(s, parent.id, index, record)
    _touch(s, child.id, index, record)


def _process(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    parent = s.get_one(Batch, ev["batch"])
    _take(parent, ev["input_g"])
    child = _new_batch(s, index, record, ev["child"], parent, ev["child"]["quantity_g"], form=ev["form"])
    child.inspection = "none"  # a new product form needs its own inspection
    s.flush()
    s.add(BatchLink(parent_id=parent.id, child_id=child.id, quantity_g=ev["input_g"], kind="process", entry=index))
    _touch(s, parent.id, index, record)
    _touch(s, child.id, index, record)


def _pack(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    batch = s.get_one(Batch, ev["batch"])
    total = 0
    for pkg in ev["packages"]:
        s.add(Package(id=pkg["id"], batch_id=batch.id, serial_hash=pkg["serial_hash"], net_g=pkg["net_g"],
                      packed_at=ev["occurred_at"], pack_entry=index, status="packed"))
        total += pkg["net_g"]
    batch.packed_g += total
    _touch(s, batch.id, index, record)


def _store(s: Session, index: int, record: Record) -> None:
    _touch(s, record["event"]["batch"], index, record)


def _ship(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    s.get_one(Batch, ev["batch"]).transit_to_id = ev["to_party"]
    _touch(s, ev["batch"], index, record)


def _receive(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    batch = s.get_one(Batch, ev["batch"])
    batch.custodian_id, batch.transit_to_id = record["party"], None
    _touch(s, batch.id, index, record)


def _sell(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    batch = s.get_one(Batch, ev["batch"])
    for pid in ev.get("packages", []):
        pkg = s.get_one(Package, pid)
        pkg.status, pkg.sold_at = "sold", ev["occurred_at"]
    loose = ev.get("loose_g", 0)
    if loose:
        batch.quantity_g -= loose
    s.flush()
    unsold = s.scalar(select(Package.id).where(Package.batch_id == batch.id, Package.status == "packed").limit(1))
    if batch.loose_g == 0 and unsold is None:
        batch.status = "sold"
    _touch(s, batch.id, index, record)


def _recall(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    for bid in ev["affected"]:
        batch = s.get_one(Batch, bid)
        batch.recalled, batch.recall_entry = True, index
        _touch(s, bid, index, record)


def _correct(s: Session, index: int, record: Record) -> None:
    ev = record["event"]
    target = s.get_one(BatchEvent, (ev["batch"], ev["target"]))
    target.corrected_by = index
    if "grade" in ev["changes"]:
        s.get_one(Batch, ev["batch"]).grade = ev["changes"]["grade"]
    if "occurred_at" in ev["changes"]:
        target.occurred_at = ev["changes"]["occurred_at"]
    _touch(s, ev["batch"], index, record)


APPLY: dict[str, Callable[[Session, int, Record], None]] = {
    "product.define": _product_define, "party.register": _party_register, "party.credit": _party_credit,
    "plot.register": _plot_register, "harvest": _harvest, "inspect": _inspect, "grade": _grade,
    "split": _split, "merge": _merge, "process": _process, "pack": _pack, "store": _store, "ship": _ship,
    "receive": _receive, "sell": _sell, "recall": _recall, "correct": _correct,
}


def apply(session: Session, index: int, record: Record) -> None:
    """Apply one entry's record (event, party, user, recorded_at) to the state tables."""
    APPLY[record["event"]["type"]](session, index, record)


# -- replay and comparison -----------------------------------------------------------------


class Replay:
    """A projection rebuilt from the log in a fresh in-memory database. With `watch` set to
    (table, primary key), it also notes the last entry that wrote that row, to blame it."""

    def __init__(self, watch: tuple[str, tuple[Any, ...]] | None = None) -> None:
        # A scratch database built by the same migrations as the real one (no create_all).
        engine = create_engine("sqlite://", poolclass=StaticPool)
        with engine.begin() as conn:
            upgrade(connection=conn)
        self.session = Session(engine, autoflush=False)
        self.watch = watch
        self.watched_entry: int | None = None


def replay(entries: Iterable[tuple[int, bytes]], watch: tuple[str, tuple[Any, ...]] | None = None) -> Replay:
    """Rebuild the projection from entry bytes in a fresh in-memory database."""
    rp = Replay(watch)
    session = rp.session
    for n, (index, body) in enumerate(entries, 1):
        apply(session, index, json.loads(body))
        if watch is not None:
            for obj in (*session.new, *session.dirty):
                if (obj.__table__.name, tuple(inspect(obj).identity or _pk(obj))) == watch:
                    rp.watched_entry = index
        session.flush()
        if n % 2000 == 0:
            session.expunge_all()  # bounded memory on long logs
    session.commit()
    return rp


@dataclass(frozen=True)
class Difference:
    """The first row where the state tables and the log disagree."""

    table: str
    key: tuple[Any, ...]
    message: str


def _pk(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, c.key) for c in inspect(obj).mapper.primary_key)


def _rows(session: Session, table: Table) -> Generator[tuple[Any, ...], None, None]:
    cols = list(table.columns)
    pk = list(table.primary_key.columns)
    result = session.execute(select(*cols).order_by(*pk).execution_options(yield_per=5000))
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()


def compare(live: Session, rp: Replay) -> Difference | None:
    """Compare the live state tables with a rebuilt projection: the first difference, or None."""
    for table in PROJECTED:
        cols = [c.name for c in table.columns]
        npk = [i for i, c in enumerate(table.columns) if c.primary_key]
        a, b = _rows(live, table), _rows(rp.session, table)
        with closing(a), closing(b):
            while True:
                ra, rb = next(a, None), next(b, None)
                if ra is None and rb is None:
                    break
                if ra != rb:
                    row = rb if rb is not None else ra
                    assert row is not None
                    key = tuple(row[i] for i in npk)
                    return Difference(table.name, key, _describe(table.name, cols, ra, rb))
    # Every printed serial must hash to the serial hash the log recorded for its package.
    result = live.execute(select(PackageSecret.package_id, PackageSecret.serial, Package.serial_hash)
                          .join(Package, Package.id == PackageSecret.package_id))
    for pid, serial, digest in result:
        if serial_hash(serial) != digest:
            return Difference("packages", (pid,), f"package {pid}: its serial does not hash to the serial hash in the log")
    return None


def _describe(table: str, cols: list[str], live: tuple | None, rebuilt: tuple | None) -> str:
    if live is None:
        return f"{table}: row {rebuilt} is in the log but missing from the state tables"
    if rebuilt is None:
        return f"{table}: row {live} is in the state tables but not in the log"
    if live[: len(cols)] and live[0] != rebuilt[0]:
        return f"{table}: row with key {live[0]} is not in the log (the log has {rebuilt[0]} next)"
    diffs = [f"{c}={x!r} (log says {y!r})" for c, x, y in zip(cols, live, rebuilt, strict=True) if x != y]
    return f"{table} row {live[0]}: " + ", ".join(diffs)


def clear(session: Session) -> None:
    """Delete the projection (used before rebuilding it in place)."""
    for table in reversed(PROJECTED):
        session.execute(delete(table))
