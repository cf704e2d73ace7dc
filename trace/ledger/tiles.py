"""The log as C2SP tlog-tiles: hash tiles and entry bundles, read from the stored nodes.

A tile at level L, index N holds the 256 Merkle Tree Hashes at height 8L with indexes
N*256 .. N*256+255: level 0 from the leaf hashes, level L >= 1 from the stored complete
subtrees of level 8L (merkle_nodes). Partial tiles (width W < 256) are the first W of those,
served while the tree has them. Entry bundles are the entries themselves, each prefixed by its
length as a big-endian uint16."""
from __future__ import annotations

import re
import struct

from sqlalchemy import select
from sqlalchemy.orm import Session

from trace.ledger.models import LogEntry, MerkleNode
from trace.ledger.store import LedgerError

WIDTH = 256
_PATH = re.compile(r"(?:x\d{3}/)*\d{3}(?:\.p/(\d{1,3}))?")
MAX_ENTRY = 0xFFFF  # an entry bundle's length prefix is a uint16


class TileNotFound(LedgerError):
    """A tile the tree does not have (yet), or a path that is not a tile's."""


def parse(path: str) -> tuple[str | int, int, int | None]:
    """("entries" or level, index, width or None) of a path after 'tile/'; TileNotFound if malformed."""
    kind, _sep, rest = path.partition("/")
    if kind == "entries":
        level: str | int = "entries"
    elif kind.isdigit() and (kind == "0" or not kind.startswith("0")) and int(kind) <= 63:
        level = int(kind)
    else:
        raise TileNotFound(f"not a tile path: the level must be 0..63 or 'entries', not {kind[:20]!r}")
    m = _PATH.fullmatch(rest)
    if m is None:
        raise TileNotFound("not a tile path: the index is 3-digit groups, all but the last prefixed with x "
                           "(e.g. x001/x234/067), then .p/W for a partial tile")
    index = int(re.sub(r"[x/]", "", rest.split(".p/")[0]))
    width = int(m.group(1)) if m.group(1) else None
    if width is not None and (not 1 <= width < WIDTH or m.group(1).startswith("0")):
        raise TileNotFound(f"a partial tile's width is 1..255 without leading zeros, not {m.group(1)}")
    return level, index, width


def available(size: int, level: int, index: int, width: int | None) -> bool:
    """Whether a tree of `size` entries has that tile (full, or partial of exactly that width)."""
    hashes = size >> (8 * level)  # hashes the tree has at height 8L
    if width is None:
        return (index + 1) * WIDTH <= hashes
    return index * WIDTH + width <= hashes


def hash_tile(session: Session, level: int, index: int, width: int | None) -> bytes:
    """The tile's concatenated hashes (the caller checked it is available)."""
    start, count = index * WIDTH, width or WIDTH
    if level == 0:
        rows = session.execute(select(LogEntry.idx, LogEntry.leaf_hash).where(
            LogEntry.idx >= start, LogEntry.idx < start + count).order_by(LogEntry.idx)).all()
    else:
        rows = session.execute(select(MerkleNode.idx, MerkleNode.hash).where(
            MerkleNode.level == 8 * level, MerkleNode.idx >= start, MerkleNode.idx < start + count).order_by(MerkleNode.idx)).all()
    if [r[0] for r in rows] != list(range(start, start + count)):
        raise LedgerError(f"stored Merkle hashes are missing for tile {level}/{index}: run `flask --app trace verify`")
    return b"".join(bytes(r[1]) for r in rows)


def entry_bundle(session: Session, index: int, width: int | None) -> bytes:
    """The bundle's entries, each with its uint16 big-endian length."""
    start, count = index * WIDTH, width or WIDTH
    rows = session.execute(select(LogEntry.idx, LogEntry.body).where(
        LogEntry.idx >= start, LogEntry.idx < start + count).order_by(LogEntry.idx)).all()
    if [r[0] for r in rows] != list(range(start, start + count)):
        raise LedgerError(f"stored entries are missing for bundle {index}: run `flask --app trace verify`")
    out = []
    for idx, body in rows:
        if len(body) > MAX_ENTRY:
            raise TileNotFound(f"entry {idx} is {len(body)} bytes, over the {MAX_ENTRY} an entry bundle can hold: "
                               f"fetch it at /log/entries/{idx}")
        out.append(struct.pack(">H", len(body)) + bytes(body))
    return b"".join(out)
