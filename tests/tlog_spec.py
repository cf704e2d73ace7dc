"""Independent checks written from the standards' text (C2SP signed-note, tlog-checkpoint,
tlog-cosignature, tlog-tiles; RFC 9162 section 2.1), importing nothing from `trace`: the tests
judge the code under test with these, never with its own verifiers. Ed25519 itself comes from
the `cryptography` package."""
from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EM_DASH = "\u2014"


def split_note(note: str) -> tuple[str, list[str]]:
    """signed-note: the text ends at the last blank line; each signature line is '— name b64'."""
    i = note.rindex("\n\n")
    text, sigs = note[: i + 1], note[i + 2 :]
    assert sigs.endswith("\n")
    return text, sigs[:-1].split("\n")


def parse_vkey(vkey: str, alg: int) -> tuple[str, bytes, bytes]:
    """name+hex8+base64(alg || 32-byte key), key ID = SHA-256(name || LF || alg || key)[:4]."""
    name, hex8, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    assert raw[0] == alg and len(raw) == 33
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert key_id.hex() == hex8, "key ID in the vkey does not match"
    return name, key_id, raw[1:]


def note_signed_by(note: str, vkey: str) -> bool:
    """Whether the note carries a valid Ed25519 (type 0x01) signature by vkey."""
    name, key_id, pub = parse_vkey(vkey, 0x01)
    text, lines = split_note(note)
    for line in lines:
        if not line.startswith(EM_DASH + " "):
            continue
        sig_name, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64)
        if sig_name == name and raw[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(pub).verify(raw[4:], text.encode())
                return True
            except Exception:
                return False
    return False


def cosignature_time(note: str, vkey: str) -> int | None:
    """The timestamp of a valid cosignature/v1 by the witness vkey (type 0x04) on the note's
    checkpoint, or None. Message: 'cosignature/v1\\n' 'time T\\n' + checkpoint body."""
    name, key_id, pub = parse_vkey(vkey, 0x04)
    text, lines = split_note(note)
    for line in lines:
        sig_name, _, b64 = line[2:].partition(" ")
        raw = base64.b64decode(b64)
        if sig_name != name or raw[:4] != key_id:
            continue
        assert len(raw) == 4 + 8 + 64
        (ts,) = struct.unpack(">Q", raw[4:12])
        message = b"cosignature/v1\ntime " + str(ts).encode() + b"\n" + text.encode()
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], message)
        except Exception:
            return None
        return ts
    return None


def checkpoint_fields(note: str) -> tuple[str, int, bytes]:
    """tlog-checkpoint: origin line, decimal size, base64 root."""
    text, _ = split_note(note)
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(entry: bytes) -> bytes:
    return _h(b"\x00" + entry)


def node(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 Merkle Tree Hash over leaf hashes (split at the largest power of 2 < n)."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def consistent(first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, verbatim."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0 or first > second or not proof:
        return False
    if first & (first - 1) == 0:  # first is an exact power of 2
        proof = [first_hash, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


def tile_path(level: int | str, index: int, width: int | None = None) -> str:
    """tlog-tiles: tile/<L>/<N>[.p/<W>], N in 3-digit groups, all but the last prefixed with x."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{path}" + (f".p/{width}" if width else "")
