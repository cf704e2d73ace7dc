"""The log in the database: append under the head lock, sign checkpoints, serve proofs, verify.

Knows bytes and hashes, not apples: callers hand in JSON-ready records and get back indexes."""
from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from trace.clock import rfc3339, utc_now
from trace.db import write_session
from trace.ledger import merkle, note
from trace.ledger.models import Alarm, Checkpoint, LogEntry, LogHead, MerkleNode
from trace.ledger.signer import RecordError, SignedTree, SignerRecord, chain_step, now_rfc3339

log = logging.getLogger(__name__)

HEAD_ID = 1
_entries = LogEntry.__table__
_nodes = MerkleNode.__table__
_head = LogHead.__table__
_checkpoints = Checkpoint.__table__
# Statements of the write path, built once: the hot path only binds parameters.
# The head's two statements run on every write, straight to the driver (as the entry inserts
# do): through SQLAlchemy's execute they cost more than the signer's record (bench_witness.py).
_LOCK_SQL = f"SELECT size, frontier, last_leaf FROM log_head WHERE id = {HEAD_ID}"
_UPDATE_HEAD_SQL = {"qmark": f"UPDATE log_head SET size = ?, frontier = ?, last_leaf = ? WHERE id = {HEAD_ID}",
                    "format": f"UPDATE log_head SET size = %s, frontier = %s, last_leaf = %s WHERE id = {HEAD_ID}"}


class LedgerError(Exception):
    """A request the log cannot satisfy (bad index, bad size, non-canonical record)."""


class SignerRefused(LedgerError):
    """The signer will not sign this tree: it does not extend the last tree the signer signed.
    Nothing is written; the refusal is kept as an alarm for the regulator."""


class VerifyError(Exception):
    """Verification found damage; `index` names the first bad entry (None when not one entry)."""

    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message if index is None else f"entry {index}: {message}")
        self.index = index
        self.detail = message


def b64(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


_SCALARS = (str, int, bool, type(None))


def _check_json(value: object, path: str = "$") -> None:
    # No floats anywhere: quantities are integer grams, so a float is always a bug upstream.
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, sub in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise LedgerError(f"{where}: keys must be strings")
                if type(sub) not in _SCALARS:
                    stack.append((f"{where}.{key}", sub))
        elif kind is list:
            stack.extend((f"{where}[{i}]", sub) for i, sub in enumerate(item) if type(sub) not in _SCALARS)  # type: ignore[arg-type]
        elif kind not in _SCALARS:
            raise LedgerError(f"{where}: {kind.__name__} is not allowed in a log entry")


def canonical(obj: Mapping[str, object]) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, no insignificant whitespace, no floats."""
    _check_json(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Appended:
    """An entry just written."""

    index: int
    body: bytes
    leaf: bytes


@dataclass(frozen=True)
class Head:
    """The log head as read under the lock."""

    size: int
    frontier: list[bytes]
    last_leaf: bytes

    @property
    def root(self) -> bytes:
        """Merkle root of the whole log."""
        return merkle.root_from_frontier(self.frontier)


@dataclass
class Staged:
    """Entries made but not yet written: the head they grow from (`base`), the head they lead
    to, their rows and Merkle nodes."""

    head: Head
    entries: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    base: Head | None = None

    def __post_init__(self) -> None:
        if self.base is None:
            self.base = self.head


def _split(frontier: bytes) -> list[bytes]:
    return [frontier[i : i + 32] for i in range(0, len(frontier), 32)]


class Ledger:
    """The log of one deployment: its origin line, signing key and the signer's own record."""

    def __init__(
        self, origin: str, signer: note.NoteSigner | None, clock: Callable[[], datetime] = utc_now,
        record: SignerRecord | None = None,
    ) -> None:
        self.origin = origin
        self.signer = signer
        self.clock = clock
        self.record = record
        # Called (without arguments, outside any transaction) after a commit that carried a new
        # checkpoint: the witness client hangs on it to ask for cosignatures in the background.
        self.on_checkpoint: Callable[[], None] | None = None

    # -- writing -------------------------------------------------------------------------

    @staticmethod
    def create_head(session: Session) -> None:
        """Insert the head row of an empty log (part of `init`), if missing."""
        if session.get(LogHead, HEAD_ID) is None:
            session.execute(insert(_head).values(id=HEAD_ID, size=0, frontier=b"", last_leaf=b""))

    @staticmethod
    def lock(session: Session) -> Head:
        """Take the log's write lock (row lock on the head; SQLite already holds BEGIN IMMEDIATE)."""
        conn = session.connection()
        # SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE); elsewhere a row lock.
        row = conn.exec_driver_sql(_LOCK_SQL if conn.dialect.name == "sqlite" else _LOCK_SQL + " FOR UPDATE").first()
        if row is None:
            raise LedgerError("the log has no head: run `flask --app trace init` first")
        head = Head(int(row[0]), _split(bytes(row[1])), bytes(row[2]))
        session.info["trace_base"] = session.info["trace_tip"] = head  # see _check_extends
        return head

    def append(self, session: Session, head: Head, record: Mapping[str, object],
               recorded_at: str | None = None) -> tuple[Head, Appended]:
        """Append one record; returns the new head and the entry. Caller holds the lock."""
        head, done = self.append_many(session, head, [record], recorded_at)
        return head, done[0]

    def append_many(
        self, session: Session, head: Head, records: Iterable[Mapping[str, object]], recorded_at: str | None = None
    ) -> tuple[Head, list[Appended]]:
        """Append records in order within the caller's transaction, writing each table once.
        `recorded_at` (an RFC 3339 time) is the caller's "now", so that the rules it checked
        against that time are checked against the same time when the log is replayed."""
        staged = Staged(head)
        done = [self.stage(staged, record, recorded_at) for record in records]
        self.write(session, staged)
        return staged.head, done

    def stage(self, staged: Staged, record: Mapping[str, object], recorded_at: str | None = None) -> Appended:
        """Make the next entry of `staged` from a record, without writing yet (see write): a
        transaction of many events writes the log's tables once, at its end."""
        if {"index", "prev", "recorded_at"} & record.keys():
            raise LedgerError("index, prev and recorded_at are set by the log, not the caller")
        head = staged.head
        body = canonical({**record, "index": head.size, "prev": b64(head.last_leaf),
                          "recorded_at": recorded_at or rfc3339(self.clock())})
        leaf = merkle.leaf_hash(body)
        new_nodes, frontier = merkle.append_leaf(head.size, leaf, head.frontier)
        staged.entries.append((head.size, body, leaf))
        staged.nodes.extend(new_nodes)
        staged.head = Head(head.size + 1, frontier, leaf)
        return Appended(head.size, body, leaf)

    @staticmethod
    def write(session: Session, staged: Staged) -> None:
        """Write the staged entries, their Merkle nodes and the new head."""
        if not staged.entries:
            return
        # Core statements on the session's connection: the ORM adds nothing here but time.
        conn = session.connection()
        _insert_rows(conn, "log_entries", ("idx", "body", "leaf_hash"), staged.entries)
        if staged.nodes:
            _insert_rows(conn, "merkle_nodes", ("level", "idx", "hash"), staged.nodes)
        head = staged.head
        conn.exec_driver_sql(_UPDATE_HEAD_SQL["qmark" if conn.dialect.paramstyle == "qmark" else "format"],
                             (head.size, b"".join(head.frontier), head.last_leaf))
        if staged.base is session.info.get("trace_tip"):
            session.info["trace_tip"] = head  # grown here, in this process, from the locked head
        staged.entries, staged.nodes, staged.base = [], [], head

    def sign_checkpoint(self, session: Session, head: Head) -> str | None:
        """Sign and store a checkpoint of the tree at `head` (the caller holds the lock and has
        just grown the tree, so none exists at this size yet). Returns the signed note.

        With a signer record, the tree must extend the last one the signer signed, shown by a
        consistency proof from the stored nodes to the record's root; else SignerRefused. The
        record is durable before the signature is returned, and is put back if the transaction
        that carries the signature rolls back (that signature was then never published)."""
        if self.signer is None:
            raise LedgerError("no signing key is configured")
        if head.size == 0:
            return None
        root = head.root
        text = note.format_checkpoint(self.origin, head.size, root)
        new: SignedTree | None = None
        last: SignedTree | None = None
        if self.record is None:
            signed, prev_size = self.signer.sign(text), None
        else:
            try:
                with self.record.locked() as rec:
                    last = rec.state if rec.state is not None else self._adopt(session)
                    self._check_extends(session, last, head.size, root, grown_here=head is session.info.get("trace_tip"))
                    signed = self.signer.sign(text)
                    new = (last or SignedTree(self.origin, 0, merkle.EMPTY_ROOT)).advance(head.size, root, now_rfc3339())
                    rec.write(new)
            except RecordError as exc:
                self._refuse(session, "signer_record", str(exc))
            prev_size = last.size if last is not None else 0
        conn = session.connection()
        created: datetime | str = self.clock()
        if conn.dialect.name == "sqlite":  # as SQLAlchemy's DateTime stores it there, in UTC
            created = created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[union-attr]
        _insert_rows(conn, "checkpoints", ("size", "root", "note", "created_at", "prev_size"),
                     [(head.size, root, signed, created, prev_size)])
        # Settled when the transaction ends: see _after_commit and _after_transaction_end below.
        # Two signatures in one transaction undo to the record from before the first.
        earlier = session.info.get("trace_signed")
        session.info["trace_signed"] = (self, new, earlier[2] if earlier else last)
        return signed

    def _adopt(self, session: Session) -> SignedTree | None:
        """A signer without a record yet (first start, or a log from before records) takes the
        database's latest checkpoint as its record, if that checkpoint carries its own valid
        signature over the tree the stored nodes give at that size; nothing to adopt on a new log."""
        latest = self.latest_checkpoint(session)
        if latest is None:
            return None
        assert self.signer is not None
        try:
            origin, size, root = note.parse_checkpoint(note.verify_note(latest.note, self.signer.vkey))
        except note.NoteError as exc:
            self._refuse(session, "signer_adopt", f"the signer has no record and the latest stored checkpoint does not "
                                                  f"carry its valid signature ({exc}): restore the record file {self.record.path if self.record else ''}")
        if origin != self.origin or size != latest.size or root != bytes(latest.root) or self.root_at(session, size) != root:
            self._refuse(session, "signer_adopt", "the signer has no record and the latest stored checkpoint does not match "
                                                  "the stored tree: restore the record file")
        log.warning("signer record started from the database's latest checkpoint (size %d)", size)
        return SignedTree(self.origin, size, root, base=size)

    def _check_extends(self, session: Session, last: SignedTree | None, size: int, root: bytes, *, grown_here: bool = False) -> None:
        """Refuse unless (size, root) is an append-only extension of `last`."""
        if last is None:
            return
        if last.origin != self.origin:
            self._refuse(session, "signer_origin", f"the signer's record is for origin {last.origin!r}, not {self.origin!r}")
        if size < last.size:
            self._refuse(session, "signer_truncated",
                         f"the signer last signed a tree of {last.size} entries; the log now has {size}: "
                         "entries were removed (the log was truncated)")
        if size == last.size:
            if root != last.root:
                self._refuse(session, "signer_fork", f"the signer already signed a different tree of {size} entries")
            return
        # The usual case: the head locked from the database is the remembered tree (its frontier,
        # the stored roots of the tree's complete subtrees, folds to the remembered root), and
        # this process grew `head` from it by appending leaves. The frontier is then the
        # consistency proof: the new tree has the remembered one's subtrees as its left part.
        base = session.info.get("trace_base")
        if grown_here and base is not None and base.size == last.size and base.root == last.root:
            return
        try:
            proof = merkle.consistency_proof(last.size, size, self.nodes(session, merkle.consistency_addresses(last.size, size)))
            merkle.verify_consistency(last.size, size, last.root, root, proof)
        except (merkle.ProofError, LedgerError, KeyError) as exc:
            self._refuse(session, "signer_fork",
                         f"the log of {size} entries does not extend the tree of {last.size} entries the signer signed last "
                         f"(root {b64(last.root)}): its history was rewritten ({exc})")

    def _refuse(self, session: Session, kind: str, message: str) -> None:
        """Stop this write: SignerRefused, and an alarm written once the transaction rolled back."""
        log.error("signer refused: %s", message)
        session.info["trace_alarm"] = (kind, message)
        raise SignerRefused(f"the signer refused to sign: {message}. Writes are stopped until the log is restored; "
                            "the regulator's audit page shows this alarm")

    @staticmethod
    def raise_alarm(session: Session, kind: str, message: str) -> None:
        """Record an alarm in the caller's transaction, unless the latest one says the same."""
        last = session.execute(select(Alarm.kind, Alarm.message).order_by(Alarm.id.desc()).limit(1)).first()
        if last is None or tuple(last) != (kind, message):
            session.add(Alarm(at=utc_now(), kind=kind, message=message))
        log.error("alarm %s: %s", kind, message)

    def signer_state(self) -> SignedTree | None:
        """The signer's record as it stands (None without a record or before the first signature)."""
        return self.record.read() if self.record is not None else None

    # -- reading -------------------------------------------------------------------------

    @staticmethod
    def size(session: Session) -> int:
        """Number of entries in the log."""
        return session.execute(select(_head.c.size).where(_head.c.id == HEAD_ID)).scalar_one_or_none() or 0

    @staticmethod
    def latest_checkpoint(session: Session) -> Checkpoint | None:
        """The signed checkpoint of the largest tree."""
        return session.scalars(select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)).first()

    @staticmethod
    def checkpoint_at(session: Session, size: int) -> Checkpoint | None:
        """The stored checkpoint of the tree at exactly `size`, if any."""
        return session.get(Checkpoint, size)

    @staticmethod
    def entry(session: Session, index: int) -> bytes:
        """The exact bytes of one entry."""
        body = session.execute(select(_entries.c.body).where(_entries.c.idx == index)).scalar_one_or_none()
        if body is None:
            raise LedgerError(f"no entry {index}: the log has {Ledger.size(session)} entries")
        return bytes(body)

    @staticmethod
    def entries(session: Session, start: int, end: int) -> list[tuple[int, bytes]]:
        """Entries [start, end) with their bytes."""
        rows = session.execute(
            select(_entries.c.idx, _entries.c.body)
            .where(_entries.c.idx >= start, _entries.c.idx < end)
            .order_by(_entries.c.idx)
        )
        return [(i, bytes(b)) for i, b in rows]

    @staticmethod
    def nodes(session: Session, addresses: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Fetch stored node hashes by (level, idx) address in one query, straight to the driver:
        the signer fetches a consistency proof on every write, and building this statement
        through SQLAlchemy's expression language costs more than running it."""
        wanted = set(addresses)
        if not wanted:
            return {}
        leaves = [i for lv, i in wanted if lv == 0]
        by_level: dict[int, list[int]] = {}
        for lv, i in wanted:
            if lv > 0:
                by_level.setdefault(lv, []).append(i)
        conn = session.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        parts, params = [], []
        if leaves:
            parts.append(f"SELECT 0, idx, leaf_hash FROM log_entries WHERE idx IN ({', '.join([mark] * len(leaves))})")
            params += leaves
        if by_level:
            # A tuple IN would not work the same on SQLite and PostgreSQL.
            cond = " OR ".join(f"(level = {mark} AND idx IN ({', '.join([mark] * len(ids))}))" for ids in by_level.values())
            parts.append(f"SELECT level, idx, hash FROM merkle_nodes WHERE {cond}")
            for lv, ids in by_level.items():
                params += [lv, *ids]
        found = {(lv, i): bytes(h) for lv, i, h in conn.exec_driver_sql(" UNION ALL ".join(parts), tuple(params))}
        missing = wanted - found.keys()
        if missing:
            raise LedgerError(f"stored Merkle nodes are missing: {sorted(missing)[:5]}")
        return found

    def _size_or_latest(self, session: Session, size: int | None) -> int:
        if size is not None:
            return size
        cp = self.latest_checkpoint(session)
        if cp is None:
            raise LedgerError("the log has no checkpoint yet")
        return cp.size

    def inclusion_proof(self, session: Session, index: int, size: int | None = None) -> dict[str, object]:
        """RFC 9162 inclusion proof of entry `index` in the tree of `size` (default: latest checkpoint)."""
        size = self._size_or_latest(session, size)
        self._check_size(session, size)
        if not 0 <= index < size:
            raise LedgerError(f"index must be between 0 and {size - 1} for a tree of size {size}")
        nodes = self.nodes(session, merkle.inclusion_addresses(index, size) | {(0, index)})
        proof = merkle.inclusion_proof(index, size, nodes)
        return {"index": index, "size": size, "leaf_hash": b64(nodes[(0, index)]), "proof": [b64(p) for p in proof]}

    def consistency_proof(self, session: Session, old: int, size: int | None = None) -> dict[str, object]:
        """RFC 9162 consistency proof between the trees of `old` and `size` entries."""
        size = self._size_or_latest(session, size)
        self._check_size(session, size)
        if not 0 <= old <= size:
            raise LedgerError(f"old must be between 0 and size ({size})")
        proof = merkle.consistency_proof(old, size, self.nodes(session, merkle.consistency_addresses(old, size)))
        return {"old": old, "size": size, "proof": [b64(p) for p in proof]}

    def root_at(self, session: Session, size: int) -> bytes:
        """Merkle root of the first `size` entries, from stored nodes."""
        self._check_size(session, size)
        return merkle.root_hash(size, self.nodes(session, merkle.root_addresses(size)))

    def _check_size(self, session: Session, size: int) -> None:
        have = self.size(session)
        if not 1 <= size <= have:
            raise LedgerError(f"size must be between 1 and {have}, the number of entries in the log")

    # -- verifying -----------------------------------------------------------------------

    def verify_integrity(self, session: Session, vkey: str, chunk: int = 20_000, *,
                         report: dict[str, object] | None = None,
                         progress: Callable[[int], None] | None = None) -> tuple[int, bytes]:
        """Recompute every entry hash, the chain and the Merkle root at every stored checkpoint;
        check every checkpoint's signature, that each one names the checkpoint signed before it
        (a deleted checkpoint leaves a gap), and that the checkpoints agree with the signer's own
        record. Returns (entries, root); raises VerifyError. `report` gets the checkpoint count and
        the signer record's state; `progress` is called with the entries done, every chunk."""
        # The record first: the database read below then sees at least what the record saw.
        try:
            record = self.signer_state()
        except RecordError as exc:
            raise VerifyError(None, str(exc)) from None
        checkpoints = _stream(
            session, select(Checkpoint.size, Checkpoint.root, Checkpoint.note, Checkpoint.prev_size).order_by(Checkpoint.size), chunk)
        entries = _stream(
            session, select(_entries.c.idx, _entries.c.body, _entries.c.leaf_hash).order_by(_entries.c.idx), chunk
        )
        try:
            return self._verify_stream(session, vkey, entries, checkpoints, record, report, progress, chunk)
        finally:
            entries.close()
            checkpoints.close()

    def _verify_checkpoint(self, vkey: str, size: int, root: bytes, signed: str) -> None:
        """One stored checkpoint: its signature by the log's key over exactly its size and root."""
        try:
            origin, cp_size, cp_root = note.parse_checkpoint(note.verify_note(signed, vkey))
        except note.NoteError as exc:
            raise VerifyError(None, f"the checkpoint of size {size}: its signature does not verify: {exc}") from None
        if origin != self.origin:
            raise VerifyError(None, f"the checkpoint of size {size} is for origin {origin!r}, not {self.origin!r}")
        if cp_size != size or cp_root != root:
            raise VerifyError(None, f"the checkpoint of size {size}: its signed text does not match its stored size and root")

    def _verify_stream(self, session: Session, vkey: str, entries: Iterator, checkpoints: Iterator,  # type: ignore[type-arg]
                       record: SignedTree | None, report: dict[str, object] | None,
                       progress: Callable[[int], None] | None, chunk: int) -> tuple[int, bytes]:
        builder = merkle.RootBuilder()
        next_cp = next(checkpoints, None)
        prev = b""
        leaf_hash = merkle.leaf_hash
        expected = 0
        cp_count, prev_cp = 0, 0
        chain, chained = b"\x00" * 32, 0  # the signer record's chain over checkpoints since its base
        for idx, body, stored_leaf in entries:
            if idx != expected:
                raise VerifyError(expected, f"is missing (the next stored entry is {idx})")
            body = bytes(body)
            leaf = leaf_hash(body)
            if leaf != bytes(stored_leaf):
                raise VerifyError(idx, "its bytes do not match its stored leaf hash (the entry was changed)")
            got_index, got_prev = _index_and_prev(body)
            if got_index != idx:
                raise VerifyError(idx, f"says it is entry {got_index}")
            if got_prev != b64(prev):
                raise VerifyError(idx - 1 if idx else 0, f"its hash does not match the prev hash recorded in entry {idx}")
            builder.add(leaf)
            prev = leaf
            expected += 1
            while next_cp is not None and next_cp[0] == expected:
                size, cp_root, signed, prev_size = next_cp[0], bytes(next_cp[1]), next_cp[2], next_cp[3]
                if builder.root() != cp_root:
                    raise VerifyError(idx, f"the Merkle root of the first {expected} entries does not match the checkpoint at that size")
                self._verify_checkpoint(vkey, size, cp_root, signed)
                # Every stored checkpoint is a prefix of this one sequence of entries, so each is
                # consistent with the one before it; what remains is whether one is missing.
                if prev_size is not None and prev_size != prev_cp:
                    raise VerifyError(None, f"checkpoints were deleted: the checkpoint of size {size} was signed right after "
                                            f"one of size {prev_size}, but the stored checkpoint before it is of size {prev_cp}")
                if record is not None and record.base < size <= record.size:
                    chain, chained = chain_step(chain, size, cp_root), chained + 1
                cp_count, prev_cp = cp_count + 1, size
                next_cp = next(checkpoints, None)
            if progress is not None and expected % chunk == 0:
                progress(expected)
        if next_cp is not None:
            raise VerifyError(expected, f"a checkpoint claims {next_cp[0]} entries but the log ends at {expected}")
        root = builder.root()
        head = self.lock_free_head(session)
        if head.size != expected or head.root != root:
            raise VerifyError(None, f"the log head says {head.size} entries, the entries say {expected}")
        latest = self.latest_checkpoint(session)
        if latest is not None and (latest.size != expected or bytes(latest.root) != root):
            raise VerifyError(min(latest.size, expected) - 1, "the signed checkpoint does not cover the log as stored")
        if record is not None:
            self._verify_record(record, expected, prev_cp, chain, chained)
        if report is not None:
            report["checkpoints"] = cp_count
            report["signer"] = (f"signer record: last signed size {record.size}, {record.count} checkpoints since size {record.base}, all stored"
                                if record is not None else "no signer record (no checkpoint signed with one yet)")
        return expected, root

    @staticmethod
    def _verify_record(record: SignedTree, entries: int, latest: int, chain: bytes, chained: int) -> None:
        """The stored checkpoints against the signer's own record of what it signed."""
        if record.size > entries or record.size > latest:
            raise VerifyError(None, f"the signer last signed a tree of {record.size} entries, but the log has {entries} entries "
                                    f"and its latest stored checkpoint is of size {latest}: the log was truncated or checkpoints deleted")
        if chained != record.count or chain != record.chain:
            what = (f"{record.count - chained} of them are missing" if chained < record.count
                    else f"{chained - record.count} stored ones it never signed" if chained > record.count else "they differ")
            raise VerifyError(None, f"the stored checkpoints of sizes {record.base + 1}..{record.size} do not match the signer's record "
                                    f"({record.count} checkpoints signed, {chained} stored: {what})")

    def verify_nodes(self, session: Session, chunk: int = 20_000) -> int:
        """Recompute every stored interior Merkle node (the ones proofs are served from) from the
        leaf hashes. Returns the number of nodes; raises VerifyError."""
        completed = (_nodes.c.idx + 1).op("<<")(_nodes.c.level)  # the log size at which it completed
        nodes = _stream(session, select(_nodes.c.level, _nodes.c.idx, _nodes.c.hash).order_by(completed, _nodes.c.level), chunk)
        leaves = _stream(session, select(_entries.c.idx, _entries.c.leaf_hash).order_by(_entries.c.idx), chunk)
        try:
            frontier: list[bytes] = []
            count, size = 0, 0
            stored = next(nodes, None)
            for _idx, leaf in leaves:
                new, frontier = merkle.append_leaf(size, bytes(leaf), frontier)
                for level, i, h in new:
                    first, last = i << level, ((i + 1) << level) - 1
                    if stored is None or (stored[0], stored[1]) != (level, i):
                        raise VerifyError(None, f"the stored Merkle node over entries {first}..{last} is missing")
                    if bytes(stored[2]) != h:
                        raise VerifyError(None, f"the stored Merkle node over entries {first}..{last} does not match them (proofs would fail)")
                    count += 1
                    stored = next(nodes, None)
                size += 1
            if stored is not None:
                raise VerifyError(None, f"a stored Merkle node at level {stored[0]} index {stored[1]} lies beyond the log")
            return count
        finally:
            nodes.close()
            leaves.close()

    @staticmethod
    def lock_free_head(session: Session) -> Head:
        """Read the head without locking."""
        row = session.execute(select(_head.c.size, _head.c.frontier, _head.c.last_leaf).where(_head.c.id == HEAD_ID)).one()
        return Head(row.size, _split(row.frontier), row.last_leaf)

    @staticmethod
    def iter_entries(session: Session, chunk: int = 5_000) -> Iterator[tuple[int, bytes]]:
        """Every entry in order, streamed."""
        rows = _stream(session, select(_entries.c.idx, _entries.c.body).order_by(_entries.c.idx), chunk)
        try:
            for idx, body in rows:
                yield idx, bytes(body)
        finally:
            rows.close()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """A checkpoint was committed: let the witness client know (it works in its own thread)."""
    signed = session.info.pop("trace_signed", None)
    session.info.pop("trace_alarm", None)
    if signed is not None and signed[0].on_checkpoint is not None:
        try:
            signed[0].on_checkpoint()
        except Exception:  # never let a notification fail a write that has committed
            log.exception("checkpoint notification failed")


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:  # type: ignore[no-untyped-def]
    """The transaction ended without a commit (rolled back, or closed): its signature was never
    published, so the signer's record goes back to what it was; an alarm raised by a refusal is
    written in a transaction of its own, now that the write lock is free."""
    if transaction.parent is not None:
        return
    session.info.pop("trace_base", None)  # a head locked in this transaction means nothing after it
    session.info.pop("trace_tip", None)
    signed = session.info.pop("trace_signed", None)
    if signed is not None and signed[1] is not None and signed[0].record is not None:
        signed[0].record.undo(signed[1], signed[2])
    alarm = session.info.pop("trace_alarm", None)
    if alarm is not None and session.bind is not None:
        try:
            with write_session(session.bind) as s:  # type: ignore[arg-type]
                Ledger.raise_alarm(s, *alarm)
        except Exception:
            log.exception("could not record the alarm %s: %s", *alarm)


def _insert_rows(conn: Connection, table: str, cols: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """executemany straight to the driver: the log's rows are plain tuples, and SQLAlchemy's
    per-row parameter processing would cost more than the hashing (see bench/bench_ledger.py)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    conn.exec_driver_sql(sql, rows if len(rows) > 1 else rows[0])


def _index_and_prev(body: bytes) -> tuple[int | None, str | None]:
    """The top-level index and prev of an entry, read from its tail without parsing the event.

    Canonical entries sort their keys, and "event" sorts before "index" and "prev", so the last
    occurrence of each key is the top-level one (a quote inside a string value is escaped).
    The projection replay parses every entry in full."""
    i = body.rfind(b',"index":')
    p = body.rfind(b',"prev":"')
    if i < 0 or p < 0:
        return None, None
    end = body.find(b",", i + 9)
    try:
        index = int(body[i + 9 : end])
    except ValueError:
        return None, None
    return index, body[p + 9 : body.find(b'"', p + 9)].decode("ascii", "replace")


def _stream(session: Session, stmt, chunk: int) -> Iterator:  # type: ignore[no-untyped-def]
    """Rows of `stmt` in bounded memory (server-side cursor where the driver has one)."""
    result = session.execute(stmt.execution_options(yield_per=chunk))
    try:
        for part in result.partitions():
            yield from part
    finally:
        result.close()  # a server-side cursor must close before its transaction does
