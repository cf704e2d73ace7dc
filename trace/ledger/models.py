"""Tables of the log: entries, stored Merkle nodes, the head (write lock), signed checkpoints,
witnesses' cosignatures and status, alarms, and verify runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace.db import Base


class LogHead(Base):
    """The single row every writer locks: size of the log and the right edge of its Merkle tree."""

    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Hashes of the perfect subtrees of the tree, largest first, 32 bytes each.
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    last_leaf: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class LogEntry(Base):
    """One entry: its exact canonical bytes and its RFC 9162 leaf hash."""

    __tablename__ = "log_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class MerkleNode(Base):
    """A complete, aligned subtree hash at level >= 1 (level 0 lives in log_entries.leaf_hash)."""

    __tablename__ = "merkle_nodes"
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class Checkpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint note) of the tree at one size."""

    __tablename__ = "checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The size of the checkpoint the signer signed before this one (from its own record), so that
    # a deleted checkpoint leaves a visible gap. NULL on checkpoints older than the record.
    prev_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Cosignature(Base):
    """A witness's C2SP cosignature/v1 on the stored checkpoint of one size (checked on receipt)."""

    __tablename__ = "cosignatures"
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)  # the witness's key name
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)  # the root it cosigned (a re-signed checkpoint loses it)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # POSIX seconds, as the witness signed it
    line: Mapped[str] = mapped_column(Text)  # the note signature line, as the witness sent it
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WitnessStatus(Base):
    """What the log knows of one configured witness: the size it last cosigned, and how it went."""

    __tablename__ = "log_witnesses"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    vkey: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Alarm(Base):
    """Something the regulator must see: the signer refused a tree, a witness refused the log."""

    __tablename__ = "log_alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)


class VerifyRun(Base):
    """A full verify started from the audit page, with its progress and result."""

    __tablename__ = "verify_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    state: Mapped[str] = mapped_column(String(10))  # running, ok, failed
    phase: Mapped[str] = mapped_column(String(40), default="")
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(100), default="")
