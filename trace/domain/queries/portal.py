"""Read-only questions the portal asks: a party's dashboard, a batch's page, search, lists.

Nothing here writes. Reading is authorised here too, like writing is in the rules: a party sees
the batches it holds, held, was sent, or that went into them (their upstream lineage);
regulators and administrators see everything; only the party that packed a batch sees the
serials printed on its labels, since a serial is what a counterfeiter would need. Events are
read as typed events (trace.domain.events), never as raw keys."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from trace.db import read_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound
from trace.domain.events import Event, ProductDefine, Recall
from trace.domain.identifiers import LOT_RE, SERIAL_CHARS, SERIAL_LEN, serial_hash
from trace.domain.limits import MAX_ID
from trace.domain.messages import N_
from trace.domain.queries import field as field_queries
from trace.domain.queries.entries import entries, read_context
from trace.domain.queries.labels import certificate_info, printable
from trace.domain.rules import offers
from trace.domain.rules.corrections import allowed_fields
from trace.domain.state import DbState
from trace.domain.tables.batches import (
    Batch,
    BatchEvent,
    BatchLink,
    Package,
    PackageSecret,
    ShipmentVehicle,
)
from trace.domain.tables.catalogue import Product
from trace.domain.tables.field import Certificate
from trace.domain.tables.operations import ProductHistory
from trace.domain.tables.parties import Party, PartyKind, Plot
from trace.labels import CertificateInfo
from trace.ledger.store import Ledger

RECENT = 15
ACTIONS = offers.ACTIONS

ID_FORMAT = Code("query.id_format", InvalidInput, N_("The id must be a positive whole number."))
ID_UNKNOWN = Code("query.id_unknown", NotFound, N_("Nothing has the id %(id)s."))
BATCH_UNKNOWN = Code("query.batch_unknown", NotFound, N_("Batch %(id)s does not exist."))
NOT_INVOLVED = Code("query.not_involved", Forbidden, N_("Batch %(lot)s is not in your party's records."))
PACK_ENTRY = Code("query.pack_entry", InvalidInput, N_("The pack entry must be a number."))
NO_PACKAGES = Code("query.no_packages", NotFound, N_("No such packages in this batch."))
NOT_PACKER = Code("labels.not_packer", Forbidden, N_("Only the party that packed these packages may print their labels."))
SEARCH_EMPTY = Code("search.empty", InvalidInput, N_("Enter a lot code or a package code."))
SEARCH_LONG = Code("search.too_long", InvalidInput, N_("That is too long to be a lot code or package code."))
REGISTER_HIDDEN = Code("parties.hidden", Forbidden, N_("Only regulators and administrators see the register of parties."))
NO_PRODUCT = Code("products.not_found", NotFound, N_("There is no product %(id)s."))


@dataclass(frozen=True)
class PartyRow:
    """A party as lists show it."""

    id: int
    kind: str
    name: str
    uscc: str
    township: str
    gi_logo: bool
    credit_status: str
    credit_reason: str


@dataclass(frozen=True)
class PlotRow:
    """A grower's plot."""

    id: int
    party_id: int
    party_name: str
    township: str
    village: str
    area_mu: str


@dataclass(frozen=True)
class ProductRow:
    """A GI product of the catalogue."""

    id: str
    name_zh: str
    name_en: str
    months: tuple[int, ...]
    gtin: str | None


@dataclass(frozen=True)
class BatchRow:
    """A batch with the names a list needs."""

    id: int
    lot_code: str
    product_id: str
    product_zh: str
    product_en: str
    gtin: str | None
    form: str
    grade: str
    quantity_g: int
    packed_g: int
    status: str
    inspection: str
    recalled: bool
    custodian_id: int
    custodian_name: str
    transit_to_id: int | None
    transit_to_name: str | None
    harvested_at: str
    season: int
    origin_plot_id: int | None
    packages: int = 0
    unsold: int = 0

    @property
    def loose_g(self) -> int:
        """Grams not yet packed."""
        return self.quantity_g - self.packed_g


@dataclass(frozen=True)
class EventRow:
    """One entry of a batch's history, with the event as the log holds it."""

    entry: int
    kind: str
    occurred_at: str
    recorded_at: str
    batch_id: int
    lot_code: str
    party_id: int | None
    party_name: str | None
    user: int | str | None  # a version 1 entry's user id, or a login's pseudonym
    corrected_by: int | None
    event: Event


@dataclass(frozen=True)
class LinkRow:
    """A parent or child in a batch's lineage."""

    batch_id: int
    lot_code: str
    quantity_g: int
    kind: str
    entry: int
    viewable: bool


@dataclass(frozen=True)
class PackRow:
    """The packages of one pack event."""

    entry: int
    packed_at: str
    count: int
    net_g: int
    sold: int
    printable: bool  # the viewer packed them, so may print their labels
    first_package: int


@dataclass(frozen=True)
class RecallRow:
    """One recall: the batch it was made on, and which of the viewer's batches it reached."""

    entry: int
    lot_code: str  # the recalled batch itself
    batch_id: int
    occurred_at: str
    reason: str
    party_name: str | None
    affected: int  # batches it reached in all: the batch and everything made from it
    reached: tuple[tuple[int, str], ...]  # (id, lot) of the viewer's batches it reached


@dataclass(frozen=True)
class Correctable:
    """An earlier event the viewer may amend, and which fields."""

    entry: int
    kind: str
    occurred_at: str
    fields: tuple[str, ...]


@dataclass
class Dashboard:
    """What a party sees first."""

    party: PartyRow | None
    custody: list[BatchRow]
    incoming: list[BatchRow]
    outgoing: list[BatchRow]
    recent: list[EventRow]
    recalls: list[RecallRow]
    plots: list[PlotRow]
    failed: list[BatchRow] = field(default_factory=list)  # regulators: failed inspections


@dataclass
class BatchPage:
    """Everything the batch page shows and offers."""

    batch: BatchRow
    origin: PlotRow | None
    history: list[EventRow]
    parents: list[LinkRow]
    children: list[LinkRow]
    packs: list[PackRow]
    actions: tuple[str, ...]
    ship_targets: list[PartyRow]
    merge_candidates: list[BatchRow]
    correctable: list[Correctable]
    party_names: dict[int, str]
    recall: RecallRow | None
    vehicles: dict[int, str] = field(default_factory=dict)  # plates of shipments, by entry
    certificate: bool = False  # the log holds a certificate of conformity of the lot to print


@dataclass(frozen=True)
class LabelData:
    """What one label needs, serial included: for the party that packed it only."""

    package_id: int
    serial: str
    net_g: int
    packed_at: str
    lot_code: str
    product_zh: str
    product_en: str
    gtin: str | None
    packer_name: str
    packer_uscc: str | None
    packer_gi_logo: bool  # the packer may show the GI badge on these packages (queries.field.gi_authorised)
    origin: str = ""
    grade: str = ""
    shelf_life: str = ""


@dataclass(frozen=True)
class SearchHit:
    """A batch found by lot code or package code."""

    batch: BatchRow
    package_id: int | None
    matched: str  # 'lot' or 'package'


# -- helpers -------------------------------------------------------------------------------


def _party_row(p: Party) -> PartyRow:
    return PartyRow(p.id, p.kind, p.name, p.uscc, p.township, bool(p.gi_logo), p.credit_status, p.credit_reason)


def _actor_party(s: Session, actor: Actor) -> Party | None:
    return s.get(Party, actor.party_id) if actor.party_id is not None else None


def _sees_all(s: Session, actor: Actor) -> bool:
    party = _actor_party(s, actor)
    return actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR)


def parse_id(value: object, field_: str = "batch") -> int:
    """An id from a request; ids beyond the database's integers are unknown, not a crash."""
    raw = unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()
    if not re.fullmatch(r"[0-9]{1,12}", raw):
        raise ID_FORMAT(field_)
    n = int(raw)
    if not 1 <= n <= MAX_ID:
        raise ID_UNKNOWN(field_, id=n)
    return n


_custodian, _transit = aliased(Party), aliased(Party)


def _batch_select() -> Select[Any]:
    return (select(Batch, Product, _custodian, _transit)
            .join(Product, Product.id == Batch.product_id)
            .join(_custodian, _custodian.id == Batch.custodian_id)
            .outerjoin(_transit, _transit.id == Batch.transit_to_id))


def _rows(s: Session, stmt: Select[Any]) -> list[BatchRow]:
    found = s.execute(stmt).all()
    ids = [b.id for b, *_ in found]
    counts: dict[int, tuple[int, int]] = {}
    if ids:
        q = (select(Package.batch_id, func.count(), func.sum(case((Package.status == "packed", 1), else_=0)))
             .where(Package.batch_id.in_(ids)).group_by(Package.batch_id))
        counts = {bid: (n, int(u or 0)) for bid, n, u in s.execute(q)}
    return [BatchRow(b.id, b.lot_code, b.product_id, p.name_zh, p.name_en, p.gtin, b.form, b.grade, b.quantity_g,
                     b.packed_g, b.status, b.inspection, bool(b.recalled), b.custodian_id, c.name, b.transit_to_id,
                     t.name if t else None, b.harvested_at, b.season, b.origin_plot_id, *counts.get(b.id, (0, 0)))
            for b, p, c, t in found]


def _events(s: Session, stmt: Select[Any]) -> list[EventRow]:
    rows = s.execute(stmt).all()
    found = entries(s, (ev.entry for ev, *_ in rows))
    out = []
    for ev, lot, party_name in rows:
        entry = found.get(ev.entry)
        if entry is None:
            continue
        out.append(EventRow(ev.entry, ev.kind, ev.occurred_at, entry.recorded_at, ev.batch_id, lot, ev.party_id,
                            party_name, entry.user, ev.corrected_by, entry.event))
    return out


def _event_select() -> Select[Any]:
    return (select(BatchEvent, Batch.lot_code, Party.name).join(Batch, Batch.id == BatchEvent.batch_id)
            .outerjoin(Party, Party.id == BatchEvent.party_id))


def _involved(party_id: int):  # type: ignore[no-untyped-def]
    """Batch ids the party appears in: in their history, holding them, or being sent them."""
    return (select(BatchEvent.batch_id).where(BatchEvent.party_id == party_id)
            .union(select(Batch.id).where(or_(Batch.custodian_id == party_id, Batch.transit_to_id == party_id))))


def _can_view(s: Session, actor: Actor, batch: Batch) -> bool:
    if _sees_all(s, actor):
        return True
    if actor.party_id is None:
        return False
    # A batch is visible to the parties of its own journey and of every batch made from it.
    family = DbState(s.connection()).descendants(batch.id)
    in_history = exists().where(BatchEvent.batch_id.in_(family), BatchEvent.party_id == actor.party_id)
    holds_or_sent = exists().where(Batch.id.in_(family), or_(Batch.custodian_id == actor.party_id,
                                                              Batch.transit_to_id == actor.party_id))
    return bool(s.scalar(select(or_(in_history, holds_or_sent))))


def _get_viewable(s: Session, actor: Actor, batch_id: object) -> Batch:
    bid = parse_id(batch_id)
    batch = s.get(Batch, bid)
    if batch is None:
        raise BATCH_UNKNOWN("batch", id=bid)
    if not _can_view(s, actor, batch):
        raise NOT_INVOLVED("batch", lot=batch.lot_code)
    return batch


def _recall_rows(s: Session, batches: Sequence[Batch]) -> list[RecallRow]:
    """The recalls that reached `batches`, one row per recall (newest first)."""
    groups: dict[int, list[Batch]] = {}
    for b in batches:
        if b.recall_entry is not None:
            groups.setdefault(b.recall_entry, []).append(b)
    found = entries(s, groups)
    names = dict(s.execute(select(Party.id, Party.name)).all()) if found else {}
    out = []
    for index, group in groups.items():
        entry = found.get(index)
        if entry is None or not isinstance(entry.event, Recall):
            continue
        ev = entry.event
        root = s.get(Batch, ev.batch)
        out.append(RecallRow(index, root.lot_code if root else "", ev.batch, ev.occurred_at, ev.reason,
                             names.get(entry.party) if entry.party is not None else None, len(ev.affected),
                             tuple((b.id, b.lot_code) for b in sorted(group, key=lambda b: b.id))))
    return sorted(out, key=lambda r: -r.entry)


# -- the questions -------------------------------------------------------------------------


def dashboard(engine: Engine, actor: Actor) -> Dashboard:
    """Batches in custody, incoming and outgoing shipments, recent events, recalls, plots."""
    with read_session(engine) as s:
        party = _actor_party(s, actor)
        if party is None:
            everything = _sees_all(s, actor)
            recent = _events(s, _event_select().order_by(BatchEvent.entry.desc()).limit(RECENT * 3)) if everything else []
            return Dashboard(None, [], [], [], _dedupe(recent), [], [])
        pid = party.id
        order = (Batch.id.desc(),)
        custody = _rows(s, _batch_select().where(Batch.custodian_id == pid, Batch.transit_to_id.is_(None),
                                                  Batch.status == "active").order_by(*order).limit(200))
        incoming = _rows(s, _batch_select().where(Batch.transit_to_id == pid).order_by(*order))
        outgoing = _rows(s, _batch_select().where(Batch.custodian_id == pid, Batch.transit_to_id.is_not(None)).order_by(*order))
        regulator = party.kind == PartyKind.REGULATOR
        ev = _event_select()
        if not regulator:
            ev = ev.where(BatchEvent.batch_id.in_(_involved(pid)))
        recent = _dedupe(_events(s, ev.order_by(BatchEvent.entry.desc()).limit(RECENT * 3)))
        rq = select(Batch).where(Batch.recalled.is_(True))
        if not regulator:
            rq = rq.where(Batch.id.in_(_involved(pid)))
        recalls = _recall_rows(s, s.scalars(rq.order_by(Batch.recall_entry.desc(), Batch.id).limit(200)).all())[:20]
        plots = [_plot_row(p, party.name) for p in s.scalars(select(Plot).where(Plot.party_id == pid).order_by(Plot.id))]
        failed = (_rows(s, _batch_select().where(Batch.inspection == "failed", Batch.status == "active")
                        .order_by(Batch.id.desc()).limit(50)) if regulator else [])
        return Dashboard(_party_row(party), custody, incoming, outgoing, recent, recalls, plots, failed)


def _dedupe(events: list[EventRow]) -> list[EventRow]:
    # A split or merge touches several batches in one entry: list the entry once.
    seen: set[int] = set()
    out = []
    for e in events:
        if e.entry not in seen:
            seen.add(e.entry)
            out.append(e)
    return out[:RECENT]


def _plot_row(p: Plot, owner: str) -> PlotRow:
    return PlotRow(p.id, p.party_id, owner, p.township, p.village, p.area_mu_text)


def batch_page(engine: Engine, actor: Actor, batch_id: object) -> BatchPage:
    """A batch's whole history and lineage, and the forms its viewer may use."""
    with read_session(engine) as s:
        batch = _get_viewable(s, actor, batch_id)
        party = _actor_party(s, actor)
        row = _rows(s, _batch_select().where(Batch.id == batch.id))[0]
        origin = None
        if batch.origin_plot_id is not None:
            plot = s.get_one(Plot, batch.origin_plot_id)
            origin = _plot_row(plot, s.get_one(Party, plot.party_id).name)
        history = _events(s, _event_select().where(BatchEvent.batch_id == batch.id).order_by(BatchEvent.entry))
        parents = _links(s, actor, select(BatchLink, Batch.lot_code).join(Batch, Batch.id == BatchLink.parent_id)
                         .where(BatchLink.child_id == batch.id), parent=True)
        children = _links(s, actor, select(BatchLink, Batch.lot_code).join(Batch, Batch.id == BatchLink.child_id)
                          .where(BatchLink.parent_id == batch.id), parent=False)
        packers = {e.entry: e.party_id for e in history if e.kind == "pack"}
        packs = []
        q = (select(Package.pack_entry, Package.packed_at, func.count(), func.min(Package.net_g), func.min(Package.id),
                    func.sum(case((Package.status == "sold", 1), else_=0)))
             .where(Package.batch_id == batch.id).group_by(Package.pack_entry, Package.packed_at).order_by(Package.pack_entry))
        for entry, packed_at, n, net, first, sold in s.execute(q):
            packs.append(PackRow(entry, packed_at, n, net, int(sold or 0),
                                 party is not None and packers.get(entry) == party.id, first))
        # What the viewer may do: the same checks a command runs, on small probe events.
        state = DbState(s.connection())
        ctx = read_context(actor)
        live = state.batch(batch.id)
        assert live is not None
        fixable = set(offers.correctable(state, ctx, live, [e.entry for e in history])) if party is not None else set()
        correctable = [Correctable(e.entry, e.kind, e.occurred_at, tuple(sorted(allowed_fields(e.kind))))
                       for e in history if e.entry in fixable]
        candidates = []
        targets: list[PartyRow] = []
        if party is not None:
            candidates = [c for c in _rows(s, _batch_select().where(
                Batch.custodian_id == party.id, Batch.transit_to_id.is_(None), Batch.status == "active",
                Batch.recalled.is_(False), Batch.product_id == batch.product_id, Batch.form == batch.form,
                Batch.id != batch.id).order_by(Batch.id)) if c.loose_g > 0]
            rows = s.scalars(select(Party).where(Party.id != party.id).order_by(Party.kind, Party.name)).all()
            allowed = set(offers.ship_targets(state, [(p.id, p.kind) for p in rows], ctx))
            targets = [_party_row(p) for p in rows if p.id in allowed]
        actions = offers.offers(state, ctx, live, merge_candidates=[c.id for c in candidates],
                                ship_targets=[t.id for t in targets], correctable_entries=sorted(fixable))
        if "merge" not in actions:
            candidates = []
        if "ship" not in actions:
            targets = []
        names = dict(s.execute(select(Party.id, Party.name)).all())
        recall = _recall_rows(s, [batch])[0] if batch.recalled else None
        ships = [e.entry for e in history if e.kind in ("ship", "correct")]
        vehicles = dict(s.execute(select(ShipmentVehicle.entry, ShipmentVehicle.plate)
                                  .where(ShipmentVehicle.entry.in_(ships))).all()) if ships else {}
        certifies = bool(s.scalar(select(exists().where(Certificate.batch_id == batch.id))))
        return BatchPage(row, origin, history, parents, children, packs, actions, targets, candidates,
                         correctable, names, recall, vehicles, certifies)


def _links(s: Session, actor: Actor, stmt: Select[Any], *, parent: bool) -> list[LinkRow]:
    out = []
    for link, lot in s.execute(stmt.order_by(BatchLink.entry)):
        other = link.parent_id if parent else link.child_id
        out.append(LinkRow(other, lot, link.quantity_g, link.kind, link.entry, _can_view(s, actor, s.get_one(Batch, other))))
    return out


def unsold_package_ids(engine: Engine, actor: Actor, batch_id: object, count: int) -> list[int]:
    """The first `count` unsold packages of a batch the actor may see (the sell form's choice)."""
    with read_session(engine) as s:
        batch = _get_viewable(s, actor, batch_id)
        return list(s.scalars(select(Package.id).where(Package.batch_id == batch.id, Package.status == "packed")
                              .order_by(Package.id).limit(count)))


def label_data(engine: Engine, actor: Actor, batch_id: object, *, pack_entry: object = None,
               package_id: object = None) -> list[LabelData]:
    """Labels of one pack event or one package, for the party that packed them."""
    with read_session(engine) as s:
        batch = _get_viewable(s, actor, batch_id)
        q = (select(Package, PackageSecret.serial).join(PackageSecret, PackageSecret.package_id == Package.id)
             .where(Package.batch_id == batch.id).order_by(Package.id))
        if package_id is not None:
            q = q.where(Package.id == parse_id(package_id, "package"))
        if pack_entry is not None:
            raw = str(pack_entry).strip()
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
                raise PACK_ENTRY("entry")
            q = q.where(Package.pack_entry == int(raw))
        found = s.execute(q).all()
        if not found:
            raise NO_PACKAGES("package")
        entries = {pkg.pack_entry for pkg, _ in found}
        packers = dict(s.execute(select(BatchEvent.entry, BatchEvent.party_id).where(
            BatchEvent.batch_id == batch.id, BatchEvent.entry.in_(entries), BatchEvent.kind == "pack")).all())
        if actor.party_id is None or any(packers.get(e) != actor.party_id for e in entries):
            raise NOT_PACKER("package")
        printable(batch, "batch")  # as `flask labels` does: no new labels for fruit that must not be sold
        packer = s.get_one(Party, actor.party_id)
        product = s.get_one(Product, batch.product_id)
        extras = {e: field_queries.label_extras(s, batch, packer.id, e, next(p.packed_at for p, _ in found if p.pack_entry == e))
                  for e in entries}
        return [LabelData(pkg.id, serial, pkg.net_g, pkg.packed_at, batch.lot_code, product.name_zh, product.name_en,
                          product.gtin, field_queries.public_party_name(s, packer), packer.uscc, extras[pkg.pack_entry].gi_badge,
                          extras[pkg.pack_entry].origin, extras[pkg.pack_entry].grade, extras[pkg.pack_entry].shelf_life)
                for pkg, serial in found]


def certificate(engine: Engine, actor: Actor, batch_id: object, base_url: str) -> CertificateInfo:
    """The lot's 承诺达标合格证 to print, as the log records it (issued, or chained by a split,
    merge or processing), for whoever may see the batch: a buyer keeps the certificates of what
    it receives. The portal prints no certificate the log does not hold: a lot with none is
    refused with a pointer to the form that issues one (`flask labels` still prints the lot's
    facts with no number and no basis ticked, for lots logged before certificates were)."""
    with read_session(engine) as s:
        batch = _get_viewable(s, actor, batch_id)
        return certificate_info(s, base_url, batch.lot_code, required=True)


@dataclass(frozen=True)
class ProductVersion:
    """One definition of a product in the log: when, by whom, and what it changed."""

    entry: int
    recorded_at: str
    party_name: str | None
    changed: tuple[str, ...]  # the fields that differ from the version before (all, for the first)
    spec: dict[str, Any]


def product_history(engine: Engine, product_id: str) -> list[ProductVersion]:
    """Every definition of a product, newest first, read from the log's entries (the index only
    says where to look: an entry that is not this product's definition is left out)."""
    with read_session(engine) as s:
        indexes = list(s.scalars(select(ProductHistory.entry).where(ProductHistory.product_id == product_id)
                                 .order_by(ProductHistory.entry)))
        found = entries(s, indexes)
        names = dict(s.execute(select(Party.id, Party.name)).all()) if found else {}
    out: list[ProductVersion] = []
    before: dict[str, Any] | None = None
    for index in indexes:
        entry = found.get(index)
        if entry is None or not isinstance(entry.event, ProductDefine) or entry.event.product.id != product_id:
            continue
        spec = entry.event.product.model_dump()
        spec["area"] = sorted((a["township"], a["village"]) for a in spec["area"])
        changed = tuple(k for k in spec if before is None or spec[k] != before.get(k))
        out.append(ProductVersion(index, entry.recorded_at, names.get(entry.party) if entry.party else None, changed, spec))
        before = spec
    return out[::-1]


def product_detail(engine: Engine, product_id: str) -> ProductDetail:
    """One product as the catalogue holds it now (the edit form starts from it)."""
    for p in product_details(engine):
        if p.id == product_id:
            return p
    raise NO_PRODUCT("id", id=str(product_id)[:40])


_CROCKFORD = str.maketrans({"I": "1", "L": "1", "O": "0"})


def search(engine: Engine, actor: Actor, query: object) -> list[SearchHit]:
    """Batches by lot code (whole or part) or by package code (serial, its last 12 characters,
    or a scanned package URL), among those the actor may see."""
    raw = unicodedata.normalize("NFKC", "" if query is None else str(query)).strip()
    if not raw:
        raise SEARCH_EMPTY("q")
    if len(raw) > 300:
        raise SEARCH_LONG("q")
    m = re.search(r"/(?:21|p)/([0-9A-Za-z]{12,20})/?(?:[?#].*)?$", raw)
    code = m.group(1) if m else raw
    compact = re.sub(r"[\s\-…·.]", "", code).upper()
    serial = compact.translate(_CROCKFORD)
    with read_session(engine) as s:
        hits: list[SearchHit] = []
        if len(serial) in (12, SERIAL_LEN) and all(c in SERIAL_CHARS for c in serial):
            if len(serial) == SERIAL_LEN:
                pkg = s.scalar(select(Package).where(Package.serial_hash == serial_hash(serial)))
            else:  # the short serial printed under the QR code
                pkg = s.scalar(select(Package).join(PackageSecret, PackageSecret.package_id == Package.id)
                               .where(PackageSecret.serial.like(f"%{serial}")).limit(1))
            if pkg is not None and _can_view(s, actor, s.get_one(Batch, pkg.batch_id)):
                hits.append(SearchHit(_rows(s, _batch_select().where(Batch.id == pkg.batch_id))[0], pkg.id, "package"))
        lot = code.strip().upper()
        if LOT_RE.match(lot) and not hits:
            q = _batch_select().where(func.upper(Batch.lot_code) == lot)
            exact = [r for r in _rows(s, q) if _can_view(s, actor, s.get_one(Batch, r.id))]
            if exact:
                return [SearchHit(r, None, "lot") for r in exact]
            if len(lot) >= 3:
                like = _batch_select().where(func.upper(Batch.lot_code).contains(lot, autoescape=True))
                if not _sees_all(s, actor):
                    like = like.where(Batch.id.in_(_involved(actor.party_id or 0)))
                hits = [SearchHit(r, None, "lot") for r in _rows(s, like.order_by(Batch.id.desc()).limit(30))]
        return hits


# -- lists -----------------------------------------------------------------------------------


def products(engine: Engine) -> list[ProductRow]:
    """The GI catalogue."""
    with read_session(engine) as s:
        return [ProductRow(p.id, p.name_zh, p.name_en, tuple(p.months), p.gtin)
                for p in s.scalars(select(Product).order_by(Product.id))]


@dataclass(frozen=True)
class ProductDetail:
    """A GI product with everything a regulator may change: area, months, ceiling, GTIN."""

    id: str
    name_zh: str
    name_en: str
    gi_ref: str
    gtin: str | None
    months: tuple[int, ...]
    yield_g_per_mu: int
    lot_prefix: str
    area: tuple[tuple[str, str], ...]


def product_details(engine: Engine) -> list[ProductDetail]:
    """The whole GI catalogue with protected areas (public facts: anyone logged in may read it)."""
    with read_session(engine) as s:
        return [ProductDetail(p.id, p.name_zh, p.name_en, p.gi_ref, p.gtin, tuple(p.months), p.yield_g_per_mu,
                              p.lot_prefix, tuple((a.township, a.village) for a in p.area))
                for p in s.scalars(select(Product).order_by(Product.id))]


def plots(engine: Engine, actor: Actor) -> list[PlotRow]:
    """Plots the actor may register harvests from or manage: its own, or all for an administrator."""
    with read_session(engine) as s:
        q = select(Plot, Party.name).join(Party, Party.id == Plot.party_id).order_by(Plot.party_id, Plot.id)
        if not actor.is_admin:
            q = q.where(Plot.party_id == (actor.party_id or 0))
        return [_plot_row(p, name) for p, name in s.execute(q)]


def parties(engine: Engine, actor: Actor, kinds: Sequence[str] | None = None) -> list[PartyRow]:
    """All parties with their credit status: for regulators and administrators."""
    with read_session(engine) as s:
        if not _sees_all(s, actor):
            raise REGISTER_HIDDEN()
        q = select(Party).order_by(Party.kind, Party.name)
        if kinds:
            q = q.where(Party.kind.in_(list(kinds)))
        return [_party_row(p) for p in s.scalars(q)]


def party(engine: Engine, party_id: int) -> PartyRow | None:
    """One party, or None."""
    with read_session(engine) as s:
        p = s.get(Party, party_id)
        return _party_row(p) if p else None


def log_size(engine: Engine) -> int:
    """Entries in the log."""
    with read_session(engine) as s:
        return Ledger.size(s)
