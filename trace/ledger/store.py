"""The log in the database: append under the head lock, sign checkpoints, serve proofs, verify.

Knows bytes and hashes, not apples: callers hand in JSON-ready records and get back indexes."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from trace.clock import rfc3339, utc_now
from trace.ledger import merkle, note
from trace.ledger.models import Checkpoint, LogEntry, LogHead, MerkleNode

HEAD_ID = 1
_entries = LogEntry.__table__
_nodes = MerkleNode.__table__
_head = LogHead.__table__
_checkpoints = Checkpoint.__table__
# Statements of the write path, built once: the hot path only binds parameters.
_LOCK = select(_head.c.size, _head.c.frontier, _head.c.last_leaf).where(_head.c.id == HEAD_ID).with_for_update()
_INSERT_CHECKPOINT = insert(_checkpoints)
_UPDATE_HEAD = update(_head).where(_head.c.id == HEAD_ID)


class LedgerError(Exception):
    """A request the log cannot satisfy (bad index, bad size, non-canonical record)."""


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
    """Entries made but not yet written: the head they lead to, their rows and Merkle nodes."""

    head: Head
    entries: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)


def _split(frontier: bytes) -> list[bytes]:
    return [frontier[i : i + 32] for i in range(0, len(frontier), 32)]


class Ledger:
    """The log of one deployment: its origin line and signing key."""

    def __init__(
        self, origin: str, signer: note.NoteSigner | None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.origin = origin
        self.signer = signer
        self.clock = clock

    # -- writing -------------------------------------------------------------------------

    @staticmethod
    def create_head(session: Session) -> None:
        """Insert the head row of an empty log (part of `init`), if missing."""
        if session.get(LogHead, HEAD_ID) is None:
            session.execute(insert(_head).values(id=HEAD_ID, size=0, frontier=b"", last_leaf=b""))

    @staticmethod
    def lock(session: Session) -> Head:
        """Take the log's write lock (row lock on the head; SQLite already holds BEGIN IMMEDIATE)."""
        row = session.connection().execute(_LOCK).one_or_none()
        if row is None:
            raise LedgerError("the log has no head: run `flask --app trace init` first")
        return Head(row.size, _split(row.frontier), row.last_leaf)

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
        conn.execute(_UPDATE_HEAD, {"size": head.size, "frontier": b"".join(head.frontier), "last_leaf": head.last_leaf})
        staged.entries, staged.nodes = [], []

    def sign_checkpoint(self, session: Session, head: Head) -> str | None:
        """Sign and store a checkpoint of the tree at `head` (the caller holds the lock and has
        just grown the tree, so none exists at this size yet). Returns the signed note."""
        if self.signer is None:
            raise LedgerError("no signing key is configured")
        if head.size == 0:
            return None
        root = head.root
        signed = self.signer.sign(note.format_checkpoint(self.origin, head.size, root))
        session.connection().execute(
            _INSERT_CHECKPOINT, {"size": head.size, "root": root, "note": signed, "created_at": self.clock()}
        )
        return signed

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
        """Fetch stored node hashes by (level, idx) address in at most two queries."""
        wanted = set(addresses)
        leaves = [i for lv, i in wanted if lv == 0]
        inner = [(lv, i) for lv, i in wanted if lv > 0]
        found: dict[tuple[int, int], bytes] = {}
        if leaves:
            for i, h in session.execute(
                select(_entries.c.idx, _entries.c.leaf_hash).where(_entries.c.idx.in_(leaves))
            ):
                found[(0, i)] = bytes(h)
        if inner:
            by_level: dict[int, list[int]] = {}
            for lv, i in inner:
                by_level.setdefault(lv, []).append(i)
            # One query; a tuple IN would not work the same on SQLite and PostgreSQL.
            cond = or_(*(and_(_nodes.c.level == lv, _nodes.c.idx.in_(ids)) for lv, ids in by_level.items()))
            for lv, i, h in session.execute(select(_nodes.c.level, _nodes.c.idx, _nodes.c.hash).where(cond)):
                found[(lv, i)] = bytes(h)
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

    def verify_integrity(self, session: Session, vkey: str, chunk: int = 20_000) -> tuple[int, bytes]:
        """Recompute every entry hash, the chain, the Merkle root at every stored checkpoint and
        the latest checkpoint's signature. Returns (entries, root); raises VerifyError."""
        checkpoints = _stream(session, select(Checkpoint.size, Checkpoint.root).order_by(Checkpoint.size), chunk)
        entries = _stream(
            session, select(_entries.c.idx, _entries.c.body, _entries.c.leaf_hash).order_by(_entries.c.idx), chunk
        )
        try:
            return self._verify_stream(session, vkey, entries, checkpoints)
        finally:
            entries.close()
            checkpoints.close()

    def _verify_stream(self, session: Session, vkey: str, entries: Iterator, checkpoints: Iterator) -> tuple[int, bytes]:  # type: ignore[type-arg]
        builder = merkle.RootBuilder()
        next_cp = next(checkpoints, None)
        prev = b""
        leaf_hash = merkle.leaf_hash
        expected = 0
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
                if builder.root() != bytes(next_cp[1]):
                    raise VerifyError(idx, f"the Merkle root of the first {expected} entries does not match the checkpoint at that size")
                next_cp = next(checkpoints, None)
        if next_cp is not None:
            raise VerifyError(expected, f"a checkpoint claims {next_cp[0]} entries but the log ends at {expected}")
        root = builder.root()
        head = self.lock_free_head(session)
        if head.size != expected or head.root != root:
            raise VerifyError(None, f"the log head says {head.size} entries, the entries say {expected}")
        latest = self.latest_checkpoint(session)
        if latest is not None:
            try:
                text = note.verify_note(latest.note, vkey)
                origin, size, cp_root = note.parse_checkpoint(text)
            except note.NoteError as exc:
                raise VerifyError(None, f"the latest checkpoint's signature does not verify: {exc}") from None
            if origin != self.origin:
                raise VerifyError(None, f"the latest checkpoint is for origin {origin!r}, not {self.origin!r}")
            if size != latest.size or cp_root != bytes(latest.root):
                raise VerifyError(None, "the latest checkpoint's signed text does not match its stored size and root")
            if size != expected or cp_root != root:
                raise VerifyError(min(size, expected) - 1, "the signed checkpoint does not cover the log as stored")
        return expected, root

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
