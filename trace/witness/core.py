"""A C2SP tlog-witness: checks a log's checkpoints for append-only growth and cosigns them.

Its own key (cosignature/v1, Ed25519) and its own state, a small SQLite file of its own: for
each log it witnesses (an origin and the log's verifier keys) the latest checkpoint it
cosigned; and the evidence of every checkpoint it refused as inconsistent with that one,
kept with the signed checkpoint it conflicts with. It uses nothing of the app but the
ledger's signed notes, Merkle proofs and cosignature format, so the bureau can run it alone.

add-checkpoint as in c2sp.org/tlog-witness: checking the old size against the stored one and
storing the new checkpoint happen in one SQLite write transaction (BEGIN IMMEDIATE), durable
(synchronous=FULL) before the cosignature is returned."""
from __future__ import annotations

import base64
import binascii
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from trace.ledger import merkle, note
from trace.ledger.cosig import Cosigner

MAX_BODY = 64 * 1024
MAX_PROOF = 63
SIZE_TYPE = "text/x.tlog.size"

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, received_at TEXT NOT NULL, reason TEXT NOT NULL,
    cosigned_size INTEGER NOT NULL, cosigned_note TEXT NOT NULL, request TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type, body."""

    status: int
    content_type: str
    body: str


def _text(status: int, message: str) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", message.rstrip("\n") + "\n")


def parse_logs(spec: str) -> dict[str, list[str]]:
    """Logs to witness from "origin vkey" entries, one a line or separated by ';'."""
    logs: dict[str, list[str]] = {}
    for item in spec.replace(";", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        origin, _sep, vkey = item.rpartition(" ")
        origin = origin.strip()
        if not origin:
            raise ValueError(f"witnessed log {item[:80]!r} must be 'origin vkey', e.g. "
                             "'shapotou.trace.example/log shapotou.trace.example/log+1a2b3c4d+AQ...'")
        try:
            note._parse_vkey(vkey)
        except note.NoteError as exc:
            raise ValueError(f"the verifier key of witnessed log {origin!r} is not valid: {exc}") from None
        logs.setdefault(origin, []).append(vkey)
    return logs


class Witness:
    """One witness: its cosigning key, the logs it trusts, its state file."""

    def __init__(self, cosigner: Cosigner, logs: Mapping[str, Sequence[str]], state_path: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.cosigner = cosigner
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state_path = state_path
        self.clock = clock
        self._local = threading.local()
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.state_path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # the record must survive a crash before we cosign
            self._local.db = db
        return db

    # -- add-checkpoint ------------------------------------------------------------------------

    def add_checkpoint(self, body: bytes) -> Answer:
        """Handle one add-checkpoint request body; never raises for bad input."""
        if len(body) > MAX_BODY:
            return _text(400, f"request body is over {MAX_BODY} bytes")
        try:
            old, proof, signed = _parse_request(body)
        except ValueError as exc:
            return _text(400, str(exc))
        split = signed.rfind("\n\n")
        text = signed[: split + 1] if split >= 0 else ""
        origin = text.split("\n", 1)[0]
        keys = self.logs.get(origin)
        if keys is None:
            return _text(404, f"unknown log origin {origin[:100]!r}")
        if not any(_verifies(signed, k) for k in keys):
            return _text(403, f"no valid signature by a trusted key of {origin}")
        try:
            _origin, size, root = note.parse_checkpoint(text)
        except note.NoteError as exc:
            return _text(403, f"malformed checkpoint: {exc}")
        if old > size:
            return _text(400, f"old size {old} is larger than the checkpoint's size {size}")
        if old == 0 and proof:
            return _text(400, "the consistency proof must be empty when the old size is 0")
        if size == 0 and root != merkle.EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must have the empty tree's root hash")
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT size, root, note FROM logs WHERE origin = ?", (origin,)).fetchone()
            have_size, have_root, have_note = (row[0], bytes(row[1]), row[2]) if row else (0, merkle.EMPTY_ROOT, "")
            if old != have_size:
                db.execute("ROLLBACK")
                return Answer(409, SIZE_TYPE, f"{have_size}\n")
            if old == size and size and root != have_root:
                self._evidence(db, origin, "the same tree size with a different root hash", have_size, have_note, body)
                db.execute("COMMIT")
                return Answer(409, SIZE_TYPE, f"{have_size}\n")
            if 0 < old < size:
                try:
                    merkle.verify_consistency(old, size, have_root, root, proof)
                except merkle.ProofError as exc:
                    self._evidence(db, origin, f"not consistent with the tree it cosigned: {exc}", have_size, have_note, body)
                    db.execute("COMMIT")
                    return _text(422, f"the consistency proof from {old} to {size} does not verify: {exc}")
            db.execute("INSERT INTO logs (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                       "note = excluded.note, updated_at = excluded.updated_at",
                       (origin, size, root, signed, _now()))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return Answer(200, "text/plain; charset=utf-8", self.cosigner.cosign(text, int(self.clock())))

    def _evidence(self, db: sqlite3.Connection, origin: str, reason: str, size: int, cosigned: str, request: bytes) -> None:
        db.execute("INSERT INTO evidence (origin, received_at, reason, cosigned_size, cosigned_note, request) VALUES (?, ?, ?, ?, ?, ?)",
                   (origin, _now(), reason, size, cosigned, request.decode("utf-8")))

    # -- reading -------------------------------------------------------------------------------

    def state(self) -> list[dict[str, object]]:
        """Each witnessed log with the latest checkpoint cosigned for it."""
        rows = self._db().execute("SELECT origin, size, note, updated_at FROM logs ORDER BY origin").fetchall()
        seen = {r[0]: r for r in rows}
        return [{"origin": o, "size": seen[o][1] if o in seen else 0, "checkpoint": seen[o][2] if o in seen else None,
                 "updated_at": seen[o][3] if o in seen else None} for o in sorted(self.logs)]

    def evidence(self) -> list[dict[str, object]]:
        """Every refused checkpoint, with the cosigned checkpoint it conflicts with."""
        rows = self._db().execute("SELECT id, origin, received_at, reason, cosigned_size, cosigned_note, request "
                                  "FROM evidence ORDER BY id").fetchall()
        return [{"id": r[0], "origin": r[1], "received_at": r[2], "reason": r[3], "cosigned_size": r[4],
                 "cosigned_checkpoint": r[5], "request": r[6]} for r in rows]


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """old size, proof hashes and the signed checkpoint of an add-checkpoint body."""
    try:
        data = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("request body is not UTF-8") from None
    head, sep, signed = data.partition("\n\n")
    if not sep:
        raise ValueError("request body needs an old size line, proof lines, an empty line and the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not first[4:].isdigit() or (first[4:] != "0" and first[4] == "0"):
        raise ValueError("the first line must be 'old N' with N in decimal, without leading zeros")
    if len(lines) - 1 > MAX_PROOF:
        raise ValueError(f"more than {MAX_PROOF} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a consistency proof line is not base64") from None
        if len(h) != merkle.HASH_SIZE:
            raise ValueError("a consistency proof line is not a 32-byte hash")
        proof.append(h)
    return int(first[4:]), proof, signed


def _verifies(signed: str, vkey: str) -> bool:
    try:
        note.verify_note(signed, vkey)
    except note.NoteError:
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
