"""RFC 9162 Merkle tree primitives over stored complete subtrees.

Hashes: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right),
empty tree = SHA-256(b"").

A node address ``(level, idx)`` names the hash of the complete, aligned subtree
over leaves ``[idx << level, (idx + 1) << level)``; level 0 holds leaf hashes.
Only such complete nodes are ever stored. The hash of any other RFC 9162
subtree (one whose size is not a power of two, on the right edge of the tree)
is the right-to-left fold of its complete pieces, see :func:`range_addresses`.

Proof generation is two-phase so that a caller backed by a database can fetch
every node it needs in one query: ``*_addresses()`` names the nodes, then
``inclusion_proof()`` / ``consistency_proof()`` / ``root_hash()`` compute the
answer from a mapping address -> hash. Both phases are O(log n).

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally and
raises :class:`ProofError` on any failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from hashlib import sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ProofError",
    "RootBuilder",
    "append_leaf",
    "consistency_addresses",
    "consistency_proof",
    "frontier_addresses",
    "inclusion_addresses",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_addresses",
    "root_addresses",
    "root_from_frontier",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = sha256(b"").digest()

Address = tuple[int, int]


class ProofError(ValueError):
    """A proof is malformed, fails to verify, or was requested for impossible sizes."""


# ---------------------------------------------------------------------------
# Hash primitives


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || entry)."""
    return sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right).digest()


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold subtree hashes right to left: h0 . (h1 . (h2 . ...))."""
    h = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        h = sha256(b"\x01" + hashes[i] + h).digest()
    return h


def _largest_pow2_below(n: int) -> int:
    """Return the largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# ---------------------------------------------------------------------------
# Appending


def append_leaf(
    size: int, leaf: bytes, frontier: list[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """Append leaf hash `leaf` as leaf number `size`; return (new level>=1 nodes, new frontier)."""
    # The frontier holds one perfect subtree per set bit of `size`, largest
    # first, so the smallest one (the left sibling of whatever we complete
    # next) is at the end. Each trailing 1 bit of `size` is one merge.
    if size < 0 or len(frontier) != size.bit_count():
        raise ValueError(
            f"frontier has {len(frontier)} hashes, a tree of size {size} needs "
            f"{max(size, 0).bit_count()}"
        )
    keep = len(frontier)
    h = leaf
    level = 0
    n = size
    new_nodes: list[tuple[int, int, bytes]] = []
    while n & 1:
        keep -= 1
        h = sha256(b"\x01" + frontier[keep] + h).digest()
        level += 1
        n >>= 1
        new_nodes.append((level, size >> level, h))
    new_frontier = frontier[:keep]
    new_frontier.append(h)
    return new_nodes, new_frontier


def root_from_frontier(frontier: list[bytes]) -> bytes:
    """Return the RFC 9162 root of the tree whose frontier is given (EMPTY_ROOT if empty)."""
    if not frontier:
        return EMPTY_ROOT
    return _fold(frontier)


# ---------------------------------------------------------------------------
# Addressing


def frontier_addresses(size: int) -> list[Address]:
    """Return the addresses of the perfect subtrees making up a tree of `size`, largest first."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    out: list[Address] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if (size >> level) & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def range_addresses(start: int, end: int) -> list[Address]:
    """Return the complete aligned subtrees covering [start, end), left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    out: list[Address] = []
    while start < end:
        # Biggest block that both fits in what is left and is aligned at start
        # (start == 0 is aligned to everything).
        level = (end - start).bit_length() - 1
        if start:
            align = (start & -start).bit_length() - 1
            if align < level:
                level = align
        out.append((level, start >> level))
        start += 1 << level
    return out


def _subtree_hash(start: int, end: int, nodes: Mapping[Address, bytes]) -> bytes:
    """Return MTH(D[start:end]) for an RFC 9162 subtree from stored complete nodes."""
    return _fold([_get(nodes, a) for a in range_addresses(start, end)])


def _get(nodes: Mapping[Address, bytes], addr: Address) -> bytes:
    """Look up a stored node, with a message that names the missing address."""
    try:
        return nodes[addr]
    except KeyError:
        # A missing node is a storage bug, not a bad proof request: KeyError.
        raise KeyError(f"Merkle node {addr} (level, idx) missing from node store") from None


def root_addresses(size: int) -> set[Address]:
    """Return the node addresses needed by root_hash(size, ...)."""
    return set(frontier_addresses(size))


def root_hash(size: int, nodes: Mapping[Address, bytes]) -> bytes:
    """Return the RFC 9162 root of the first `size` leaves from stored nodes."""
    if size == 0:
        return EMPTY_ROOT
    return _fold([_get(nodes, a) for a in frontier_addresses(size)])


# ---------------------------------------------------------------------------
# Inclusion proofs


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges of the RFC 9162 PATH(index, D[0:size]) elements, in PATH order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _largest_pow2_below(hi - lo)
        if index < mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
    # The descent finds siblings root-first; PATH lists them leaf-first.
    out.reverse()
    return out


def inclusion_addresses(index: int, size: int) -> set[Address]:
    """Return the node addresses needed for the inclusion proof of leaf `index` in `size`."""
    addrs: set[Address] = set()
    for start, end in _inclusion_ranges(index, size):
        addrs.update(range_addresses(start, end))
    return addrs


def inclusion_proof(index: int, size: int, nodes: Mapping[Address, bytes]) -> list[bytes]:
    """Return the RFC 9162 inclusion proof (PATH order, leaf side first) from stored nodes."""
    return [_subtree_hash(s, e, nodes) for s, e in _inclusion_ranges(index, size)]


# ---------------------------------------------------------------------------
# Consistency proofs


def _consistency_ranges(old: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges of the RFC 9162 PROOF(old, D[0:size]) elements, in SUBPROOF order."""
    if not 0 <= old <= size:
        raise ProofError(f"no consistency proof from size {old} to size {size}")
    if old == 0 or old == size:
        return []
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    complete = True  # the SUBPROOF flag b: is [lo, old) the whole old tree?
    while old != hi:
        mid = lo + _largest_pow2_below(hi - lo)
        if old <= mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
            complete = False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


def consistency_addresses(old: int, size: int) -> set[Address]:
    """Return the node addresses needed for the consistency proof from `old` to `size`."""
    addrs: set[Address] = set()
    for start, end in _consistency_ranges(old, size):
        addrs.update(range_addresses(start, end))
    return addrs


def consistency_proof(old: int, size: int, nodes: Mapping[Address, bytes]) -> list[bytes]:
    """Return the RFC 9162 consistency proof (SUBPROOF order) from stored nodes."""
    return [_subtree_hash(s, e, nodes) for s, e in _consistency_ranges(old, size)]


# ---------------------------------------------------------------------------
# Verification


def _check_hash(what: str, h: bytes) -> None:
    """Raise ProofError unless h is a 32-byte hash."""
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash `leaf` is leaf `index` of tree (size, root); else ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root)
    for i, p in enumerate(proof):
        _check_hash(f"proof element {i}", p)
    # RFC 9162 2.1.3.2, step by step.
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(
    old: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that tree (old, old_root) is a prefix of tree (size, root); else ProofError."""
    if not 0 <= old <= size:
        raise ProofError(f"no consistency proof from size {old} to size {size}")
    if old == 0:
        # Every tree extends the empty tree, so such a proof proves nothing and
        # a caller asking for it has a logic error (RFC 9162 requires 0 < m;
        # the transparency-dev vectors require this to fail, even for 0 -> 0).
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if old == size:
        if proof:
            raise ProofError("equal tree sizes need an empty consistency proof")
        if old_root != root:
            raise ProofError("equal tree sizes but different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hash("old root hash", old_root)
    _check_hash("root hash", root)
    for i, p in enumerate(proof):
        _check_hash(f"proof element {i}", p)
    # RFC 9162 2.1.4.2, step by step.
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr).digest()
            sr = sha256(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != root:
        raise ProofError("consistency proof does not lead to the new root")


# ---------------------------------------------------------------------------
# Streaming root computation


class RootBuilder:
    """Compute an RFC 9162 root over a stream of leaf hashes in O(log n) memory."""

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        """Start an empty tree."""
        self.size: int = 0
        # Frontier: one perfect subtree per set bit of size, largest first.
        self._stack: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash (use leaf_hash(entry) for raw entries)."""
        stack = self._stack
        n = self.size
        h = leaf
        # Hot loop (called once per entry): inline the node hash.
        while n & 1:
            h = sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        """Return the RFC 9162 root of the leaves added so far."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        return _fold(stack)

    @property
    def frontier(self) -> list[bytes]:
        """Return a copy of the current frontier (largest subtree first)."""
        return list(self._stack)
