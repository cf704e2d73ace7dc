"""The "verify it yourself" bundle, checked by a verifier written here from the specifications
(RFC 9162 section 2.1.3.2, c2sp.org/signed-note, c2sp.org/tlog-checkpoint) with hashlib and
the cryptography package only: nothing of trace.ledger is trusted."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.test_public_page import apple_journey, dl


class Bad(Exception):
    """The bundle does not verify."""


def verify_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Check an Ed25519 signed note against a verifier key name+hex8+base64(0x01||key)."""
    name, key_hex, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    if raw[0] != 1:
        raise Bad("not an Ed25519 key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_hex:
        raise Bad("key id mismatch")
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    for line in sigs.strip("\n").split("\n"):
        who, sig_b64 = line.removeprefix("\u2014 ").split(" ")
        sig = base64.b64decode(sig_b64)
        if who == name and sig[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], text.encode())
            except InvalidSignature:
                raise Bad("bad signature") from None
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise Bad("no signature by the key")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2, as written there."""
    if index >= size:
        raise Bad("index beyond tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Bad("proof too long")
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Bad("proof too short")
    return r


def verify_bundle(bundle: dict) -> int:
    """Verify every entry of a bundle; returns how many."""
    _, size, root = verify_checkpoint(bundle["checkpoint"], bundle["verifier_key"])
    if size != bundle["checkpoint_size"]:
        raise Bad("size mismatch")
    for e in bundle["entries"]:
        body = base64.b64decode(e["body_base64"])
        if body.decode() != e["body"] or json.loads(body)["index"] != e["index"]:
            raise Bad("body mismatch")
        leaf = hashlib.sha256(b"\x00" + body).digest()
        proof = [base64.b64decode(p) for p in e["inclusion_proof"]]
        if root_from_inclusion(leaf, e["index"], size, proof) != root:
            raise Bad(f"entry {e['index']} is not in the checkpoint")
    return len(bundle["entries"])


def test_bundle_verifies_independently_and_ties_the_serial_to_the_pack_entry(client, tr, world, svc) -> None:
    j = apple_journey(tr, world)
    page = client.get(dl(j)).get_data(as_text=True)
    serial = j["serials"][0]
    assert f'href="/p/{serial}/proof"' in page
    resp = client.get(f"/p/{serial}/proof")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    bundle = resp.json
    facts = client.get(dl(j), headers={"Accept": "application/json"}).json
    assert [e["index"] for e in bundle["entries"]] == sorted(s["entry"] for s in facts["journey"])
    assert verify_bundle(bundle) == len(facts["journey"])
    assert bundle["verifier_key"] == svc.signer.vkey == client.get("/log/key").get_data(as_text=True).strip()
    # SHA-256 of the serial from the QR code is in the pack entry; the serial itself is nowhere in the log.
    digest = hashlib.sha256(serial.encode()).hexdigest()
    assert bundle["subject"]["serial_sha256"] == digest
    pack = next(e for e in bundle["entries"] if e["index"] == bundle["subject"]["pack_entry"])
    assert digest in {p["serial_hash"] for p in json.loads(pack["body"])["event"]["packages"]}
    assert all(serial not in e["body"] for e in bundle["entries"])
    assert any("serial_sha256" in step and "pack entry" in step for step in bundle["how_to_verify"])
    # The entries are the log API's bytes, so standard tools fetching them see the same.
    first = bundle["entries"][0]
    assert client.get(f"/log/entries/{first['index']}").data == base64.b64decode(first["body_base64"])


@pytest.mark.parametrize("damage", ["body", "proof", "signature", "key"])
def test_the_independent_verifier_catches_damage(client, tr, world, damage: str) -> None:
    j = apple_journey(tr, world)
    bundle = client.get(f"/p/{j['serials'][0]}/proof").json
    verify_bundle(bundle)
    e = bundle["entries"][2]
    if damage == "body":
        body = base64.b64decode(e["body_base64"]).replace(b'"type":"', b'"type":"X', 1)
        assert body != base64.b64decode(e["body_base64"])
        e["body_base64"], e["body"] = base64.b64encode(body).decode(), body.decode()
    elif damage == "proof":
        e["inclusion_proof"][0] = base64.b64encode(b"\x01" * 32).decode()
    elif damage == "signature":
        bundle["checkpoint"] = bundle["checkpoint"].replace("\n" + str(bundle["checkpoint_size"]) + "\n", "\n1\n", 1)
    else:
        name, hex8, _ = bundle["verifier_key"].split("+", 2)
        bundle["verifier_key"] = f"{name}+{hex8}+" + base64.b64encode(b"\x01" + b"\x02" * 32).decode()
    with pytest.raises(Bad):
        verify_bundle(bundle)


def test_lot_bundle_and_unknown_codes(client, tr, world) -> None:
    j = apple_journey(tr, world)
    bundle = client.get(f"/lot/{j['lot']}/proof").json
    assert verify_bundle(bundle) >= 10 and "serial_sha256" not in bundle["subject"]
    resp = client.get("/p/" + "9" * 20 + "/proof")
    assert resp.status_code == 404 and resp.json["status"] == "unknown"
    assert client.get("/lot/NOPE-1/proof").status_code == 404
