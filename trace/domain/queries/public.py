"""What a consumer sees of a package or a lot: read-only queries and proof bundles.

Knows apples, not HTTP: the public web pages call these functions and render what they return.
Everything returned is public: no phone numbers, no addresses, no user names or ids, no
coordinates of a grower's plot, no vehicle plates. Facts are plain JSON-ready dicts built from
the typed events of the log, so that the HTML page, the JSON answer and the linkset all say the
same thing.

The journey of a package is rebuilt from the log itself (the entries' bytes), and every step is
checked against the latest signed checkpoint: the checkpoint's Ed25519 signature first, then an
RFC 9162 inclusion proof from the entry's own leaf hash to the checkpoint's root. Facts are
cached per (package, checkpoint size): every write signs a new checkpoint, so a cached journey
is exactly as current as the checkpoint it was checked against.
"""
from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from trace.clock import rfc3339_seconds
from trace.db import read_session
from trace.domain import events as ev_types
from trace.domain import scans
from trace.domain.events import Entry, Event
from trace.domain.identifiers import lot_path, package_path, serial_hash
from trace.domain.queries.entries import raw as raw_entries
from trace.domain.queries.field import public_facts as field_facts
from trace.domain.tables.batches import Batch, BatchEvent, BatchLink, Package, PackageSecret
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, Plot
from trace.ledger import merkle, note
from trace.ledger.models import Checkpoint
from trace.ledger.store import Ledger, LedgerError, b64
from trace.ledger.witnessing import cosignatures_for

Facts = dict[str, Any]
MAX_GENERATIONS = 64  # lineage depth guard: a real journey has a handful of generations
PRIVATE_CHANGES = {"vehicle", "vehicle_commitment"}  # corrections of these are not the public's


@dataclass(frozen=True)
class PackageRef:
    """A package found by its serial, with what the page needs before its (cached) facts."""

    package_id: int
    serial: str
    batch_id: int
    lot: str
    gtin: str | None
    sold: bool
    size: int | None  # the latest signed checkpoint's tree size

    @property
    def path(self) -> str:
        """The canonical path of its page."""
        return package_path(self.serial, self.gtin, self.lot)


@dataclass(frozen=True)
class LotRef:
    """A lot found by its code."""

    batch_id: int
    lot: str
    gtin: str | None
    size: int | None

    @property
    def path(self) -> str:
        """The canonical path of its page."""
        return lot_path(self.lot, self.gtin)


_latest_size = select(func.max(Checkpoint.size)).scalar_subquery()
# Built once: these run on every scan, and building a statement costs more than running it.
_FIND_PACKAGE = (
    select(Package.id, Package.batch_id, Package.status, Batch.lot_code, Product.gtin, _latest_size)
    .join(PackageSecret, PackageSecret.package_id == Package.id)
    .join(Batch, Batch.id == Package.batch_id)
    .join(Product, Product.id == Batch.product_id)
    .where(PackageSecret.serial == bindparam("serial"))
)
_FIND_LOT = (
    select(Batch.id, Batch.lot_code, Product.gtin, _latest_size)
    .join(Product, Product.id == Batch.product_id)
    .where(Batch.lot_code == bindparam("lot"))
)


def find_package(db: Session | Connection, serial: str, gtin: str | None = None, lot: str | None = None) -> PackageRef | None:
    """The package with this serial, in one query; None when unknown or when the GTIN or lot of a
    Digital Link do not match it (a copied serial on another product is not genuine either)."""
    row = db.execute(_FIND_PACKAGE, {"serial": serial}).one_or_none()
    if row is None:
        return None
    pid, bid, status, lot_code, product_gtin, size = row
    if gtin is not None and gtin != product_gtin:
        return None
    if lot is not None and lot != lot_code:
        return None
    return PackageRef(pid, serial, bid, lot_code, product_gtin, status == "sold", size)


def find_lot(db: Session | Connection, lot: str, gtin: str | None = None) -> LotRef | None:
    """The lot with this code (and this GTIN, when one is given); None when unknown."""
    row = db.execute(_FIND_LOT, {"lot": lot}).one_or_none()
    if row is None or (gtin is not None and gtin != row[2]):
        return None
    return LotRef(row[0], row[1], row[2], row[3])


def origin_plots(s: Session, batch_id: int) -> list[Plot]:
    """The plots a batch's fruit was harvested on: those of its harvest ancestors."""
    ids = list(_lineage(s, batch_id))
    return list(s.scalars(select(Plot).join(Batch, Batch.origin_plot_id == Plot.id)
                          .where(Batch.id.in_(ids), Batch.harvest_g.is_not(None)).order_by(Plot.id).distinct()))


# -- facts --------------------------------------------------------------------------------------


class LRU:
    """A small thread-safe LRU map (gunicorn's threaded workers share one per process)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class CheckpointError(Exception):
    """The latest checkpoint does not verify against the log's verifier key: a serious alarm."""


class ConsumerView:
    """Public facts of packages and lots for one deployment: its engine, log and verifier key,
    with caches of facts per (code, checkpoint size) and of proofs per (index, size)."""

    def __init__(self, engine: Engine, ledger: Ledger, vkey: str, counter: scans.ScanCounter, *,
                 cache_size: int = 2048, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.ledger = ledger
        self.vkey = vkey
        self.clock = clock or (lambda: datetime.now(UTC))
        self._facts = LRU(cache_size)
        self._proofs = LRU(cache_size * 16)
        self._checkpoints = LRU(16)
        self._counter = counter
        self._refs = LRU(cache_size * 8)

    def count_scan(self, package_id: int, *, mark: str, now: datetime) -> dict[str, Any]:
        """Count one scan (see scans.ScanCounter)."""
        return self._counter.count(package_id, mark=mark, now=now)

    def peek_scans(self, package_id: int) -> dict[str, Any] | None:
        """The scan counter as it stands, counting nothing."""
        return scans.peek(self.engine, package_id)

    def package_ref(self, serial: str, *, fresh: bool = False) -> PackageRef | None:
        """The package of a serial, remembered per serial (a package never changes lot). The
        remembered checkpoint size tells whether it is current: a scan's upsert returns the
        latest size, and a caller that sees a newer one asks again with fresh=True."""
        ref = None if fresh else self._refs.get(serial)
        if ref is None:
            with self.engine.connect() as conn:
                ref = find_package(conn, serial)
            if ref is not None:  # unknown codes are not remembered: they are rate limited instead
                self._refs.put(serial, ref)
        return ref

    # -- the checkpoint and proofs ---------------------------------------------------------

    def checkpoint(self, s: Session, size: int) -> dict[str, Any]:
        """The signed checkpoint of `size`, its signature verified with the verifier key."""
        cached = self._checkpoints.get(size)
        if cached is not None:
            return cached
        cp = Ledger.checkpoint_at(s, size)
        if cp is None:
            raise CheckpointError(f"no checkpoint of size {size}")
        try:
            origin, cp_size, root = note.parse_checkpoint(note.verify_note(cp.note, self.vkey))
        except note.NoteError as exc:
            raise CheckpointError(f"the checkpoint of size {size} does not verify: {exc}") from None
        if cp_size != size or root != bytes(cp.root):
            raise CheckpointError(f"the checkpoint of size {size} does not match its signed text")
        created = cp.created_at.replace(tzinfo=UTC) if cp.created_at and cp.created_at.tzinfo is None else cp.created_at
        out = {"size": size, "root": b64(root), "origin": origin, "note": cp.note, "verified": True,
               "signed_at": rfc3339_seconds(created) if created else None}
        self._checkpoints.put(size, out)
        return out

    def proofs(self, s: Session, indexes: Iterable[int], size: int) -> dict[int, list[bytes]]:
        """RFC 9162 inclusion proofs of entries in the tree of `size`, fetched in one query."""
        out: dict[int, list[bytes]] = {}
        missing = []
        for i in set(indexes):
            p = self._proofs.get((i, size))
            if p is None:
                missing.append(i)
            else:
                out[i] = p
        if missing:
            addresses: set[tuple[int, int]] = set()
            for i in missing:
                addresses |= merkle.inclusion_addresses(i, size)
            nodes = Ledger.nodes(s, addresses) if addresses else {}
            for i in missing:
                p = merkle.inclusion_proof(i, size, nodes)
                self._proofs.put((i, size), p)
                out[i] = p
        return out

    # -- public facts ------------------------------------------------------------------------

    def package_facts(self, ref: PackageRef) -> Facts:
        """Everything public about a package (without its scan counter), cached per checkpoint."""
        key = ("package", ref.package_id, ref.size)
        facts = self._facts.get(key)
        if facts is None:
            with read_session(self.engine) as s:
                facts = self._build(s, ref.batch_id, ref.size, package_id=ref.package_id)
            self._facts.put(key, facts)
        return facts

    def lot_facts(self, ref: LotRef) -> Facts:
        """Everything public about a lot, cached per checkpoint."""
        key = ("lot", ref.batch_id, ref.size)
        facts = self._facts.get(key)
        if facts is None:
            with read_session(self.engine) as s:
                facts = self._build(s, ref.batch_id, ref.size, package_id=None)
            self._facts.put(key, facts)
        return facts

    def bundle(self, ref: PackageRef | LotRef, base_url: str) -> dict[str, Any]:
        """The "verify it yourself" bundle: the entries of the journey with their exact bytes and
        inclusion proofs, the signed checkpoint and the verifier key. Self-contained: it can be
        checked offline with any RFC 9162 / C2SP signed-note implementation."""
        facts = self.package_facts(ref) if isinstance(ref, PackageRef) else self.lot_facts(ref)
        cp = facts["checkpoint"]
        indexes = sorted({step["entry"] for step in facts["journey"]})
        with read_session(self.engine) as s:
            bodies = raw_entries(s, indexes)
            proofs = self.proofs(s, indexes, cp["size"])
        base = base_url.rstrip("/")
        entries = [{"index": i, "body": bodies[i].decode("utf-8"), "body_base64": b64(bodies[i]),
                    "leaf_hash": b64(merkle.leaf_hash(bodies[i])), "inclusion_proof": [b64(p) for p in proofs[i]],
                    "url": f"{base}/log/entries/{i}"} for i in indexes]
        out: dict[str, Any] = {
            "format": "shapotou-trace/proof-bundle/v1",
            "generated_at": rfc3339_seconds(self.clock()),
            "subject": {"url": base + ref.path, "lot": ref.lot},
            "checkpoint": cp["note"],
            "checkpoint_size": cp["size"],
            "checkpoint_root": cp["root"],
            "verifier_key": self.vkey,
            "log": {"origin": cp["origin"], "checkpoint_url": f"{base}/log/checkpoint", "key_url": f"{base}/log/key",
                    "entries_url": f"{base}/log/entries/", "inclusion_proof_url": f"{base}/log/proof/inclusion",
                    "consistency_proof_url": f"{base}/log/proof/consistency"},
            "entries": entries,
            "how_to_verify": HOW_TO_VERIFY,
        }
        if isinstance(ref, PackageRef):
            pack = facts["package"]["pack_entry"]
            out["subject"]["serial_sha256"] = serial_hash(ref.serial)
            out["subject"]["pack_entry"] = pack
            out["how_to_verify"] = HOW_TO_VERIFY + [
                f"The package: compute SHA-256 (hex) of the serial in the QR code (the last part of the URL); "
                f"it is serial_sha256 above and appears as a serial_hash in the \"packages\" list of pack entry {pack}. "
                "The log never holds the serial itself, so nobody can read valid codes out of it."]
        return out

    # -- building ------------------------------------------------------------------------------

    def _build(self, s: Session, batch_id: int, size: int | None, package_id: int | None) -> Facts:
        if size is None:
            raise CheckpointError("the log has no signed checkpoint yet")
        cp = self.checkpoint(s, size)
        root = base64.b64decode(cp["root"])
        batch = s.get_one(Batch, batch_id)
        package = s.get(Package, package_id) if package_id is not None else None
        cutoffs = _lineage(s, batch_id)
        rows = s.execute(select(BatchEvent.batch_id, BatchEvent.entry, BatchEvent.kind, BatchEvent.occurred_at,
                                BatchEvent.party_id).where(BatchEvent.batch_id.in_(cutoffs), BatchEvent.entry < size)).all()
        raw = raw_entries(s, {r.entry for r in rows})  # exact bytes, for the leaf hashes
        decoded = {i: ev_types.decode(b) for i, b in raw.items()}
        chosen = _choose(rows, decoded, cutoffs, batch_id, package)
        steps = [_step_base(decoded[i], occurred) for i, occurred in sorted(chosen.items(), key=lambda kv: (kv[1], kv[0]))]
        # Names of everything the steps mention, in three queries.
        party_ids, plot_ids, batch_ids = set(), set(), {batch_id}
        for i in chosen:
            entry = decoded[i]
            if entry.party is not None:
                party_ids.add(entry.party)
            if isinstance(entry.event, ev_types.Ship):
                party_ids.add(entry.event.to_party)
            if isinstance(entry.event, ev_types.Harvest):
                plot_ids.add(entry.event.plot)
            batch_ids.update(_batches_in(entry.event))
        parties = {p.id: p for p in s.scalars(select(Party).where(Party.id.in_(party_ids)))} if party_ids else {}
        plots = {p.id: p for p in s.scalars(select(Plot).where(Plot.id.in_(plot_ids)))} if plot_ids else {}
        lots = dict(s.execute(select(Batch.id, Batch.lot_code).where(Batch.id.in_(batch_ids))).all())
        try:
            proofs = self.proofs(s, chosen, size)
        except (LedgerError, KeyError, merkle.ProofError):
            proofs = {}  # stored nodes missing: nothing can be proven, and the page says so
        corrections: dict[int, list[tuple[int, ev_types.Correct]]] = {}
        for step in steps:
            i = step["entry"]
            entry = decoded[i]
            step["party"] = _party(parties.get(entry.party)) if entry.party is not None else None
            step["details"] = _details(entry.event, parties, plots, lots)
            step["place"] = _place(entry.event, step["party"], plots)
            step["lot"] = lots.get(_subject_batch(entry.event), batch.lot_code)
            try:
                merkle.verify_inclusion(merkle.leaf_hash(raw[i]), i, size, proofs[i], root)
                step["included"] = True
            except (merkle.ProofError, KeyError):
                step["included"] = False
            if isinstance(entry.event, ev_types.Correct):
                corrections.setdefault(entry.event.target, []).append((i, entry.event))
        for step in steps:
            fixes = corrections.get(step["entry"], [])
            step["corrected_by"] = [i for i, _ in fixes]
            for _, fix in fixes:  # later corrections win; the original entry stays as it was in the log
                for k, v in fix.changes.items():
                    if k in step["details"] and k not in PRIVATE_CHANGES:
                        step["details"][k] = v
        product = batch.product
        facts: Facts = {
            "kind": "package" if package is not None else "lot",
            "status": self._status(s, batch, decoded),
            "product": {"id": product.id, "name_zh": product.name_zh, "name_en": product.name_en,
                        "gi_ref": product.gi_ref, "gtin": product.gtin, "gi": True},
            "lot": {"code": batch.lot_code, "form": batch.form, "grade": batch.grade, "season": batch.season,
                    "inspection": batch.inspection, "recalled": batch.recalled,
                    "custodian": _party(batch.custodian)},
            "origins": [_origin(step) for step in steps if step["type"] == "harvest"],
            "inspections": [{"entry": st["entry"], "at": st["at"], "party": st["party"], **st["details"]}
                            for st in steps if st["type"] == "inspect"],
            "journey": steps,
            "checkpoint": {k: cp[k] for k in ("size", "root", "origin", "note", "verified", "signed_at")},
            "all_included": all(st["included"] for st in steps),
            # Witnesses whose cosigned checkpoints cover every step, and since when.
            "witnesses": cosignatures_for(s, max((st["entry"] for st in steps), default=-1) + 1),
        }
        facts.update(field_facts(s, batch, package, facts))  # the field end's facts (queries.field)
        if package is not None:
            facts["package"] = {"id": package.id, "net_g": package.net_g, "packed_at": package.packed_at,
                                "status": package.status, "sold_at": package.sold_at, "pack_entry": package.pack_entry,
                                "serial_sha256": package.serial_hash}
        return facts

    @staticmethod
    def _status(s: Session, batch: Batch, decoded: dict[int, Entry]) -> dict[str, Any]:
        if batch.recalled and batch.recall_entry is not None:
            entry = decoded.get(batch.recall_entry)
            if entry is None:
                found = raw_entries(s, {batch.recall_entry})
                entry = ev_types.decode(found[batch.recall_entry]) if found else None
            recall = entry.event if entry is not None and isinstance(entry.event, ev_types.Recall) else None
            return {"code": "recalled", "reason": recall.reason if recall else "",
                    "at": recall.occurred_at if recall else None, "entry": batch.recall_entry,
                    "level": recall.level if recall else None}
        if batch.inspection == "failed":
            return {"code": "failed_inspection"}
        return {"code": "genuine"}


HOW_TO_VERIFY = [
    "Check the signed checkpoint with the verifier key: it is a C2SP signed note (c2sp.org/signed-note) "
    "with an Ed25519 signature over the tlog-checkpoint text (origin, tree size, base64 root hash).",
    "For each entry: its leaf hash is SHA-256(0x00 || the exact bytes of body_base64); check its "
    "inclusion_proof (RFC 9162 section 2.1.3.2) from that leaf hash at its index to the checkpoint's "
    "root hash at checkpoint_size.",
    "Entries are canonical JSON; each names the hash of the entry before it (prev) and is served "
    "at entries_url + index by the log API, byte for byte the same.",
    "Ask the log for a consistency proof from this checkpoint to a later one to see that nothing "
    "before it was rewritten.",
]


# -- helpers ------------------------------------------------------------------------------------


def _lineage(s: Session, batch_id: int) -> dict[int, int | None]:
    """The batch and its ancestors: batch id -> the last entry of its history that belongs to this
    journey (None for the batch itself: all of it). A parent counts up to the split, merge or
    processing that made the child."""
    cutoffs: dict[int, int | None] = {batch_id: None}
    frontier = {batch_id}
    for _ in range(MAX_GENERATIONS):
        if not frontier:
            break
        links = s.execute(select(BatchLink.parent_id, BatchLink.entry).where(BatchLink.child_id.in_(frontier))).all()
        frontier = set()
        for parent, entry in links:
            old = cutoffs.get(parent, -1)
            if parent not in cutoffs or (old is not None and entry > old):
                cutoffs[parent] = entry
                frontier.add(parent)
    return cutoffs


def _step_base(entry: Entry, occurred: str) -> dict[str, Any]:
    ev = entry.event
    original = getattr(ev, "occurred_at", None)
    return {"entry": entry.index, "type": ev.TYPE, "at": occurred, "recorded_at": entry.recorded_at,
            "original_at": original if original != occurred else None}


def _choose(rows: Iterable[Any], decoded: dict[int, Entry], cutoffs: dict[int, int | None],
            batch_id: int, package: Package | None) -> dict[int, str]:
    """The entries of this journey -> their (possibly corrected) times."""
    chosen: dict[int, str] = {}
    own_sale = None
    if package is not None:
        for r in rows:
            ev = decoded[r.entry].event
            if r.batch_id == batch_id and isinstance(ev, ev_types.Sell) and package.id in ev.packages:
                own_sale = r.entry
    corrections = []
    for r in rows:
        cutoff = cutoffs[r.batch_id]
        if r.kind == "correct":
            corrections.append(r)
            continue
        if r.batch_id == batch_id:
            if package is not None:
                if r.kind == "pack" and r.entry != package.pack_entry:
                    continue  # other packages of the lot
                if r.kind == "sell" and r.entry != own_sale:
                    continue
                if own_sale is not None and r.entry > own_sale and r.kind != "recall":
                    continue  # after this package left the shop, the lot's story is not its story
        elif r.kind in ("pack", "sell") or (cutoff is not None and r.entry > cutoff):
            continue
        chosen[r.entry] = min(chosen.get(r.entry, r.occurred_at), r.occurred_at)
    for r in corrections:
        target = decoded[r.entry].event
        if isinstance(target, ev_types.Correct) and target.target in chosen:
            chosen[r.entry] = r.occurred_at
    return chosen


def _batches_in(ev: Event) -> set[int]:
    """Every batch an event names."""
    out: set[int] = set()
    batch = getattr(ev, "batch", None)
    if isinstance(batch, int):
        out.add(batch)
    elif isinstance(batch, ev_types.NewLot):
        out.add(batch.id)
    if isinstance(ev, ev_types.Split):
        out.update(c.id for c in ev.children)
    if isinstance(ev, ev_types.Merge):
        out.update(p.id for p in ev.batches)
        out.add(ev.child.id)
    if isinstance(ev, ev_types.Process):
        out.add(ev.child.id)
    return out


def _subject_batch(ev: Event) -> int | None:
    """The batch a step is about: its own batch, or for a merge the new one."""
    if isinstance(ev, ev_types.Merge):
        return ev.child.id
    batch = getattr(ev, "batch", None)
    return batch.id if isinstance(batch, ev_types.NewLot) else batch


def _party(p: Party | None) -> dict[str, Any] | None:
    """What the public sees of a party: a business's registered name, kind, township, credit code
    and quality-credit status. Never its contact details or its users."""
    if p is None:
        return None
    return {"name": p.name, "kind": p.kind, "township": p.township, "uscc": p.uscc,
            "credit": p.credit_status, "gi_logo": p.gi_logo}


def _plot(p: Plot | None) -> dict[str, Any] | None:
    if p is None:
        return None
    # No coordinates: a plot's location is the grower's business, its village is enough.
    return {"id": p.id, "township": p.township, "village": p.village, "area_mu": p.area_mu_text}


def _details(ev: Event, parties: dict[int, Party], plots: dict[int, Plot], lots: dict[int, str]) -> dict[str, Any]:
    """The public details of one step, read from its typed event."""
    T = ev_types  # noqa: N806
    if isinstance(ev, T.Harvest):
        return {"quantity_g": ev.quantity_g, "plot": _plot(plots.get(ev.plot)), "season": ev.season}
    if isinstance(ev, T.Inspect):
        return {"lab": ev.lab, "report_no": ev.report_no, "passed": ev.passed, "certificate_no": ev.certificate_no,
                "kind": ev.kind, "results": [{"name": r.name, "value": r.value, "limit": r.limit, "unit": r.unit,
                                              "pass": r.pass_} for r in ev.results]}
    if isinstance(ev, T.Grade):
        return {"grade": ev.grade}
    if isinstance(ev, T.Split):
        return {"from": lots.get(ev.batch), "into": [{"lot": c.lot, "quantity_g": c.quantity_g} for c in ev.children]}
    if isinstance(ev, T.Merge):
        return {"from": [{"lot": lots.get(p.id), "quantity_g": p.quantity_g} for p in ev.batches],
                "into": {"lot": ev.child.lot, "quantity_g": ev.child.quantity_g}}
    if isinstance(ev, T.Process):
        return {"from": lots.get(ev.batch), "into": {"lot": ev.child.lot, "quantity_g": ev.child.quantity_g},
                "form": ev.form, "method": ev.method, "input_g": ev.input_g, "yield_permille": ev.yield_permille}
    if isinstance(ev, T.Pack):
        nets = {p.net_g for p in ev.packages}
        return {"count": len(ev.packages), "net_g": nets.pop() if len(nets) == 1 else None}
    if isinstance(ev, T.Store):
        return {"facility": ev.facility, "temperature_dc": ev.temperature_dc}
    if isinstance(ev, T.Ship):
        # The vehicle stays out: it may be a private person's car.
        return {"to": _party(parties.get(ev.to_party))}
    if isinstance(ev, T.Sell):
        return {"count": len(ev.packages), "loose_g": ev.loose_g}
    if isinstance(ev, T.Recall):
        return {"reason": ev.reason, "batches": len(ev.affected)}
    if isinstance(ev, T.Correct):
        return {"target": ev.target, "reason": ev.reason,
                "changes": {k: v for k, v in ev.changes.items() if k not in PRIVATE_CHANGES}}
    return {}


def _place(ev: Event, party: dict[str, Any] | None, plots: dict[int, Plot]) -> str:
    if isinstance(ev, ev_types.Harvest):
        plot = plots.get(ev.plot)
        return f"{plot.township}{plot.village}" if plot else ""
    if isinstance(ev, ev_types.Store):
        return " ".join(x for x in ((party or {}).get("township", ""), ev.facility) if x)
    return (party or {}).get("township", "")


def _origin(step: dict[str, Any]) -> dict[str, Any]:
    return {"entry": step["entry"], "harvested_at": step["at"], "lot": step["lot"], "grower": step["party"],
            "plot": step["details"]["plot"], "quantity_g": step["details"]["quantity_g"]}
