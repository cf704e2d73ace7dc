"""RFC 9162 Merkle primitives against published vectors and a naive reference."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from trace.ledger.merkle import (
    EMPTY_ROOT,
    ProofError,
    RootBuilder,
    append_leaf,
    consistency_addresses,
    consistency_proof,
    frontier_addresses,
    inclusion_addresses,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_addresses,
    root_addresses,
    root_from_frontier,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# A copy of ../shared/standards/tlog (sources and licences in its SOURCES.md), so a clone alone can run the tests.
TLOG = Path(__file__).resolve().parent / "vectors" / "tlog"
if not (TLOG / "SOURCES.md").is_file():
    raise RuntimeError(
        f"test vectors not found at {TLOG}: restore tests/vectors/ from ../shared/standards "
        "(../shared/standards/tlog)"
    )
VECTORS = TLOG / "transparency-dev-merkle"


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _load(kind: str) -> list[tuple[str, dict]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(f.relative_to(VECTORS)), json.loads(f.read_text())) for f in files]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_vector_counts() -> None:
    # SOURCES.md: 196 JSON files in total; make sure none silently went missing.
    assert len(INCLUSION) + len(CONSISTENCY) == 196
    assert sum(not v["wantErr"] for _, v in INCLUSION) >= 6
    assert sum(not v["wantErr"] for _, v in CONSISTENCY) >= 6


# ---------------------------------------------------------------------------
# Hash primitives and reference tree


def test_hash_primitives() -> None:
    data = json.loads((TLOG / "rfc6962-hash-primitives.json").read_text())
    seen = set()
    for case in data["cases"]:
        want = bytes.fromhex(case["want_hex"])
        if "leaf_data_ascii" in case:
            assert leaf_hash(case["leaf_data_ascii"].encode()) == want, case["desc"]
            seen.add("leaf")
        elif "left_ascii" in case:
            got = node_hash(case["left_ascii"].encode(), case["right_ascii"].encode())
            assert got == want, case["desc"]
            seen.add("node")
        else:
            assert EMPTY_ROOT == want, case["desc"]
            assert RootBuilder().root() == want
            assert root_from_frontier([]) == want
            assert root_hash(0, {}) == want
            seen.add("empty")
    assert seen == {"leaf", "node", "empty"}


def test_x_mod_sumdb_tlog_record_hash() -> None:
    golden = json.loads((TLOG / "rfc6962-hash-primitives.json").read_text())[
        "x_mod_sumdb_tlog_golden"
    ]
    assert leaf_hash(golden["record_data_ascii"].encode()) == _b64(golden["record_hash_b64"])


def test_reference_tree() -> None:
    ref = json.loads((TLOG / "rfc6962-reference-tree.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    store: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    frontier: list[bytes] = []
    builder = RootBuilder()
    roots = {int(k): bytes.fromhex(v) for k, v in ref["root_hashes_hex_by_size"].items()}
    assert sorted(roots) == list(range(9))
    assert root_from_frontier(frontier) == roots[0]
    for size, leaf in enumerate(leaves):
        new_nodes, frontier = append_leaf(size, leaf, frontier)
        for level, idx, h in new_nodes:
            store[(level, idx)] = h
        builder.add(leaf)
        assert root_from_frontier(frontier) == roots[size + 1], size + 1
        assert root_hash(size + 1, store) == roots[size + 1]
        assert builder.root() == roots[size + 1]
        assert builder.size == size + 1
    expected_nodes = {
        (level, idx): bytes.fromhex(h)
        for level, row in enumerate(ref["node_hashes_hex_by_level"])
        for idx, h in enumerate(row)
    }
    assert store == expected_nodes


# ---------------------------------------------------------------------------
# transparency-dev/merkle vectors


@pytest.mark.parametrize("name,v", INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_vectors(name: str, v: dict) -> None:
    proof = [_b64(p) for p in (v["proof"] or [])]
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("name,v", CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_vectors(name: str, v: dict) -> None:
    proof = [_b64(p) for p in (v["proof"] or [])]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vectors_regenerated_from_reference_tree() -> None:
    # The happy-path vectors must also come out of our own generator.
    ref = json.loads((TLOG / "rfc6962-reference-tree.json").read_text())
    store = {
        (level, idx): bytes.fromhex(h)
        for level, row in enumerate(ref["node_hashes_hex_by_level"])
        for idx, h in enumerate(row)
    }
    checked = 0
    for _, v in INCLUSION:
        if not v["wantErr"] and v["treeSize"] <= 8 and v["proof"]:
            got = inclusion_proof(v["leafIdx"], v["treeSize"], store)
            assert got == [_b64(p) for p in v["proof"]]
            checked += 1
    for _, v in CONSISTENCY:
        if not v["wantErr"] and v["size2"] <= 8 and v["proof"]:
            got = consistency_proof(v["size1"], v["size2"], store)
            assert got == [_b64(p) for p in v["proof"]]
            checked += 1
    assert checked >= 8


# ---------------------------------------------------------------------------
# Naive RFC 9162 reference implementation (recursive, straight from the text)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # d holds leaf hashes already
    k = _k(len(d))
    return node_hash(naive_mth(d[:k]), naive_mth(d[k:]))


def naive_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return naive_path(m, d[:k]) + [naive_mth(d[k:])]
    return naive_path(m - k, d[k:]) + [naive_mth(d[:k])]


def naive_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = _k(n)
    if m <= k:
        return naive_subproof(m, d[:k], b) + [naive_mth(d[k:])]
    return naive_subproof(m - k, d[k:], False) + [naive_mth(d[:k])]


class CheckedStore(dict):
    """A node store that records which addresses were read."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.read: set[tuple[int, int]] = set()

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        self.read.add(key)
        return super().__getitem__(key)


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    bad = list(proof)
    bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
    return bad


MAX_N = 70


@pytest.fixture(scope="module")
def grown_tree() -> tuple[list[bytes], CheckedStore, dict[int, bytes]]:
    rng = random.Random(9162)
    leaves = [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(MAX_N)]
    store = CheckedStore({(0, i): h for i, h in enumerate(leaves)})
    frontier: list[bytes] = []
    roots = {0: EMPTY_ROOT}
    for size, leaf in enumerate(leaves):
        old_frontier, snapshot = frontier, list(frontier)
        new_nodes, frontier = append_leaf(size, leaf, old_frontier)
        assert old_frontier == snapshot  # the caller's list is not mutated
        for level, idx, h in new_nodes:
            assert level >= 1
            assert (level, idx) not in store
            # the new node covers exactly the leaves it claims
            assert h == naive_mth(leaves[idx << level : (idx + 1) << level])
            store[(level, idx)] = h
        n = size + 1
        assert len(frontier) == n.bit_count()
        assert [store[a] for a in frontier_addresses(n)] == frontier
        roots[n] = root_from_frontier(frontier)
    return leaves, store, roots


def test_generated_roots(grown_tree) -> None:
    leaves, store, roots = grown_tree
    builder = RootBuilder()
    assert builder.root() == EMPTY_ROOT
    for n in range(1, MAX_N + 1):
        builder.add(leaves[n - 1])
        want = naive_mth(leaves[:n])
        assert roots[n] == want, n
        store.read.clear()
        assert root_hash(n, store) == want, n
        assert store.read == root_addresses(n)
        assert builder.root() == want
        assert builder.frontier == [store[a] for a in frontier_addresses(n)]
    # every complete aligned subtree of the 70 leaves is stored, nothing else
    expected = {
        (level, idx)
        for level in range(MAX_N.bit_length())
        for idx in range(MAX_N >> level)
    }
    assert set(store) == expected


def test_generated_inclusion_proofs(grown_tree) -> None:
    leaves, store, roots = grown_tree
    for n in range(1, MAX_N + 1):
        for m in range(n):
            store.read.clear()
            proof = inclusion_proof(m, n, store)
            assert store.read <= inclusion_addresses(m, n)
            assert proof == naive_path(m, leaves[:n]), (m, n)
            verify_inclusion(leaves[m], m, n, proof, roots[n])
            for i in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[m], m, n, _flip(proof, i), roots[n])
            with pytest.raises(ProofError):
                verify_inclusion(leaves[m], m, n, proof, roots[n - 1] if n > 1 else EMPTY_ROOT)
            if n > 1:
                with pytest.raises(ProofError):
                    verify_inclusion(leaves[(m + 1) % n], m, n, proof, roots[n])


def test_generated_consistency_proofs(grown_tree) -> None:
    leaves, store, roots = grown_tree
    for n in range(1, MAX_N + 1):
        for m in range(0, n + 1):
            store.read.clear()
            proof = consistency_proof(m, n, store)
            assert store.read <= consistency_addresses(m, n)
            if m in (0, n):
                assert proof == [] and consistency_addresses(m, n) == set()
            else:
                assert proof == naive_subproof(m, leaves[:n], True), (m, n)
            if m == 0:
                continue  # verification from the empty tree is refused (see below)
            verify_consistency(m, n, roots[m], roots[n], proof)
            for i in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m], roots[n], _flip(proof, i))
            if m < n:
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m], roots[n - 1], proof)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m - 1], roots[n], proof)


def test_proofs_are_logarithmic() -> None:
    # Addresses only: no hashing, so a huge size is cheap.
    n = 1_000_003
    for m in (0, 1, 524_287, 524_288, 999_999, n - 1):
        assert len(inclusion_addresses(m, n)) <= 2 * n.bit_length()
    for m in (1, 3, 524_288, 777_777, n - 1):
        assert len(consistency_addresses(m, n)) <= 3 * n.bit_length()


def test_range_addresses() -> None:
    assert range_addresses(0, 0) == []
    assert range_addresses(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert range_addresses(8, 14) == [(2, 2), (1, 6)]
    assert range_addresses(4, 8) == [(2, 1)]
    assert frontier_addresses(0) == []
    assert frontier_addresses(13) == [(3, 0), (2, 2), (0, 12)]
    for start in range(0, 40):
        for end in range(start, 40):
            addrs = range_addresses(start, end)
            covered = [i for level, idx in addrs for i in range(idx << level, (idx + 1) << level)]
            assert covered == list(range(start, end))


def test_bad_arguments() -> None:
    for index, size in [(0, 0), (5, 5), (-1, 3), (2**64 - 1, 1)]:
        with pytest.raises(ProofError):
            inclusion_addresses(index, size)
        with pytest.raises(ProofError):
            inclusion_proof(index, size, {})
    for old, size in [(3, 2), (-1, 2)]:
        with pytest.raises(ProofError):
            consistency_addresses(old, size)
        with pytest.raises(ProofError):
            consistency_proof(old, size, {})
    with pytest.raises(ValueError):
        append_leaf(3, EMPTY_ROOT, [EMPTY_ROOT])  # size 3 needs 2 frontier hashes
    with pytest.raises(KeyError):
        root_hash(3, {})


def test_empty_tree_consistency_is_refused() -> None:
    # RFC 9162 defines consistency proofs for 0 < m only; transparency-dev
    # vectors (consistency/additional) require 0 -> n to fail even when empty.
    with pytest.raises(ProofError):
        verify_consistency(0, 5, EMPTY_ROOT, leaf_hash(b"x"), [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
