"""The signer's own record of the last tree it signed, kept outside the database.

Whoever controls the database can rewrite entries, nodes, the head and the checkpoints table;
they cannot rewrite this file, which lives beside the signing key in the instance folder. The
signer signs a tree only if it is an append-only extension of the tree in the record (checked by
the ledger with a consistency proof from the database's nodes), and the record is made durable
(fdatasync) before the signature is handed back.

The file holds two fixed-size slots written alternately, each one line with a sequence number
and a checksum, so that a write torn by a crash leaves the other slot, the previous record,
intact. Processes on one host share it under an exclusive flock. Besides (size, root) it keeps
the number of checkpoints signed since the record began and a hash chain over their (size,
root), so that `verify` can tell when stored checkpoints were deleted or added."""
from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

SLOT = 512
MAGIC = "trace-signer-record/v1"
ZERO = b"\x00" * 32


class RecordError(Exception):
    """The record file exists but cannot be read: never guess, stop signing."""


def chain_step(chain: bytes, size: int, root: bytes) -> bytes:
    """The record's hash chain extended by one signed checkpoint."""
    return hashlib.sha256(chain + size.to_bytes(8, "big") + root).digest()


@dataclass(frozen=True)
class SignedTree:
    """The last tree the signer signed, and a summary of every checkpoint signed since `base`."""

    origin: str
    size: int
    root: bytes
    base: int = 0  # tree size the record started at (a log adopted from before this record)
    count: int = 0  # checkpoints signed since base
    chain: bytes = ZERO  # chain_step over those checkpoints, in order
    seq: int = 0
    at: str = ""  # when it was written, RFC 3339

    def advance(self, size: int, root: bytes, at: str) -> SignedTree:
        """The record after signing the tree (size, root)."""
        return replace(self, size=size, root=root, count=self.count + 1,
                       chain=chain_step(self.chain, size, root), seq=self.seq + 1, at=at)

    def encode(self) -> bytes:
        payload = json.dumps({"origin": self.origin, "size": self.size, "root": _b64(self.root), "base": self.base,
                              "count": self.count, "chain": _b64(self.chain), "seq": self.seq, "at": self.at},
                             sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        line = f"{MAGIC} {payload} {hashlib.sha256(payload.encode()).hexdigest()[:16]}"
        if len(line) >= SLOT:
            raise RecordError("the log origin is too long for the signer record")
        return line.encode("ascii").ljust(SLOT - 1, b" ") + b"\n"

    @classmethod
    def decode(cls, slot: bytes) -> SignedTree | None:
        """A slot's record, or None if the slot is empty or torn."""
        try:
            magic, payload, check = slot.decode("ascii").strip().split(" ")
        except (UnicodeDecodeError, ValueError):
            return None
        if magic != MAGIC or hashlib.sha256(payload.encode()).hexdigest()[:16] != check:
            return None
        try:
            d = json.loads(payload)
            return cls(d["origin"], int(d["size"]), base64.b64decode(d["root"], validate=True), int(d["base"]),
                       int(d["count"]), base64.b64decode(d["chain"], validate=True), int(d["seq"]), d.get("at", ""))
        except (KeyError, ValueError, TypeError, binascii.Error):
            return None


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class SignerRecord:
    """The record file, mode 0600, shared by every process of this host under an exclusive flock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._seen: tuple[bytes, SignedTree | None] = (b"", None)  # last bytes read and their record
        self._mutex = threading.Lock()  # flock is per open file: threads of one process need this too

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            created = not os.path.exists(self.path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            if created:  # the file's name must survive a crash as well as its contents
                dfd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        return self._fd

    def _read(self, fd: int) -> SignedTree | None:
        data = os.pread(fd, 2 * SLOT, 0)
        if data == self._seen[0]:  # what this process wrote or read last: no need to parse it again
            return self._seen[1]
        if not data.strip(b"\x00 \n"):
            return None
        records = [r for r in (SignedTree.decode(data[i : i + SLOT]) for i in (0, SLOT)) if r is not None]
        if not records:
            raise RecordError(f"the signer record {self.path} is damaged: refusing to sign until it is restored")
        state = max(records, key=lambda r: r.seq)
        self._seen = (data, state)
        return state

    def read(self) -> SignedTree | None:
        """The current record (None if this signer never signed), under a shared lock."""
        with self._mutex:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                return self._read(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def locked(self) -> Iterator[Locked]:
        """Hold the record exclusively: read it, decide, write it."""
        with self._mutex:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield Locked(self, fd, self._read(fd))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def undo(self, written: SignedTree, previous: SignedTree | None) -> bool:
        """Put `previous` back if the record still holds `written` (the transaction that carried
        the signature rolled back, so that signature was never published). Returns whether it did."""
        with self.locked() as rec:
            if rec.state != written:
                return False
            if previous is None:
                os.pwrite(rec.fd, b"\x00" * (2 * SLOT), 0)
                os.fdatasync(rec.fd)
                self._seen = (b"", None)
            else:
                rec.write(replace(previous, seq=written.seq + 1))
            return True


@dataclass
class Locked:
    """The record while its exclusive lock is held."""

    record: SignerRecord
    fd: int
    state: SignedTree | None

    def write(self, new: SignedTree) -> None:
        """Write `new` into the slot the current record is not in, durably."""
        slot = new.encode()
        at = (new.seq % 2) * SLOT
        if os.pwrite(self.fd, slot, at) != SLOT:
            raise RecordError(f"could not write the signer record {self.record.path}: the disk may be full")
        os.fdatasync(self.fd)
        seen = self.record._seen[0]
        if len(seen) == 2 * SLOT:  # keep the parse cache in step with what is now on disk
            self.record._seen = (seen[:at] + slot + seen[at + SLOT :], new)
        self.state = new


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with a Z."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
