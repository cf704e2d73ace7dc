"""The public log API, checked the way an outside auditor would: with the RFC 9162 algorithms
and the signed-note format, from nothing but HTTP responses."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat

import pytest

from tests.conftest import t
from trace.ledger import merkle, note
from trace.ledger.store import LedgerError, canonical


def _b(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


@pytest.fixture
def logged(tr, world, harvest):  # type: ignore[no-untyped-def]
    """A log of a couple of dozen entries."""
    b = harvest(kg=300)
    for i in range(6):
        tr.grade(world["actors"]["grower"], b.id, grade=f"G{i}", occurred_at=t(9, 21))
    return b


def test_checkpoint_and_key_verify_as_signed_note(client, logged) -> None:
    vkey = client.get("/log/key")
    assert vkey.status_code == 200 and vkey.mimetype == "text/plain"
    cp = client.get("/log/checkpoint")
    assert cp.mimetype == "text/plain"
    text = note.verify_note(cp.get_data(as_text=True), vkey.get_data(as_text=True).strip())
    origin, size, root = note.parse_checkpoint(text)
    assert origin == "shapotou.trace.example/log" and size == 19
    # the name+hex8+base64 key format
    name, keyhash, keydata = vkey.get_data(as_text=True).strip().split("+", 2)
    raw = _b(keydata)
    assert raw[0] == 1 and len(raw) == 33
    assert keyhash == hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()


def test_entries_inclusion_and_consistency_proofs_verify(client, logged) -> None:
    origin, size, root = note.parse_checkpoint(client.get("/log/checkpoint").get_data(as_text=True).split("\n\n")[0] + "\n")
    for index in range(size):
        body = client.get(f"/log/entries/{index}").data
        entry = json.loads(body)
        assert entry["index"] == index and canonical(entry) == body  # canonical bytes as served
        proof = client.get(f"/log/proof/inclusion?index={index}").get_json()
        assert proof["size"] == size and proof["index"] == index
        assert _b(proof["leaf_hash"]) == hashlib.sha256(b"\x00" + body).digest()
        merkle.verify_inclusion(_b(proof["leaf_hash"]), index, size, [_b(p) for p in proof["proof"]], root)
    for old in range(1, size):
        old_root = merkle.root_hash(old, _tree(client, size))
        proof = client.get(f"/log/proof/consistency?old={old}&size={size}").get_json()
        assert proof["old"] == old and proof["size"] == size
        merkle.verify_consistency(old, size, old_root, root, [_b(p) for p in proof["proof"]])
    # a proof against an older size verifies against that size's root
    p = client.get("/log/proof/inclusion?index=3&size=10").get_json()
    merkle.verify_inclusion(_b(p["leaf_hash"]), 3, 10, [_b(x) for x in p["proof"]], merkle.root_hash(10, _tree(client, size)))
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(_b(p["leaf_hash"]), 4, 10, [_b(x) for x in p["proof"]], merkle.root_hash(10, _tree(client, size)))


def _tree(client, size):  # type: ignore[no-untyped-def]
    nodes = {}
    for i in range(size):
        nodes[(0, i)] = hashlib.sha256(b"\x00" + client.get(f"/log/entries/{i}").data).digest()
    level = 0
    while True:
        pairs = [(i, nodes.get((level, 2 * i)), nodes.get((level, 2 * i + 1))) for i in range(size >> (level + 1))]
        if not pairs:
            return nodes
        for i, left, right in pairs:
            nodes[(level + 1, i)] = hashlib.sha256(b"\x01" + left + right).digest()
        level += 1


@pytest.mark.parametrize("url", [
    "/log/proof/inclusion", "/log/proof/inclusion?index=-1", "/log/proof/inclusion?index=abc",
    "/log/proof/inclusion?index=19", "/log/proof/inclusion?index=0&size=0", "/log/proof/inclusion?index=0&size=99",
    "/log/proof/inclusion?index=99999999999999999999999", "/log/proof/consistency?old=5&size=3",
    "/log/proof/consistency", "/log/proof/consistency?old=x", "/log/proof/consistency?old=1&size=1000",
])
def test_bad_parameters_give_400_json(client, logged, url) -> None:
    resp = client.get(url)
    assert resp.status_code == 400, resp.data
    assert resp.is_json and resp.get_json()["error"]


def test_unknown_entry_is_404_and_garbage_400(client, logged) -> None:
    assert client.get("/log/entries/19").status_code == 404
    assert client.get("/log/entries/-1").status_code in (400, 404)
    assert client.get("/log/entries/abc").status_code == 400


def test_empty_log_has_no_checkpoint(client) -> None:
    resp = client.get("/log/checkpoint")
    assert resp.status_code == 404


def test_signing_key_is_private_and_generated_once(app, client, logged) -> None:
    path = app.config["TRACE_KEY_FILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        skey = f.read()
    assert skey.startswith("PRIVATE+KEY+")
    assert skey.strip() not in client.get("/log/key").get_data(as_text=True)
    # nothing served or logged contains the private key material
    seed = skey.strip().split("+", 4)[4]  # PRIVATE+KEY+name+hash+base64 (base64 may hold '+')
    assert len(seed) == 44
    assert seed not in client.get("/log/checkpoint").get_data(as_text=True)
    assert seed not in client.get("/log/key").get_data(as_text=True)


def test_canonical_refuses_floats_and_sorts_keys() -> None:
    assert canonical({"b": 1, "a": "沙"}) == '{"a":"沙","b":1}'.encode()
    with pytest.raises(LedgerError):
        canonical({"kg": 1.5})
    with pytest.raises(LedgerError):
        canonical({"x": [{"y": float("nan")}]})


@pytest.mark.parametrize("url", ["/log/entries/²", "/log/entries/٣", "/log/entries/9223372036854775808",
                                 "/log/entries/99999999999999999999", "/log/proof/inclusion?index=²",
                                 "/log/proof/inclusion?index=0&size=٣", "/log/proof/consistency?old=9223372036854775808",
                                 "/log/proof/inclusion?index=-1"])
def test_numbers_are_ascii_digits_in_range(client, logged, url: str) -> None:  # type: ignore[no-untyped-def]
    """Unicode digits and numbers beyond 64 bits are a clear 400, never a 500."""
    r = client.get(url)
    assert r.status_code == 400, (url, r.status_code)
    assert "whole number" in r.json["error"] or "non-negative" in r.json["error"] or "must be" in r.json["error"]
