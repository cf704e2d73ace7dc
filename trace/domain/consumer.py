"""What a consumer sees of a package or a lot: read-only queries, scan counting, proof bundles.

Knows apples, not HTTP: the public web pages call these functions and render what they return.
Everything returned is public: no phone numbers, no addresses, no user names or ids, no
coordinates of a grower's plot. Facts are plain JSON-ready dicts, so that the HTML page, the
JSON answer and the linkset all say the same thing.

The journey of a package is rebuilt from the log itself (the entries' bytes), and every step is
checked against the latest signed checkpoint: the checkpoint's Ed25519 signature first, then an
RFC 9162 inclusion proof from the entry's own leaf hash to the checkpoint's root. Facts are
cached per (package, checkpoint size): every write signs a new checkpoint, so a cached journey
is exactly as current as the checkpoint it was checked against.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from trace.db import make_engine, read_session
from trace.domain.batches import Batch, BatchEvent, BatchLink, Package, PackageScan, PackageSecret
from trace.domain.catalogue import Product
from trace.domain.codes import LOT_RE, SERIAL_CHARS, SERIAL_LEN, gtin_problem, serial_hash
from trace.domain.errors import InvalidInput
from trace.domain.operations import CHINA
from trace.domain.parties import Party, Plot
from trace.ledger import merkle, note
from trace.ledger.models import Checkpoint
from trace.ledger.store import Ledger, LedgerError, b64
from trace.ledger.witnessing import cosignatures_for

Facts = dict[str, Any]
MAX_GENERATIONS = 64  # lineage depth guard: a real journey has a handful of generations
MARKS_MAX = 400  # PackageScan.client_marks column width
MARK_HEX = 4  # 16 bits per client mark: coarse on purpose, collisions are fine
# Crockford's base32 reads I and L as 1 and O as 0, so a serial retyped from a label still works.
_CROCKFORD = str.maketrans({"I": "1", "L": "1", "O": "0"})


# -- codes and URLs -------------------------------------------------------------------------


def normalize_serial(raw: str) -> str:
    """A package serial as stored: upper case, no spaces or hyphens, Crockford look-alikes mapped."""
    s = "".join(str(raw or "").split()).replace("-", "").upper().translate(_CROCKFORD)
    if len(s) != SERIAL_LEN or any(c not in SERIAL_CHARS for c in s):
        shown = str(raw)[:40]
        raise InvalidInput(
            f"“{shown}”不是有效的包装码：包装码是 {SERIAL_LEN} 位字母和数字。",
            f"“{shown}” is not a valid package code: codes have {SERIAL_LEN} letters and digits.", "serial")
    return s


def normalize_gtin(raw: str) -> str:
    """A GTIN-8/12/13/14 as the 14 digits GS1 Digital Link uses, with its check digit verified."""
    s = str(raw or "")
    if s.isascii() and s.isdigit() and len(s) in (8, 12, 13, 14):
        s = s.rjust(14, "0")
    # gtin_problem's \d would take full-width digits too; a URL's GTIN is ASCII.
    problem = gtin_problem(s) if s.isascii() else "must be exactly 14 digits (0-9)"
    if problem:
        shown = str(raw)[:40]
        raise InvalidInput(f"“{shown}”不是有效的商品条码（GTIN）：{problem}。",
                           f"“{shown}” is not a valid GTIN: it {problem}.", "gtin")
    return s


def check_lot(raw: str) -> str:
    """A lot code: letters, digits and hyphens only, so that it needs no escaping in a URL."""
    s = str(raw or "")
    if not LOT_RE.fullmatch(s):
        shown = s[:40]
        raise InvalidInput(f"“{shown}”不是有效的批号：批号只含字母、数字和连字符，最多 20 位。",
                           f"“{shown}” is not a valid lot code: lot codes have at most 20 letters, digits and hyphens.", "lot")
    return s


def package_path(serial: str, gtin: str | None, lot: str) -> str:
    """Path of a package's page: GS1 Digital Link when the product has a GTIN, else /p/{serial}."""
    return f"/01/{gtin}/10/{lot}/21/{serial}" if gtin else f"/p/{serial}"


def lot_path(lot: str, gtin: str | None) -> str:
    """Path of a lot's page: GS1 Digital Link when the product has a GTIN, else /lot/{lot}."""
    return f"/01/{gtin}/10/{lot}" if gtin else f"/lot/{lot}"


def package_url(base: str, serial: str, gtin: str | None, lot: str) -> str:
    """The URL printed in a package's QR code."""
    return base.rstrip("/") + package_path(serial, gtin, lot)


# -- finding codes ---------------------------------------------------------------------------


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


# -- scans ------------------------------------------------------------------------------------


def client_mark(secret: bytes, client_ip: str, now: datetime) -> str:
    """A coarse, salted, truncated mark of a client's network and the day: 16 bits of
    HMAC(secret, IPv4 /24 or IPv6 /48 + China date). It cannot be turned back into an address,
    differs from day to day, and collides often enough that it identifies nobody."""
    try:
        ip = ipaddress.ip_address(client_ip)
        prefix = 24 if ip.version == 4 else 48
        net = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    except ValueError:
        net = "unknown"
    day = now.astimezone(CHINA).date().isoformat()
    return hmac.new(secret, f"{net}|{day}".encode(), hashlib.sha256).hexdigest()[:MARK_HEX]


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands DateTime columns back naive; we only ever store UTC.
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _upsert(dialect: str) -> Any:
    """The scan counter's upsert for one dialect. Whether the package is sold is read in the same
    statement, and the statement returns the new counter with the latest checkpoint's size, so a
    repeat scan needs nothing else from the database when nothing was written since."""
    t = PackageScan.__table__
    now, entry = bindparam("now"), bindparam("entry")
    sold = select(Package.status).where(Package.id == bindparam("package_id")).scalar_subquery() == "sold"
    ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(t).values(
        package_id=bindparam("package_id"), count=1, first_at=now, last_at=now,
        clients_after_sale=case((sold, 1), else_=0), client_marks=case((sold, entry), else_=""))
    keep = ~sold | t.c.client_marks.like(bindparam("pattern")) | (func.length(t.c.client_marks) + bindparam("entry_len") > MARKS_MAX)
    update = {
        "count": t.c.count + 1, "last_at": now, "first_at": func.coalesce(t.c.first_at, now),
        "client_marks": case((keep, t.c.client_marks), (t.c.client_marks == "", entry), else_=t.c.client_marks + bindparam("tail")),
        "clients_after_sale": case((keep, t.c.clients_after_sale), else_=t.c.clients_after_sale + 1),
    }
    return (ins.on_conflict_do_update(index_elements=[t.c.package_id], set_=update)
            .returning(t.c.count, t.c.first_at, t.c.clients_after_sale, sold.label("sold"), _latest_size.label("size")))


_UPSERTS = {d: _upsert(d) for d in ("sqlite", "postgresql")}
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite: naive UTC text


class ScanCounter:
    """Counts scans of package codes: ONE statement per scan (an upsert returning the new counter,
    whether the package is sold and the latest checkpoint's size).

    Only after sale does a scan add its client mark, and a new mark adds one distinct client; the
    marks column is a small bounded set, so once full the estimate simply stops growing (by then
    it is far beyond any warning threshold).

    Every scan is a write, so on SQLite three things keep it cheap and its latency flat:
    * connections of its own with synchronous=NORMAL: in WAL mode a commit then costs microseconds
      instead of an fsync (about a millisecond). A power cut can lose the last few scans but never
      corrupt the database or touch the log, whose writers keep synchronous=FULL on theirs;
    * scan writers queue on a lock (a thread lock, then flock on a file beside the database, for
      the other processes) instead of SQLite's busy handler, which sleeps 1, 2, 5, 10 ... ms and
      so turns contention into a long latency tail;
    * the statement is compiled once and run on the DBAPI connection.
    On PostgreSQL the counter has connections of its own in autocommit with synchronous_commit
    off: the upsert is its own transaction, one round trip, and a crash can lose the last scans
    (never half of one); the log's transactions keep synchronous commits.
    """

    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self.engine = engine
        self._thread_lock = threading.Lock()
        self._lock_fd: int | None = None
        if self.sqlite and engine.url.database not in (None, "", ":memory:"):
            self.engine = make_engine(engine.url.render_as_string(hide_password=False))
            event.listen(self.engine, "connect", _normal_sync)
            self._lock_fd = os.open(engine.url.database + "-scans.lock", os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, _close, self.engine, self._lock_fd)
        elif not self.sqlite:
            self.engine = make_engine(engine.url.render_as_string(hide_password=False))
            event.listen(self.engine, "connect", _autocommit_async)
            weakref.finalize(self, self.engine.dispose)
        if self.engine is not engine:  # its connections go when the app's do
            counter = self.engine
            event.listen(engine, "engine_disposed", lambda _e: counter.dispose())
        compiled = _UPSERTS[engine.dialect.name].compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        # Constants of the statement ('sold', 1, ...) with placeholders for the per-scan values.
        self.base = compiled.construct_params(dict.fromkeys(("package_id", "now", "entry", "pattern", "entry_len", "tail")))

    def count(self, package_id: int, *, mark: str, now: datetime) -> dict[str, Any]:
        """Count one scan; returns count, first_at, clients_after_sale, sold and size."""
        entry, utc = f",{mark},", now.astimezone(UTC)
        values = {**self.base, "package_id": package_id, "now": utc.strftime(_SQLITE_TIME) if self.sqlite else utc,
                  "entry": entry, "pattern": f"%{entry}%", "entry_len": len(entry), "tail": f"{mark},"}
        params = [values[k] for k in self.order] if self.order is not None else values
        conn = self.engine.raw_connection()  # checked out before queueing: the lock covers only the write
        try:
            if self.sqlite:
                with self._thread_lock:
                    if self._lock_fd is not None:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                    try:
                        row = self._run(conn, params)
                    finally:
                        if self._lock_fd is not None:
                            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            else:
                row = self._run(conn, params)
        finally:
            conn.close()  # back to the pool
        count, first_at, clients, sold, size = row
        if isinstance(first_at, str):
            first_at = datetime.fromisoformat(first_at)
        return {"count": int(count), "first_at": _aware(first_at), "clients_after_sale": int(clients),
                "sold": bool(sold), "size": size}

    def _run(self, conn: Any, params: Any) -> tuple[Any, ...]:
        cur = conn.cursor()
        try:
            if self.sqlite:
                cur.execute("BEGIN IMMEDIATE")  # the write lock first, as every writer here does
            cur.execute(self.sql, params)  # on PostgreSQL, in autocommit: its own transaction
            row = tuple(cur.fetchone())
            if self.sqlite:
                cur.execute("COMMIT")
            return row
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()


def _normal_sync(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _autocommit_async(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.autocommit = True
    cur = dbapi_conn.cursor()
    cur.execute("SET synchronous_commit TO OFF")
    cur.close()


def _close(engine: Engine, fd: int) -> None:
    engine.dispose()
    os.close(fd)


def scan_summary(scan: dict[str, Any], *, copy_threshold: int) -> dict[str, Any]:
    """The scan counter as the page shows it, with the suspected-copy flag."""
    first = scan["first_at"]
    return {"count": scan["count"], "first_at": rfc3339(first) if first else None,
            "clients_after_sale": scan["clients_after_sale"],
            "suspected_copy": scan["sold"] and scan["clients_after_sale"] >= copy_threshold}


def rfc3339(t: datetime) -> str:
    """UTC, seconds precision, with a Z."""
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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

    def __init__(self, engine: Engine, ledger: Ledger, vkey: str, *, cache_size: int = 2048,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.ledger = ledger
        self.vkey = vkey
        self.clock = clock or (lambda: datetime.now(UTC))
        self._facts = LRU(cache_size)
        self._proofs = LRU(cache_size * 16)
        self._checkpoints = LRU(16)
        self._counter: ScanCounter | None = None
        self._refs = LRU(cache_size * 8)

    def count_scan(self, package_id: int, *, mark: str, now: datetime) -> dict[str, Any]:
        """Count one scan (see ScanCounter)."""
        if self._counter is None:
            self._counter = ScanCounter(self.engine)
        return self._counter.count(package_id, mark=mark, now=now)

    def peek_scans(self, package_id: int) -> dict[str, Any] | None:
        """The scan counter as it stands, counting nothing (a language switch is not a scan)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(PackageScan.count, PackageScan.first_at, PackageScan.clients_after_sale, Package.status)
                .join(Package, Package.id == PackageScan.package_id).where(PackageScan.package_id == package_id)
            ).one_or_none()
        if row is None:
            return None
        return {"count": int(row[0]), "first_at": _aware(row[1]), "clients_after_sale": int(row[2]), "sold": row[3] == "sold"}

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
        out = {"size": size, "root": b64(root), "origin": origin, "note": cp.note, "verified": True,
               "signed_at": rfc3339(_aware(cp.created_at)) if cp.created_at else None}
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
            bodies = _bodies(s, indexes)
            proofs = self.proofs(s, indexes, cp["size"])
        base = base_url.rstrip("/")
        entries = [{"index": i, "body": bodies[i].decode("utf-8"), "body_base64": b64(bodies[i]),
                    "leaf_hash": b64(merkle.leaf_hash(bodies[i])), "inclusion_proof": [b64(p) for p in proofs[i]],
                    "url": f"{base}/log/entries/{i}"} for i in indexes]
        out: dict[str, Any] = {
            "format": "shapotou-trace/proof-bundle/v1",
            "generated_at": rfc3339(self.clock()),
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
        events = s.execute(select(BatchEvent.batch_id, BatchEvent.entry, BatchEvent.kind, BatchEvent.occurred_at,
                                  BatchEvent.party_id).where(BatchEvent.batch_id.in_(cutoffs), BatchEvent.entry < size)).all()
        raw = _bodies(s, {e.entry for e in events})  # exact bytes, for the leaf hashes
        bodies = {i: json.loads(b) for i, b in raw.items()}
        chosen = _choose(events, bodies, cutoffs, batch_id, package)
        steps = [self._step_base(i, bodies[i], occurred) for i, occurred in sorted(chosen.items(), key=lambda kv: (kv[1], kv[0]))]
        # Names of everything the steps mention, in three queries.
        party_ids, plot_ids, batch_ids = set(), set(), {batch_id}
        for i in chosen:
            rec = bodies[i]
            ev = rec["event"]
            if rec.get("party") is not None:
                party_ids.add(rec["party"])
            if ev.get("to_party") is not None:
                party_ids.add(ev["to_party"])
            if ev["type"] == "harvest":
                plot_ids.add(ev["plot"])
            batch_ids.update(_batches_in(ev))
        parties = {p.id: p for p in s.scalars(select(Party).where(Party.id.in_(party_ids)))} if party_ids else {}
        plots = {p.id: p for p in s.scalars(select(Plot).where(Plot.id.in_(plot_ids)))} if plot_ids else {}
        lots = dict(s.execute(select(Batch.id, Batch.lot_code).where(Batch.id.in_(batch_ids))).all())
        try:
            proofs = self.proofs(s, chosen, size)
        except (LedgerError, KeyError, merkle.ProofError):
            proofs = {}  # stored nodes missing: nothing can be proven, and the page says so
        corrections: dict[int, list[dict[str, Any]]] = {}
        for step in steps:
            i = step["entry"]
            rec = bodies[i]
            step["party"] = _party(parties.get(rec.get("party")))
            step["details"] = _details(rec["event"], parties, plots, lots)
            step["place"] = _place(rec["event"], step["party"], plots)
            step["lot"] = lots.get(_subject_batch(rec["event"], cutoffs), batch.lot_code)
            try:
                merkle.verify_inclusion(merkle.leaf_hash(raw[i]), i, size, proofs[i], root)
                step["included"] = True
            except (merkle.ProofError, KeyError):
                step["included"] = False
            if rec["event"]["type"] == "correct":
                corrections.setdefault(rec["event"]["target"], []).append(
                    {"entry": i, "changes": rec["event"]["changes"], "reason": rec["event"]["reason"]})
        for step in steps:
            fixes = corrections.get(step["entry"], [])
            step["corrected_by"] = [c["entry"] for c in fixes]
            for fix in fixes:  # later corrections win; the original entry stays as it was in the log
                for k, v in fix["changes"].items():
                    if k in step["details"]:
                        step["details"][k] = v
        product = batch.product
        facts: Facts = {
            "kind": "package" if package is not None else "lot",
            "status": self._status(s, batch, bodies),
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
        if package is not None:
            facts["package"] = {"id": package.id, "net_g": package.net_g, "packed_at": package.packed_at,
                                "status": package.status, "sold_at": package.sold_at, "pack_entry": package.pack_entry,
                                "serial_sha256": package.serial_hash}
        return facts

    @staticmethod
    def _step_base(index: int, rec: dict[str, Any], occurred: str) -> dict[str, Any]:
        ev = rec["event"]
        return {"entry": index, "type": ev["type"], "at": occurred, "recorded_at": rec.get("recorded_at"),
                "original_at": ev.get("occurred_at") if ev.get("occurred_at") != occurred else None}

    @staticmethod
    def _status(s: Session, batch: Batch, bodies: dict[int, dict[str, Any]]) -> dict[str, Any]:
        if batch.recalled:
            rec = bodies.get(batch.recall_entry) if batch.recall_entry is not None else None
            if rec is None and batch.recall_entry is not None:
                found = _bodies(s, {batch.recall_entry})
                rec = json.loads(found[batch.recall_entry]) if found else None
            ev = rec["event"] if rec else {}
            return {"code": "recalled", "reason": ev.get("reason", ""), "at": ev.get("occurred_at"),
                    "entry": batch.recall_entry}
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


def _bodies(s: Session, indexes: Iterable[int]) -> dict[int, bytes]:
    from trace.ledger.models import LogEntry

    wanted = sorted(set(indexes))
    if not wanted:
        return {}
    rows = s.execute(select(LogEntry.idx, LogEntry.body).where(LogEntry.idx.in_(wanted)))
    return {i: bytes(b) for i, b in rows}


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


def _choose(events: Iterable[Any], bodies: dict[int, dict[str, Any]], cutoffs: dict[int, int | None],
            batch_id: int, package: Package | None) -> dict[int, str]:
    """The entries of this journey -> their (possibly corrected) times."""
    chosen: dict[int, str] = {}
    own_sale = None
    if package is not None:
        for e in events:
            if e.batch_id == batch_id and e.kind == "sell" and package.id in bodies[e.entry]["event"].get("packages", []):
                own_sale = e.entry
    corrections = []
    for e in events:
        cutoff = cutoffs[e.batch_id]
        if e.kind == "correct":
            corrections.append(e)
            continue
        if e.batch_id == batch_id:
            if package is not None:
                if e.kind == "pack" and e.entry != package.pack_entry:
                    continue  # other packages of the lot
                if e.kind == "sell" and e.entry != own_sale:
                    continue
                if own_sale is not None and e.entry > own_sale and e.kind != "recall":
                    continue  # after this package left the shop, the lot's story is not its story
        elif e.kind in ("pack", "sell") or (cutoff is not None and e.entry > cutoff):
            continue
        chosen[e.entry] = min(chosen.get(e.entry, e.occurred_at), e.occurred_at)
    for e in corrections:
        if bodies[e.entry]["event"]["target"] in chosen:
            chosen[e.entry] = e.occurred_at
    return chosen


def _batches_in(ev: dict[str, Any]) -> set[int]:
    out: set[int] = set()
    if isinstance(ev.get("batch"), int):
        out.add(ev["batch"])
    elif isinstance(ev.get("batch"), dict):
        out.add(ev["batch"]["id"])
    out.update(c["id"] for c in ev.get("children", []))
    out.update(b["id"] for b in ev.get("batches", []))
    if isinstance(ev.get("child"), dict):
        out.add(ev["child"]["id"])
    return out


def _subject_batch(ev: dict[str, Any], cutoffs: dict[int, int | None]) -> int | None:
    """The batch a step is about: its own batch, or for a merge the new one."""
    if ev["type"] == "merge":
        return ev["child"]["id"]
    b = ev.get("batch")
    return b["id"] if isinstance(b, dict) else b


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


def _details(ev: dict[str, Any], parties: dict[int, Party], plots: dict[int, Plot], lots: dict[int, str]) -> dict[str, Any]:
    kind = ev["type"]
    if kind == "harvest":
        return {"quantity_g": ev["quantity_g"], "plot": _plot(plots.get(ev["plot"])), "season": ev["season"]}
    if kind == "inspect":
        return {"lab": ev["lab"], "report_no": ev["report_no"], "passed": ev["passed"],
                "certificate_no": ev.get("certificate_no", ""), "results": ev.get("results", [])}
    if kind == "grade":
        return {"grade": ev["grade"]}
    if kind == "split":
        return {"from": lots.get(ev["batch"]), "into": [{"lot": c["lot"], "quantity_g": c["quantity_g"]} for c in ev["children"]]}
    if kind == "merge":
        return {"from": [{"lot": lots.get(b["id"]), "quantity_g": b["quantity_g"]} for b in ev["batches"]],
                "into": {"lot": ev["child"]["lot"], "quantity_g": ev["child"]["quantity_g"]}}
    if kind == "process":
        return {"from": lots.get(ev["batch"]), "into": {"lot": ev["child"]["lot"], "quantity_g": ev["child"]["quantity_g"]},
                "form": ev["form"], "method": ev.get("method", ""), "input_g": ev["input_g"],
                "yield_permille": ev.get("yield_permille")}
    if kind == "pack":
        nets = {p["net_g"] for p in ev["packages"]}
        return {"count": len(ev["packages"]), "net_g": nets.pop() if len(nets) == 1 else None}
    if kind == "store":
        return {"facility": ev["facility"], "temperature_dc": ev["temperature_dc"]}
    if kind == "ship":
        # The vehicle plate stays out: it may be a private person's car.
        return {"to": _party(parties.get(ev["to_party"]))}
    if kind == "sell":
        return {"count": len(ev.get("packages", [])), "loose_g": ev.get("loose_g", 0)}
    if kind == "recall":
        return {"reason": ev["reason"], "batches": len(ev.get("affected", []))}
    if kind == "correct":
        return {"target": ev["target"], "changes": ev["changes"], "reason": ev["reason"]}
    return {}


def _place(ev: dict[str, Any], party: dict[str, Any] | None, plots: dict[int, Plot]) -> str:
    if ev["type"] == "harvest":
        plot = plots.get(ev["plot"])
        return f"{plot.township}{plot.village}" if plot else ""
    if ev["type"] == "store":
        return " ".join(x for x in ((party or {}).get("township", ""), ev["facility"]) if x)
    return (party or {}).get("township", "")


def _origin(step: dict[str, Any]) -> dict[str, Any]:
    return {"entry": step["entry"], "harvested_at": step["at"], "lot": step["lot"], "grower": step["party"],
            "plot": step["details"]["plot"], "quantity_g": step["details"]["quantity_g"]}
