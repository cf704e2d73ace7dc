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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
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
from trace.domain.queries.credit import beijing_day, status_on
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

    def cached(self, key: Any) -> Any:
        """A value this view remembered under `key` (other public queries share its cache)."""
        return self._facts.get(key)

    def remember(self, key: Any, value: Any) -> None:
        """Remember a value under `key`; keys should end with the checkpoint size they hold for."""
        self._facts.put(key, value)

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
        key = ("package", ref.package_id, beijing_day(), ref.size)  # a party's credit status holds for days
        facts = self._facts.get(key)
        if facts is None:
            with read_session(self.engine) as s:
                facts = self._build(s, ref.batch_id, ref.size, package_id=ref.package_id)
            self._facts.put(key, facts)
        return facts

    def lot_facts(self, ref: LotRef) -> Facts:
        """Everything public about a lot, cached per checkpoint."""
        key = ("lot", ref.batch_id, beijing_day(), ref.size)
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
        indexes = facts["entries"]  # the journey's entries and every one the verdict rests on
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
        story = self._story(s, batch_id, size, package_id)
        facts: Facts = {"kind": "package" if story.package is not None else "lot"}
        for part in PARTS:
            facts.update(part(story))
        # The field end's facts (queries.field) come last: they read the others and show natural
        # persons among them as households.
        facts.update(field_facts(s, story.batch, story.package, facts))
        return facts

    def _story(self, s: Session, batch_id: int, size: int, package_id: int | None) -> Story:
        """The entries of a lot's story, read from the log, decoded and proven against the signed
        checkpoint of `size`; the state tables only say where to look."""
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
        shown = set(chosen) | {r.entry for r in rows if r.kind in ("inspect", "recall")} | {
            r.entry for r in rows if r.kind in ("harvest", "split", "merge", "process")}
        # Names of everything the entries mention, in three queries.
        party_ids, plot_ids, batch_ids = set(), set(), set(cutoffs)
        for i in shown:
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
            proofs = self.proofs(s, shown, size)
        except (LedgerError, KeyError, merkle.ProofError):
            proofs = {}  # stored nodes missing: nothing can be proven, and the page says so
        proven = {}
        for i in shown:
            try:
                merkle.verify_inclusion(merkle.leaf_hash(raw[i]), i, size, proofs[i], root)
                proven[i] = True
            except (merkle.ProofError, KeyError):
                proven[i] = False
        story = Story(s, batch, package, size, cp, cutoffs, rows, decoded, proven, chosen, parties, plots, lots, shown)
        story.steps = [_step(story, i, occurred) for i, occurred in sorted(chosen.items(), key=lambda kv: (kv[1], kv[0]))]
        _apply_corrections(story.steps)
        return story


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


# -- the parts of a page's facts ------------------------------------------------------------------
#
# A page's facts are assembled from parts, each a function of the Story (the lot's entries, read
# from the log and proven) returning some keys of the facts. Another section of the page is
# another part: write `def _part_x(story) -> dict` and add it to PARTS (or call add_part).


@dataclass
class Story:
    """What the parts of the facts are built from: a lot's entries (and its sources' up to the
    entry that made it from them), decoded from the log's bytes and proven against the checkpoint."""

    session: Session
    batch: Batch
    package: Package | None
    size: int
    checkpoint: dict[str, Any]
    cutoffs: dict[int, int | None]  # the lot and its sources -> last entry of theirs in its story
    rows: list[Any]  # batch_events rows of the lot and its sources (where to look, not what is true)
    decoded: dict[int, Entry]
    proven: dict[int, bool]  # entry -> its inclusion proof checked against the signed checkpoint
    chosen: dict[int, str]  # the journey's entries -> their (possibly corrected) times
    parties: dict[int, Party]
    plots: dict[int, Plot]
    lots: dict[int, str]
    shown: set[int] = field(default_factory=set)  # every entry the page shows or rests on
    steps: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None  # worked out once (see _verdict)

    def rows_of(self, batch_id: int, kind: str | None = None) -> list[Any]:
        """One batch's rows (of one kind), in log order."""
        return sorted((r for r in self.rows if r.batch_id == batch_id and (kind is None or r.kind == kind)),
                      key=lambda r: r.entry)

    def party(self, entry: int) -> dict[str, Any] | None:
        """The public face of the party that recorded an entry."""
        pid = self.decoded[entry].party
        return _party(self.parties.get(pid)) if pid is not None else None


Part = Callable[[Story], Facts]


def _part_product(story: Story) -> Facts:
    product, batch = story.batch.product, story.batch
    return {"product": {"id": product.id, "name_zh": product.name_zh, "name_en": product.name_en,
                        "gi_ref": product.gi_ref, "gtin": product.gtin, "gi": True},
            "lot": {"code": batch.lot_code, "form": batch.form, "grade": batch.grade, "season": batch.season,
                    "inspection": batch.inspection, "recalled": batch.recalled, "custodian": _party(batch.custodian)}}


def _part_package(story: Story) -> Facts:
    package = story.package
    if package is None:
        return {}
    sale = _own_sale(story)
    return {"package": {"id": package.id, "net_g": package.net_g, "packed_at": package.packed_at,
                        "status": package.status, "sold_at": package.sold_at, "pack_entry": package.pack_entry,
                        "sold_entry": sale, "serial_sha256": package.serial_hash}}


def _part_origins(story: Story) -> Facts:
    """Each source's origin once: harvests grouped by plot, each with its lots and the share of
    this lot that came from them (a merged lot tells its sources apart)."""
    shares = _shares(story, story.batch.id)
    groups: dict[Any, dict[str, Any]] = {}
    for step in story.steps:
        if step["type"] != "harvest":
            continue
        ev = story.decoded[step["entry"]].event
        assert isinstance(ev, ev_types.Harvest)
        key = ev.plot
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"entry": step["entry"], "harvested_at": step["at"], "lot": step["lot"],
                                   "grower": step["party"], "plot": step["details"]["plot"],
                                   "quantity_g": step["details"]["quantity_g"], "harvests": [], "share_permille": 0}
        group["harvests"].append({"entry": step["entry"], "lot": step["lot"], "at": step["at"],
                                  "quantity_g": step["details"]["quantity_g"], "proven": step["included"]})
        group["share_permille"] += round(shares.get(ev.batch.id, Fraction(0)) * 1000)
    origins = sorted(groups.values(), key=lambda g: (-g["share_permille"], g["entry"]))
    for n, g in enumerate(origins):
        g["label"] = chr(ord("A") + n) if len(origins) > 1 and n < 26 else ""
    return {"origins": origins}


def _part_inspections(story: Story) -> Facts:
    """Every inspection of the lot, whenever it was recorded (also after this package was sold),
    and of the lots it was made from; the newest first, a failure before a pass of the same time.
    One of them (or none) decides the status: it is marked."""
    verdict = _verdict(story)
    deciding = set(verdict["inspection"]["entries"])
    out = []
    for bid, cutoff in story.cutoffs.items():
        for r in story.rows_of(bid, "inspect"):
            entry = story.decoded[r.entry]
            ev = entry.event
            if not isinstance(ev, ev_types.Inspect) or ev.batch != bid:
                continue
            details = _details(ev, story.parties, story.plots, story.lots)
            out.append({"entry": r.entry, "at": _corrected_time(story, r.entry, ev.occurred_at), "party": story.party(r.entry),
                        "lot": story.lots.get(bid, ""), "own": bid == story.batch.id,
                        "after_source": bid != story.batch.id and cutoff is not None and r.entry > cutoff,
                        "decides": r.entry in deciding, "included": story.proven.get(r.entry, False),
                        **_corrected_details(story, r.entry, details)})
    out.sort(key=lambda i: (i["at"], not i["passed"], i["entry"]), reverse=True)
    return {"inspections": out}


def _part_recalls(story: Story) -> Facts:
    """Every recall that reached the lot, whenever it was recorded."""
    out = []
    for r in story.rows_of(story.batch.id, "recall"):
        ev = story.decoded[r.entry].event
        if isinstance(ev, ev_types.Recall) and story.batch.id in ev.affected:
            out.append({"entry": r.entry, "at": ev.occurred_at, "reason": ev.reason, "level": ev.level,
                        "party": story.party(r.entry),
                        "lot": story.lots.get(ev.batch, ""), "batches": len(ev.affected),
                        "included": story.proven.get(r.entry, False)})
    return {"recalls": sorted(out, key=lambda x: (x["at"], x["entry"]), reverse=True)}


def _part_status(story: Story) -> Facts:
    verdict = _verdict(story)
    return {"status": verdict["status"], "verdict": verdict}


def _part_journey(story: Story) -> Facts:
    return {"journey": story.steps, "all_included": all(story.proven.get(i, False) for i in story.shown),
            "entries": sorted(story.shown),
            "checkpoint": {k: story.checkpoint[k] for k in ("size", "root", "origin", "note", "verified", "signed_at")},
            # Witnesses whose cosigned checkpoints cover every entry shown, and since when.
            "witnesses": cosignatures_for(story.session, max(story.shown, default=-1) + 1)}


PARTS: list[Part] = [_part_status, _part_product, _part_package, _part_origins, _part_inspections, _part_recalls,
                     _part_journey]


def add_part(part: Part) -> Part:
    """Add a section to every page's facts (a decorator as well)."""
    PARTS.append(part)
    return part


# -- the verdict, from the log ----------------------------------------------------------------------

STATUS_RANK = {"recalled": 3, "failed_inspection": 2, "unverified": 1, "genuine": 0}


def _verdict(story: Story) -> dict[str, Any]:
    """The status a shopper sees and the entries that set it, worked out from the log's entries
    by the rules' own logic (a recall reaching the lot; the lot's latest inspection, or, for a lot
    made from others, theirs at the time it was made), each entry proven against the signed
    checkpoint. The state tables' view is compared: a disagreement, or an entry that is not
    proven, is said on the page, and the worse of the two views is shown."""
    if story.verdict is not None:
        return story.verdict
    recall = next((r for r in _part_recalls(story)["recalls"]), None)
    inspection, entries = _inspection_of(story, story.batch.id, None, {})
    log_code = "recalled" if recall else ("failed_inspection" if inspection == "failed" else "genuine")
    state_code = ("recalled" if story.batch.recalled else
                  "failed_inspection" if story.batch.inspection == "failed" else "genuine")
    deciding = [recall["entry"]] if recall else entries
    proven = all(story.proven.get(e, False) for e in deciding)
    agrees = log_code == state_code and (story.batch.inspection == inspection or bool(recall))
    code = max(log_code, state_code, key=STATUS_RANK.__getitem__)
    if code == "genuine" and not (proven and agrees):
        code = "unverified"
    status: dict[str, Any] = {"code": code, "entries": deciding, "proven": proven, "agrees": agrees}
    if recall:
        status.update(reason=recall["reason"], at=recall["at"], entry=recall["entry"], level=recall["level"])
    elif story.batch.recalled:  # the state says recalled, the log shows no recall: say recalled anyway
        status.update(reason="", at=None, entry=story.batch.recall_entry, level=None)
    elif entries:
        status["entry"] = entries[0]
    out = {"status": status, "inspection": {"result": inspection, "entries": entries,
                                            "inherited": bool(entries) and _first_inspect_batch(story, entries) != story.batch.id}}
    story.verdict = out
    return out


def _first_inspect_batch(story: Story, entries: list[int]) -> int | None:
    ev = story.decoded[entries[0]].event
    return ev.batch if isinstance(ev, ev_types.Inspect) else None


def _inspection_of(story: Story, batch_id: int, before: int | None, memo: dict[Any, Any],
                   depth: int = 0) -> tuple[str, list[int]]:
    """A batch's inspection status from the log ('none', 'passed', 'failed') as the rules apply
    it, just before entry `before` (None: now), and the entries that decide it: its own latest
    inspection, else what it was made from at that time (a split or a merge keeps its parents'
    status, processing starts afresh)."""
    key = (batch_id, before)
    if key in memo:
        return memo[key]
    result: tuple[str, list[int]] = ("none", [])
    own = [r for r in story.rows_of(batch_id, "inspect") if before is None or r.entry < before]
    for r in reversed(own):
        ev = story.decoded[r.entry].event
        if isinstance(ev, ev_types.Inspect) and ev.batch == batch_id:
            result = ("passed" if ev.passed else "failed", [r.entry])
            break
    else:
        made = _creation(story, batch_id)
        if made is not None and depth < MAX_GENERATIONS:
            index, ev = made
            if isinstance(ev, ev_types.Split):
                status, entries = _inspection_of(story, ev.batch, index, memo, depth + 1)
                result = (status, entries + [index] if entries else [])
            elif isinstance(ev, ev_types.Merge):
                parts = [_inspection_of(story, p.id, index, memo, depth + 1) for p in ev.batches]
                failed = [e for st, es in parts if st == "failed" for e in es]
                if failed:
                    result = ("failed", failed + [index])
                elif all(st == "passed" for st, _ in parts):
                    result = ("passed", [e for _, es in parts for e in es] + [index])
    memo[key] = result
    return result


def _creation(story: Story, batch_id: int) -> tuple[int, Event] | None:
    """The entry that made a batch (a harvest, split, merge or processing), from the log."""
    for r in story.rows_of(batch_id):
        ev = story.decoded[r.entry].event
        if isinstance(ev, ev_types.Harvest) and ev.batch.id == batch_id:
            return r.entry, ev
        if isinstance(ev, ev_types.Split) and any(c.id == batch_id for c in ev.children):
            return r.entry, ev
        if isinstance(ev, (ev_types.Merge, ev_types.Process)) and ev.child.id == batch_id:
            return r.entry, ev
    return None


def _shares(story: Story, batch_id: int, depth: int = 0) -> dict[int, Fraction]:
    """Which harvest lots a batch's fruit came from, as fractions of it (by the quantities the
    splits, merges and processing took), from the log."""
    made = _creation(story, batch_id)
    if made is None or depth >= MAX_GENERATIONS:
        return {}
    _, ev = made
    if isinstance(ev, ev_types.Harvest):
        return {batch_id: Fraction(1)}
    if isinstance(ev, (ev_types.Split, ev_types.Process)):
        return _shares(story, ev.batch, depth + 1)
    assert isinstance(ev, ev_types.Merge)
    total = sum(p.quantity_g for p in ev.batches)
    out: dict[int, Fraction] = {}
    for p in ev.batches:
        for harvest, share in _shares(story, p.id, depth + 1).items():
            out[harvest] = out.get(harvest, Fraction(0)) + share * Fraction(p.quantity_g, total)
    return out


def _own_sale(story: Story) -> int | None:
    """The entry that sold this package, from the log."""
    package = story.package
    if package is None:
        return None
    for r in story.rows_of(story.batch.id, "sell"):
        ev = story.decoded[r.entry].event
        if isinstance(ev, ev_types.Sell) and package.id in ev.packages:
            return r.entry
    return None


# -- steps -----------------------------------------------------------------------------------------


def _step(story: Story, i: int, occurred: str) -> dict[str, Any]:
    entry = story.decoded[i]
    step = _step_base(entry, occurred)
    step["party"] = story.party(i)
    step["details"] = _details(entry.event, story.parties, story.plots, story.lots)
    step["place"] = _place(entry.event, step["party"], story.plots)
    step["lot"] = story.lots.get(_subject_batch(entry.event), story.batch.lot_code)
    step["included"] = story.proven.get(i, False)
    return step


def _apply_corrections(steps: list[dict[str, Any]]) -> None:
    """Later corrections win on the page; the original entry stays as it was in the log."""
    corrections: dict[int, list[int]] = {}
    fixes: dict[int, dict[str, Any]] = {}
    for step in steps:
        if step["type"] == "correct":
            corrections.setdefault(step["details"]["target"], []).append(step["entry"])
            fixes[step["entry"]] = step["details"]["changes"]
    for step in steps:
        step["corrected_by"] = corrections.get(step["entry"], [])
        for by in step["corrected_by"]:
            for k, v in fixes[by].items():
                if k in step["details"] and k not in PRIVATE_CHANGES:
                    step["details"][k] = v


def _corrections_of(story: Story, target: int) -> list[int]:
    return sorted(r.entry for r in story.rows if r.kind == "correct" and r.entry in story.decoded
                  and isinstance(story.decoded[r.entry].event, ev_types.Correct)
                  and story.decoded[r.entry].event.target == target)  # type: ignore[union-attr]


def _corrected_details(story: Story, target: int, details: dict[str, Any]) -> dict[str, Any]:
    fixes = _corrections_of(story, target)
    for by in fixes:
        ev = story.decoded[by].event
        assert isinstance(ev, ev_types.Correct)
        for k, v in ev.changes.items():
            if k in details and k not in PRIVATE_CHANGES:
                details[k] = v
    return {**details, "corrected_by": fixes}


def _corrected_time(story: Story, target: int, occurred: str) -> str:
    for by in _corrections_of(story, target):
        ev = story.decoded[by].event
        if isinstance(ev, ev_types.Correct) and "occurred_at" in ev.changes:
            occurred = str(ev.changes["occurred_at"])
    return occurred


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
    """The entries of this journey -> their (possibly corrected) times. A package's journey ends
    with its own sale, except for inspections and recalls of its lot, which it shows whenever
    they were recorded (they are about the fruit the shopper holds)."""
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
                if own_sale is not None and r.entry > own_sale and r.kind not in ("recall", "inspect"):
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
    and the quality-credit status in force today (Beijing). Never its contact details or its users."""
    if p is None:
        return None
    return {"name": p.name, "kind": p.kind, "township": p.township, "uscc": p.uscc,
            "credit": status_on(p, beijing_day()), "gi_logo": p.gi_logo}


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
