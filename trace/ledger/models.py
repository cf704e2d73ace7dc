"""Tables of the log: entries, stored Merkle nodes, the head (write lock) and signed checkpoints."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, SmallInteger, Text
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
