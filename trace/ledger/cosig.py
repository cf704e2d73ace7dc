"""C2SP tlog-cosignature v1 (Ed25519): the timestamped cosignatures witnesses put on checkpoints.

Formats, as in c2sp.org/tlog-cosignature:

* key ID       = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
* verifier key = ``name+hex8+base64(0x04 || public key)`` (a signed-note vkey of type 0x04)
* private key  = ``PRIVATE+KEY+name+hex8+base64(0x04 || 32-byte seed)`` (our own file format,
  shaped like signed-note private keys; it never leaves the witness's instance folder)
* signed message = ``cosignature/v1\\n`` ``time <POSIX seconds>\\n`` then the checkpoint text
  (the note body, final newline included, no signature lines)
* signature line = ``— name base64(key ID || u64 big-endian timestamp || 64-byte signature)``
"""
from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trace.ledger.note import SIG_PREFIX, NoteError, _b64decode, _check_text, _valid_name

__all__ = ["ALG_COSIGNATURE_V1", "Cosigner", "CosignatureVerifier", "generate_cosigner_key", "signed_message"]

ALG_COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def signed_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, checkpoint body."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"bad cosignature timestamp {timestamp!r}")
    data = _check_text(checkpoint_text, "checkpoint")
    if not checkpoint_text.endswith("\n"):
        raise NoteError("checkpoint text must end in a newline")
    return b"cosignature/v1\ntime " + str(timestamp).encode("ascii") + b"\n" + data


def generate_cosigner_key(name: str) -> str:
    """A new PRIVATE+KEY+name+hex8+base64(0x04||seed) string for a witness."""
    if not _valid_name(name):
        raise NoteError(f"invalid key name {name!r}: no spaces, no '+', not empty")
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    b64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + private.private_bytes_raw()).decode("ascii")
    return f"PRIVATE+KEY+{name}+{_key_id(name, public).hex()}+{b64}"


class Cosigner:
    """Makes cosignature/v1 lines with a witness's Ed25519 key."""

    def __init__(self, skey: str) -> None:
        """Parse a PRIVATE+KEY+name+hex8+base64(0x04||seed) string (never echoed in errors)."""
        parts = skey.strip().split("+", 4) if isinstance(skey, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("witness private key must be PRIVATE+KEY+name+hex8+base64")
        _, _, name, hex8, b64 = parts
        raw = _b64decode(b64, "witness private key")
        if not _valid_name(name) or len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness private key is not a cosignature/v1 (type 0x04) Ed25519 seed")
        self._private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        public = self._private.public_key().public_bytes_raw()
        if _key_id(name, public).hex() != hex8.lower():
            raise NoteError("witness private key ID does not match its name and public key")
        self.name = name
        self.key_id = _key_id(name, public)
        self.vkey = f"{name}+{self.key_id.hex()}+{base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + public).decode('ascii')}"

    def __repr__(self) -> str:
        return f"Cosigner({self.vkey!r})"

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """One signature line (ending in a newline) cosigning `checkpoint_text` at `timestamp`."""
        sig = self._private.sign(signed_message(checkpoint_text, timestamp))
        blob = self.key_id + struct.pack(">Q", timestamp) + sig
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


class CosignatureVerifier:
    """Checks cosignature/v1 lines against one witness verifier key (name+hex8+base64(0x04||key))."""

    def __init__(self, vkey: str) -> None:
        parts = vkey.strip().split("+", 2) if isinstance(vkey, str) else []
        if len(parts) != 3:
            raise NoteError("witness verifier key must be name+hex8+base64")
        name, hex8, b64 = parts
        raw = _b64decode(b64, "witness verifier key")
        if not _valid_name(name) or len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness verifier key is not a cosignature/v1 (type 0x04) Ed25519 key")
        if _key_id(name, raw[1:]).hex() != hex8.lower():
            raise NoteError("witness verifier key ID does not match its name and public key")
        self.name = name
        self.key_id = bytes.fromhex(hex8)
        self.vkey = vkey.strip()
        self._public = Ed25519PublicKey.from_public_bytes(raw[1:])

    def matches(self, line: str) -> bool:
        """Whether a signature line claims to be by this witness (name and key ID)."""
        name, _sep, b64 = line.removeprefix(SIG_PREFIX).rstrip("\n").partition(" ")
        if not line.startswith(SIG_PREFIX) or name != self.name:
            return False
        try:
            return _b64decode(b64, "cosignature")[:4] == self.key_id
        except NoteError:
            return False

    def verify(self, checkpoint_text: str, line: str) -> int:
        """The timestamp of a valid cosignature line by this witness on `checkpoint_text`."""
        if not self.matches(line):
            raise NoteError(f"not a cosignature by {self.name}+{self.key_id.hex()}")
        raw = _b64decode(line.removeprefix(SIG_PREFIX).rstrip("\n").partition(" ")[2], "cosignature")
        if len(raw) != 4 + 8 + 64:
            raise NoteError("a cosignature/v1 is key ID, 8-byte timestamp and 64-byte signature")
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        try:
            self._public.verify(raw[12:], signed_message(checkpoint_text, timestamp))
        except InvalidSignature:
            raise NoteError(f"invalid cosignature by {self.name}") from None
        return timestamp
