"""Tracing, for the market supervision bureau: back from a package or a lot to the plots, growers
and harvests it came from, with every inspection and every hand on the way; forward from any
batch to every batch and package made from it and who holds each now.

Both read the state tables (lineage, custody, history) plus the few log entries they cite, with
one query per generation of lineage, so that they stay fast on a long log. Regulators and
administrators may trace anything; other parties nothing (a forward trace names every customer
of a lot)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.db import read_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound
from trace.domain.events import Inspect
from trace.domain.identifiers import LOT_RE, SERIAL_FORMAT, serial_from_scan
from trace.domain.messages import N_
from trace.domain.queries.entries import entries
from trace.domain.tables.batches import (
    Batch,
    BatchEvent,
    BatchLink,
    Package,
    PackageSecret,
)
from trace.domain.tables.parties import Party, PartyKind, Plot

MAX_GENERATIONS = 64  # a real journey has a handful

BUREAU_ONLY = Code("trace.bureau_only", Forbidden, N_("Only the market supervision bureau traces batches back and forward."))
CODE_EMPTY = Code("trace.code_empty", InvalidInput, N_("Give a package code or a lot code."))
CODE_UNKNOWN = Code("trace.code_unknown", NotFound, N_("No package or lot has the code %(code)s."))


@dataclass(frozen=True)
class PartyRef:
    """A party as a trace names it."""

    id: int
    name: str
    kind: str
    uscc: str
    credit: str


@dataclass(frozen=True)
class Step:
    """One event on the way: what, when, by whom, on which lot, with its log entry."""

    entry: int
    kind: str
    occurred_at: str
    lot: str
    batch_id: int
    party: PartyRef | None


@dataclass(frozen=True)
class InspectionRef:
    """An inspection on the way, with whose it was and its verdict."""

    entry: int
    lot: str
    occurred_at: str
    kind: str | None  # official, self, or None (recorded before inspections said whose they were)
    lab: str
    report_no: str
    passed: bool
    party: PartyRef | None


@dataclass(frozen=True)
class Origin:
    """A harvest at the root of a trace: plot, grower, when and how much."""

    batch_id: int
    lot: str
    product_id: str
    harvested_at: str
    harvest_g: int
    grower: PartyRef | None
    plot_id: int
    township: str
    village: str
    area_mu: str


@dataclass
class Back:
    """A trace back from a package or a lot."""

    code: str
    matched: str  # package or lot
    package_id: int | None
    batch_id: int
    lot: str
    product_id: str
    status: str
    recalled: bool
    inspection: str
    origins: list[Origin]
    lineage: list[dict[str, Any]]  # (parent, child, kind, grams, entry) links up to the harvests
    inspections: list[InspectionRef]
    hands: list[PartyRef]  # every party that recorded something on the way, first to last
    steps: list[Step]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (for the CLI and the JSON view)."""
        return asdict(self)


@dataclass(frozen=True)
class BatchNode:
    """A batch downstream of the traced one, and where its fruit is now."""

    id: int
    lot: str
    parent_id: int | None
    kind: str  # how it was made from its parent: root, split, merge, process
    form: str
    quantity_g: int
    status: str
    recalled: bool
    holder: PartyRef
    in_transit_to: PartyRef | None
    packages: int
    sold: int
    unsold: int


@dataclass(frozen=True)
class PackageNode:
    """A package made downstream: its batch, weight, and whether it is sold."""

    id: int
    batch_id: int
    lot: str
    net_g: int
    status: str
    sold_at: str | None
    holder: str  # the batch's holder (a sold package has left the chain: its seller)


@dataclass
class Forward:
    """A trace forward from a batch."""

    batch_id: int
    lot: str
    product_id: str
    recalled: bool
    recall_entry: int | None
    batches: list[BatchNode]
    packages: list[PackageNode]
    holders: list[dict[str, Any]] = field(default_factory=list)  # per holder: batches, packages, sold, unsold

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (for the CLI and the JSON view)."""
        return asdict(self)


def _bureau(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if not (actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR.value)):
        raise BUREAU_ONLY()


def _parties(s: Session, ids: Iterable[int | None]) -> dict[int, PartyRef]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {p.id: PartyRef(p.id, p.name, p.kind, p.uscc, p.credit_status)
            for p in s.scalars(select(Party).where(Party.id.in_(wanted)))}


def resolve(s: Session, code: object) -> tuple[str, int | None, Batch]:
    """A package code (serial, short URL or Digital Link) or a lot code -> (matched, package, batch)."""
    raw = str(code or "").strip()
    if not raw:
        raise CODE_EMPTY("code")
    try:
        serial = serial_from_scan(raw, "code")
    except Exception as exc:  # noqa: BLE001 - not a package code: maybe a lot code
        if getattr(exc, "code", None) != SERIAL_FORMAT.code:
            raise
    else:
        row = s.execute(select(Package.id, Package.batch_id).join(PackageSecret, PackageSecret.package_id == Package.id)
                        .where(PackageSecret.serial == serial)).first()
        if row is not None:
            return "package", row[0], s.get_one(Batch, row[1])
    lot = raw.upper()
    if LOT_RE.match(lot):
        batch = s.scalar(select(Batch).where(func.upper(Batch.lot_code) == lot))
        if batch is not None:
            return "lot", None, batch
    raise CODE_UNKNOWN("code", code=raw[:40])


def _ancestors(s: Session, batch_id: int) -> tuple[dict[int, int | None], list[dict[str, Any]]]:
    """The batch and its ancestors -> the last entry of each one's history on this journey."""
    cutoffs: dict[int, int | None] = {batch_id: None}
    links: list[dict[str, Any]] = []
    frontier = {batch_id}
    for _ in range(MAX_GENERATIONS):
        if not frontier:
            break
        found = s.execute(select(BatchLink.parent_id, BatchLink.child_id, BatchLink.kind, BatchLink.quantity_g,
                                 BatchLink.entry).where(BatchLink.child_id.in_(frontier))).all()
        frontier = set()
        for parent, child, kind, grams, entry in found:
            links.append({"parent": parent, "child": child, "kind": kind, "quantity_g": grams, "entry": entry})
            old = cutoffs.get(parent, -1)
            if parent not in cutoffs or (old is not None and entry > old):
                cutoffs[parent] = entry
                frontier.add(parent)
    return cutoffs, links


def trace_back(engine: Engine, actor: Actor, code: object) -> Back:
    """From a package code or a lot code back to the plots and growers, every inspection on the
    way and every hand that held the fruit."""
    with read_session(engine) as s:
        _bureau(s, actor)
        matched, package_id, batch = resolve(s, code)
        cutoffs, links = _ancestors(s, batch.id)
        rows = s.execute(select(BatchEvent.batch_id, BatchEvent.entry, BatchEvent.kind, BatchEvent.occurred_at,
                                BatchEvent.party_id).where(BatchEvent.batch_id.in_(list(cutoffs)))
                         .order_by(BatchEvent.entry)).all()
        pkg = s.get(Package, package_id) if package_id is not None else None
        chosen = []
        seen = set()
        for r in rows:
            cutoff = cutoffs[r.batch_id]
            if r.batch_id != batch.id and (r.kind in ("pack", "sell") or (cutoff is not None and r.entry > cutoff)):
                continue  # a parent's later life, or packages of another lot, are not this journey
            if pkg is not None and r.batch_id == batch.id and (
                    (r.kind == "pack" and r.entry != pkg.pack_entry) or (r.kind == "sell" and r.occurred_at != pkg.sold_at)):
                continue  # other packages of the lot
            if r.entry in seen:
                continue
            seen.add(r.entry)
            chosen.append(r)
        lots = dict(s.execute(select(Batch.id, Batch.lot_code).where(Batch.id.in_(list(cutoffs)))).all())
        parties = _parties(s, [r.party_id for r in chosen])
        steps = [Step(r.entry, r.kind, r.occurred_at, lots.get(r.batch_id, ""), r.batch_id, parties.get(r.party_id))
                 for r in sorted(chosen, key=lambda r: (r.occurred_at, r.entry))]
        inspect_entries = [r.entry for r in chosen if r.kind == "inspect"]
        decoded = entries(s, inspect_entries)
        inspections = []
        for r in chosen:
            e = decoded.get(r.entry)
            if e is not None and isinstance(e.event, Inspect):
                ev = e.event
                inspections.append(InspectionRef(r.entry, lots.get(ev.batch, ""), ev.occurred_at, ev.kind, ev.lab,
                                                 ev.report_no, ev.passed, parties.get(r.party_id)))
        roots = s.execute(select(Batch, Plot).join(Plot, Plot.id == Batch.origin_plot_id)
                          .where(Batch.id.in_(list(cutoffs)), Batch.harvest_g.is_not(None)).order_by(Batch.id)).all()
        growers = _parties(s, [p.party_id for _, p in roots])
        origins = [Origin(b.id, b.lot_code, b.product_id, b.harvested_at, b.harvest_g or 0, growers.get(p.party_id), p.id,
                          p.township, p.village, p.area_mu_text) for b, p in roots]
        hands: list[PartyRef] = []
        for st in steps:
            if st.party is not None and st.party not in hands:
                hands.append(st.party)
        return Back(str(code).strip()[:200], matched, package_id, batch.id, batch.lot_code, batch.product_id, batch.status,
                    bool(batch.recalled), batch.inspection, origins, links, inspections, hands, steps)


def descendants(s: Session, batch_id: int) -> list[tuple[int, int | None, str]]:
    """The batch and every batch made from it: (id, parent, how), parents before children."""
    out: list[tuple[int, int | None, str]] = [(batch_id, None, "root")]
    seen = {batch_id}
    frontier = [batch_id]
    for _ in range(MAX_GENERATIONS):
        if not frontier:
            break
        found = s.execute(select(BatchLink.parent_id, BatchLink.child_id, BatchLink.kind)
                          .where(BatchLink.parent_id.in_(frontier)).order_by(BatchLink.child_id)).all()
        frontier = []
        for parent, child, kind in found:
            if child not in seen:
                seen.add(child)
                frontier.append(child)
                out.append((child, parent, kind))
    return out


def trace_forward(engine: Engine, actor: Actor, lot: object, *, with_packages: bool = True) -> Forward:
    """From a batch (by lot code, or any code that names one) to every batch and package made from
    it, with who holds each now and whether it is sold."""
    with read_session(engine) as s:
        _bureau(s, actor)
        _matched, _pkg, root = resolve(s, lot)
        tree = descendants(s, root.id)
        ids = [b for b, _, _ in tree]
        batches = {b.id: b for b in _chunked(s, select(Batch), Batch.id, ids)}
        counts: dict[int, tuple[int, int]] = {}
        for chunk in _chunks(ids):
            for bid, n, sold in s.execute(select(Package.batch_id, func.count(),
                                                 func.sum(case((Package.status == "sold", 1), else_=0)))
                                          .where(Package.batch_id.in_(chunk)).group_by(Package.batch_id)):
                counts[bid] = (int(n), int(sold or 0))
        parties = _parties(s, [b.custodian_id for b in batches.values()] + [b.transit_to_id for b in batches.values()])
        nodes = []
        for bid, parent, kind in tree:
            b = batches[bid]
            n, sold = counts.get(bid, (0, 0))
            nodes.append(BatchNode(bid, b.lot_code, parent, kind, b.form, b.quantity_g, b.status, bool(b.recalled),
                                   parties[b.custodian_id], parties.get(b.transit_to_id) if b.transit_to_id else None,
                                   n, sold, n - sold))
        packages: list[PackageNode] = []
        if with_packages:
            lots = {b.id: b.lot_code for b in batches.values()}
            holder = {b.id: parties[b.custodian_id].name for b in batches.values()}
            for chunk in _chunks(ids):
                for p in s.execute(select(Package.id, Package.batch_id, Package.net_g, Package.status, Package.sold_at)
                                   .where(Package.batch_id.in_(chunk)).order_by(Package.id)):
                    packages.append(PackageNode(p.id, p.batch_id, lots[p.batch_id], p.net_g, p.status, p.sold_at,
                                                holder[p.batch_id]))
        per: dict[int, dict[str, Any]] = {}
        for node in nodes:
            h = per.setdefault(node.holder.id, {"party": asdict(node.holder), "batches": 0, "packages": 0, "sold": 0,
                                                "unsold": 0, "quantity_g": 0})
            h["batches"] += 1
            h["packages"] += node.packages
            h["sold"] += node.sold
            h["unsold"] += node.unsold
            h["quantity_g"] += node.quantity_g
        return Forward(root.id, root.lot_code, root.product_id, bool(root.recalled), root.recall_entry, nodes, packages,
                       sorted(per.values(), key=lambda h: h["party"]["id"]))


CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i:i + CHUNK])


def _chunked(s: Session, stmt: Any, column: Any, ids: Sequence[int]) -> list[Any]:
    out = []
    for chunk in _chunks(ids):
        out.extend(s.scalars(stmt.where(column.in_(chunk))))
    return out


# -- CSV -------------------------------------------------------------------------------------------

BOM = "\ufeff"  # so that spreadsheet programs open the Chinese as UTF-8


def back_csv(back: Back) -> str:
    """A trace back as CSV: one row per step, origins and inspections included as steps."""
    out = io.StringIO()
    out.write(BOM)
    w = csv.writer(out)
    w.writerow(["entry", "occurred_at", "event", "lot", "party", "party_kind", "uscc"])
    for st in back.steps:
        p = st.party
        w.writerow([st.entry, st.occurred_at, st.kind, st.lot, p.name if p else "", p.kind if p else "", p.uscc if p else ""])
    return out.getvalue()


def forward_csv(fwd: Forward) -> str:
    """A trace forward as CSV: one row per batch, then one per package."""
    out = io.StringIO()
    out.write(BOM)
    w = csv.writer(out)
    w.writerow(["record", "id", "lot", "parent", "how", "quantity_g", "status", "holder", "holder_uscc", "in_transit_to",
                "packages", "sold", "unsold", "sold_at"])
    for b in fwd.batches:
        w.writerow(["batch", b.id, b.lot, b.parent_id or "", b.kind, b.quantity_g, b.status + (" recalled" if b.recalled else ""),
                    b.holder.name, b.holder.uscc, b.in_transit_to.name if b.in_transit_to else "", b.packages, b.sold,
                    b.unsold, ""])
    for p in fwd.packages:
        w.writerow(["package", p.id, p.lot, p.batch_id, "pack", p.net_g, p.status, p.holder, "", "", 1,
                    int(p.status == "sold"), int(p.status != "sold"), p.sold_at or ""])
    return out.getvalue()


__all__ = ["Back", "Forward", "trace_back", "trace_forward", "back_csv", "forward_csv", "resolve"]
