"""Anomalies the bureau looks into: plots whose harvests come near or over their ceiling, batches
with more packages than weight, codes scanned from many clients after sale (suspected copies),
custody gaps (shipped, never received), events dated long before they were recorded (补录),
parties on the black list still appending, and cold-chain temperatures outside a product's
range. Each is a list with links, and weekly counts for a chart.

Most read the state tables. Two need what only the log's entries hold (when each entry was
recorded, and each storage temperature); they read small indexes derived from the log
(trace.domain.tables.derived), which `refresh` catches up from a watermark, entry by entry."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import CHINA, china_date, parse_log_time, rfc3339
from trace.db import read_session, write_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput
from trace.domain.messages import N_
from trace.domain.tables.batches import Batch, BatchEvent, Package, PackageScan
from trace.domain.tables.cases import Case
from trace.domain.tables.catalogue import Product
from trace.domain.tables.derived import ColdReading, DerivedWatermark, LateEntry, StorageRange
from trace.domain.tables.parties import Party, PartyKind, Plot
from trace.ledger.models import LogEntry

KINDS = ("ceiling", "overpacked", "copies", "gaps", "late", "blacklisted", "cold")
NAMES = {"ceiling": N_("Harvests near or over the plot's ceiling"), "overpacked": N_("More packages than the batch weighed"),
         "copies": N_("Codes scanned from many clients after sale"), "gaps": N_("Shipped, never received"),
         "late": N_("Recorded long after the event (补录)"), "blacklisted": N_("Black-listed parties still recording"),
         "cold": N_("Cold-chain temperatures outside the product's range")}
LIMIT = 200
LATE_MIN_HOURS = 24  # the derived index keeps entries at least this late; lists filter further
REFRESH_CHUNK = 5000

BUREAU_ONLY = Code("anomaly.bureau_only", Forbidden, N_("Only the market supervision bureau sees the anomaly lists."))
UNKNOWN = Code("anomaly.unknown", InvalidInput, N_("There is no anomaly list called %(name)s."))
RANGE = Code("anomaly.range", InvalidInput, N_("The range must be two temperatures in °C, the lower first, between -40 and 40."))


@dataclass(frozen=True)
class Thresholds:
    """Where an anomaly begins (settings of the deployment, not rules)."""

    near_ceiling_permille: int = 900  # 90 % of area x ceiling
    copy_clients: int = 5  # distinct clients after sale
    gap_hours: int = 72  # shipped and not received for this long
    late_hours: int = 72  # an event recorded this long after it happened


@dataclass(frozen=True)
class Item:
    """One anomaly: what it is about (a batch, package, plot, party, entry), a line for people, a
    number to sort by, when, and the cases that name it."""

    kind: str
    batch_id: int | None
    lot: str | None
    package_id: int | None
    party: str | None
    entry: int | None
    at: str | None
    value: int  # permille of the ceiling, grams over, clients, hours, tenths of a degree
    detail: dict[str, Any] = field(default_factory=dict)
    cases: int = 0


@dataclass(frozen=True)
class Report:
    """One anomaly list: its items (the worst first), how many in all, and counts per week."""

    kind: str
    items: list[Item]
    total: int
    weekly: list[tuple[date, int]]


def _bureau(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if not (actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR.value)):
        raise BUREAU_ONLY()


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly(times: Iterable[str | None | tuple[str, int]], *, weeks: int = 26, now: datetime | None = None) -> list[tuple[date, int]]:
    """Counts per Beijing week (Monday first) over the last `weeks` weeks, oldest first; `times`
    are log times, or (log time, how many) pairs already counted by the database."""
    last = _week((now or datetime.now(UTC)).astimezone(CHINA).date())
    counts: Counter[date] = Counter()
    for t in times:
        if isinstance(t, tuple):
            counts[_week(china_date(t[0]))] += t[1]
        elif t:
            counts[_week(china_date(t))] += 1
    start = last - timedelta(weeks=weeks - 1)
    if counts and min(counts) < start:  # an old log: end the chart at its last activity instead
        last = max(_week(max(counts)), start) if max(counts) < start else last
        start = last - timedelta(weeks=weeks - 1)
    return [(start + timedelta(weeks=i), counts.get(start + timedelta(weeks=i), 0)) for i in range(weeks)]


# -- the derived indexes ------------------------------------------------------------------------


def refresh(engine: Engine, *, limit: int | None = None) -> int:
    """Catch the derived indexes up with the log (at most `limit` entries); returns how many
    entries were read. Safe to run at any time, from any number of processes."""
    read = 0
    while limit is None or read < limit:
        with write_session(engine) as s:
            mark = s.get(DerivedWatermark, "anomalies", with_for_update=True)
            if mark is None:
                s.add(mark := DerivedWatermark(name="anomalies", next_entry=0))
                s.flush()
            start = mark.next_entry
            n = REFRESH_CHUNK if limit is None else min(REFRESH_CHUNK, limit - read)
            rows = s.execute(select(LogEntry.idx, LogEntry.body).where(LogEntry.idx >= start, LogEntry.idx < start + n)
                             .order_by(LogEntry.idx)).all()
            if not rows:
                return read
            late, cold, fixes = [], [], []
            for idx, body in rows:
                e = json.loads(bytes(body))
                ev = e.get("event") or {}
                kind, at, recorded = ev.get("type"), ev.get("occurred_at"), e.get("recorded_at")
                if isinstance(at, str) and isinstance(recorded, str):
                    try:
                        lag = (parse_log_time(recorded) - parse_log_time(at)).total_seconds() // 3600
                    except ValueError:
                        lag = 0
                    if lag >= LATE_MIN_HOURS:
                        batch = ev.get("batch")
                        batch = batch.get("id") if isinstance(batch, dict) else batch
                        late.append({"entry": idx, "kind": str(kind)[:20], "batch_id": batch, "party_id": e.get("party"),
                                     "occurred_at": at, "recorded_at": recorded, "lag_hours": int(lag)})
                if kind == "store":
                    cold.append({"entry": idx, "batch_id": ev["batch"], "party_id": e.get("party"),
                                 "facility": str(ev.get("facility", ""))[:200], "temperature_dc": int(ev["temperature_dc"]),
                                 "occurred_at": at, "corrected_by": None})
                elif kind == "correct" and "temperature_dc" in (ev.get("changes") or {}):
                    fixes.append((ev["target"], int(ev["changes"]["temperature_dc"]), idx))
            if late:
                s.execute(insert(LateEntry.__table__), late)  # type: ignore[arg-type]
            if cold:
                s.execute(insert(ColdReading.__table__), cold)  # type: ignore[arg-type]
            t = ColdReading.__table__  # type: ignore[attr-defined]
            for target, value, by in fixes:  # a corrected reading is judged by its corrected value
                s.execute(update(t).where(t.c.entry == target).values(temperature_dc=value, corrected_by=by))
            mark.next_entry = rows[-1][0] + 1
            read += len(rows)
    return read


def set_range(engine: Engine, actor: Actor, product_id: str, low: object, high: object) -> None:
    """Set a product's cold-storage range (°C with one decimal), a regulator's setting."""
    from trace.domain.inputs.base import _temperature

    with read_session(engine) as s:
        _bureau(s, actor)
        if s.get(Product, product_id) is None:
            raise RANGE("product")
    try:
        lo, hi = _temperature(low), _temperature(high)
    except Exception:  # noqa: BLE001 - pydantic's error carries the input code; ours says both
        raise RANGE("low") from None
    if lo > hi:
        raise RANGE("low")
    with write_session(engine) as s:
        row = s.get(StorageRange, product_id)
        if row is None:
            s.add(StorageRange(product_id=product_id, min_dc=lo, max_dc=hi))
        else:
            row.min_dc, row.max_dc = lo, hi


def ranges(engine: Engine) -> dict[str, tuple[int, int]]:
    """The cold-storage range of each product that has one (tenths of a degree)."""
    with read_session(engine) as s:
        return {r.product_id: (r.min_dc, r.max_dc) for r in s.scalars(select(StorageRange))}


# -- the lists -------------------------------------------------------------------------------------


def report(engine: Engine, actor: Actor, kind: str, thresholds: Thresholds | None = None, *,
           now: datetime | None = None, limit: int = LIMIT) -> Report:
    """One anomaly list, after catching up the derived indexes."""
    if kind not in KINDS:
        raise UNKNOWN("kind", name=str(kind)[:40])
    th = thresholds or Thresholds()
    now = now or datetime.now(UTC)
    with read_session(engine) as s:
        _bureau(s, actor)
    if kind in ("late", "cold"):
        refresh(engine)
    with read_session(engine) as s:
        items, times, *counted = _LISTS[kind](s, th, now)
        total = counted[0] if counted else len(items)
        if items and any(i.package_id for i in items):
            by_package = dict(s.execute(select(Case.package_id, func.count()).where(
                Case.package_id.in_([i.package_id for i in items if i.package_id][:1000])).group_by(Case.package_id)).all())
            items = [Item(**{**i.__dict__, "cases": by_package.get(i.package_id, 0)}) for i in items]
        if items and any(i.batch_id for i in items) and not any(i.package_id for i in items):
            by_batch = dict(s.execute(select(Case.batch_id, func.count()).where(
                Case.batch_id.in_([i.batch_id for i in items if i.batch_id][:1000])).group_by(Case.batch_id)).all())
            items = [Item(**{**i.__dict__, "cases": by_batch.get(i.batch_id, 0)}) for i in items]
    return Report(kind, items[:limit], total, weekly(times, now=now))


def _ceiling(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    q = (select(Batch.origin_plot_id, Batch.product_id, Batch.season, func.sum(Batch.harvest_g), func.max(Batch.harvested_at),
                Plot.area_centimu, Product.yield_g_per_mu, Party.name, Plot.township, Plot.village)
         .join(Plot, Plot.id == Batch.origin_plot_id).join(Product, Product.id == Batch.product_id)
         .join(Party, Party.id == Plot.party_id).where(Batch.harvest_g.is_not(None))
         .group_by(Batch.origin_plot_id, Batch.product_id, Batch.season, Plot.area_centimu, Product.yield_g_per_mu,
                   Party.name, Plot.township, Plot.village))
    items = []
    for plot, product, season, total, last, centimu, per_mu, grower, township, village in s.execute(q):
        ceiling = centimu * per_mu // 100
        permille = int(total) * 1000 // ceiling if ceiling else 0
        if permille >= th.near_ceiling_permille:
            items.append(Item("ceiling", None, None, None, grower, None, last, permille,
                              {"plot": plot, "product": product, "season": season, "harvested_g": int(total),
                               "ceiling_g": ceiling, "township": township, "village": village}))
    items.sort(key=lambda i: -i.value)
    return items, [i.at for i in items]


def _overpacked(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    packed = (select(Package.batch_id, func.sum(Package.net_g).label("net"), func.count().label("n"),
                     func.max(Package.packed_at).label("at")).group_by(Package.batch_id).subquery())
    q = (select(Batch.id, Batch.lot_code, Batch.quantity_g, Batch.harvest_g, packed.c.net, packed.c.n, packed.c.at, Party.name)
         .join(packed, packed.c.batch_id == Batch.id).join(Party, Party.id == Batch.custodian_id)
         .where(packed.c.net > Batch.quantity_g))
    items = [Item("overpacked", bid, lot, None, holder, None, at, int(net) - int(qty),
                  {"packed_g": int(net), "quantity_g": int(qty), "packages": int(n)})
             for bid, lot, qty, _harvest, net, n, at, holder in s.execute(q)]
    items.sort(key=lambda i: -i.value)
    return items, [i.at for i in items]


def _copies(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    q = (select(PackageScan.package_id, PackageScan.clients_after_sale, PackageScan.count, PackageScan.last_at,
                Package.batch_id, Batch.lot_code, Package.sold_at, Party.name)
         .join(Package, Package.id == PackageScan.package_id).join(Batch, Batch.id == Package.batch_id)
         .join(Party, Party.id == Batch.custodian_id)
         .where(PackageScan.clients_after_sale >= th.copy_clients).order_by(PackageScan.clients_after_sale.desc()))
    items = []
    for pid, clients, count, last, bid, lot, sold_at, seller in s.execute(q.limit(5000)):
        last_at = rfc3339(last if last.tzinfo else last.replace(tzinfo=UTC)) if last else sold_at
        items.append(Item("copies", bid, lot, pid, seller, None, last_at, int(clients), {"scans": int(count), "sold_at": sold_at}))
    return items, [i.at for i in items]


def _gaps(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    cutoff = rfc3339(now - timedelta(hours=th.gap_hours))
    in_transit = select(Batch.id).where(Batch.transit_to_id.is_not(None))  # few: read their history only
    last_ship = (select(BatchEvent.batch_id, func.max(BatchEvent.occurred_at).label("at"), func.max(BatchEvent.entry).label("entry"))
                 .where(BatchEvent.kind == "ship", BatchEvent.batch_id.in_(in_transit)).group_by(BatchEvent.batch_id).subquery())
    q = (select(Batch.id, Batch.lot_code, last_ship.c.at, last_ship.c.entry, Party.name, Batch.transit_to_id)
         .join(last_ship, last_ship.c.batch_id == Batch.id).join(Party, Party.id == Batch.custodian_id)
         .where(Batch.transit_to_id.is_not(None), last_ship.c.at < cutoff))
    receivers = dict(s.execute(select(Party.id, Party.name)).all())
    items = []
    for bid, lot, at, entry, sender, to in s.execute(q):
        hours = int((now - parse_log_time(at)).total_seconds() // 3600)
        items.append(Item("gaps", bid, lot, None, sender, entry, at, hours, {"to": receivers.get(to)}))
    items.sort(key=lambda i: -i.value)
    return items, [i.at for i in items]


def _late(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    q = (select(LateEntry, Batch.lot_code, Party.name).outerjoin(Batch, Batch.id == LateEntry.batch_id)
         .outerjoin(Party, Party.id == LateEntry.party_id).where(LateEntry.lag_hours >= th.late_hours)
         .order_by(LateEntry.lag_hours.desc()))
    items = [Item("late", e.batch_id, lot, None, party, e.entry, e.recorded_at, e.lag_hours,
                  {"event": e.kind, "occurred_at": e.occurred_at, "recorded_at": e.recorded_at})
             for e, lot, party in s.execute(q.limit(LIMIT))]
    # Counted by the database per hour of recording (a long log may hold a million late entries).
    hour = func.substr(LateEntry.recorded_at, 1, 13)
    per_hour = [(f"{h}:00:00.000Z", int(n)) for h, n in s.execute(
        select(hour, func.count()).where(LateEntry.lag_hours >= th.late_hours).group_by(hour))]
    return items, per_hour, sum(n for _, n in per_hour)


def _blacklisted(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    today = now.astimezone(CHINA).date().isoformat()
    listed = [p for p in s.scalars(select(Party).where(Party.credit_status == "black")) if
              not (p.credit_end and p.credit_end < today)]
    items: list[Item] = []
    for p in listed:
        q = (select(BatchEvent.entry, BatchEvent.kind, BatchEvent.occurred_at, BatchEvent.batch_id, Batch.lot_code)
             .join(Batch, Batch.id == BatchEvent.batch_id).where(BatchEvent.party_id == p.id))
        if p.credit_start:
            start = rfc3339(datetime.fromisoformat(p.credit_start).replace(tzinfo=CHINA))
            q = q.where(BatchEvent.occurred_at >= start)
        seen = set()
        for entry, kind, at, bid, lot in s.execute(q.order_by(BatchEvent.entry.desc()).limit(2000)):
            if entry in seen:
                continue
            seen.add(entry)
            items.append(Item("blacklisted", bid, lot, None, p.name, entry, at, 0,
                              {"event": kind, "since": p.credit_start, "reason": p.credit_reason}))
    items.sort(key=lambda i: i.at or "", reverse=True)
    return items, [i.at for i in items]


def _cold(s: Session, th: Thresholds, now: datetime) -> tuple[list[Item], list[str]]:
    q = (select(ColdReading, Batch.lot_code, Batch.product_id, StorageRange.min_dc, StorageRange.max_dc, Party.name)
         .join(Batch, Batch.id == ColdReading.batch_id).join(StorageRange, StorageRange.product_id == Batch.product_id)
         .outerjoin(Party, Party.id == ColdReading.party_id)
         .where((ColdReading.temperature_dc < StorageRange.min_dc) | (ColdReading.temperature_dc > StorageRange.max_dc)))
    items = []
    for r, lot, product, lo, hi, party in s.execute(q.limit(5000)):
        off = lo - r.temperature_dc if r.temperature_dc < lo else r.temperature_dc - hi
        items.append(Item("cold", r.batch_id, lot, None, party, r.entry, r.occurred_at, off,
                          {"temperature_dc": r.temperature_dc, "min_dc": lo, "max_dc": hi, "facility": r.facility,
                           "product": product, "corrected_by": r.corrected_by}))
    items.sort(key=lambda i: -i.value)
    return items, [i.at for i in items]


_LISTS = {"ceiling": _ceiling, "overpacked": _overpacked, "copies": _copies, "gaps": _gaps, "late": _late,
          "blacklisted": _blacklisted, "cold": _cold}


def summary(engine: Engine, actor: Actor, thresholds: Thresholds | None = None, now: datetime | None = None) -> dict[str, int]:
    """How many items each anomaly list has (the desk's headline)."""
    return {k: report(engine, actor, k, thresholds, now=now, limit=0).total for k in KINDS}
