"""C2SP signed notes (Ed25519) and tlog-checkpoint note texts.

Formats, as in c2sp.org/signed-note, c2sp.org/tlog-checkpoint and
golang.org/x/mod/sumdb/note:

* key ID      = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]
* verifier key = ``name+hex8(key ID)+base64(0x01 || public key)``
* private key  = ``PRIVATE+KEY+name+hex8(key ID)+base64(0x01 || 32-byte seed)``
* signed note  = text (ending in newline) + "\\n" + one or more lines
  ``— name base64(key ID || signature)\\n`` (em dash U+2014, space); the
  signature is over the UTF-8 bytes of the text.
* checkpoint text = origin "\\n" decimal size "\\n" base64(root) "\\n" [extension lines]
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "NoteError",
    "NoteSigner",
    "format_checkpoint",
    "generate_private_key",
    "parse_checkpoint",
    "verify_note",
]

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec demands at least 16; x/mod uses 100
ROOT_SIZE = 32

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_WHITESPACE = re.compile(r"\s")


class NoteError(ValueError):
    """A key, note or checkpoint is malformed, or a note does not verify."""


# ---------------------------------------------------------------------------
# Helpers


def _valid_name(name: str) -> bool:
    """Return whether `name` is a valid key name: non-empty, no '+', no Unicode space."""
    # Python's \s covers the Unicode White_Space characters Go's unicode.IsSpace
    # does (plus the ASCII control separators, which are rejected anyway).
    return (
        bool(name)
        and "+" not in name
        and not _WHITESPACE.search(name)
        and all(ch >= " " for ch in name)
        and _valid_utf8(name)
    )


def _valid_utf8(s: str) -> bool:
    """Return whether `s` encodes to UTF-8 (no lone surrogates)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str, what: str) -> bytes:
    """Return the UTF-8 bytes of `text`; NoteError unless valid, newline-free of controls."""
    if not isinstance(text, str):
        raise NoteError(f"{what} must be str")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains ASCII control character {ord(ch):#04x}")
    return data


def _b64decode(s: str, what: str) -> bytes:
    """Strictly decode standard base64 (RFC 4648 section 4, padded)."""
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


def _key_id(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte key ID of an Ed25519 key."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()[:4]


def _vkey_string(name: str, public_key: bytes) -> str:
    """Return the verifier key string for an Ed25519 key."""
    b64 = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode("ascii")
    return f"{name}+{_key_id(name, public_key).hex()}+{b64}"


def _parse_vkey(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse a verifier key string into (name, key ID, public key)."""
    if not isinstance(vkey, str):
        raise NoteError("verifier key must be str")
    # Only the first two '+' separate fields: base64 itself may contain '+'.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key must be name+hex8+base64")
    name, hex8, b64 = parts
    if not _valid_name(name):
        raise NoteError(f"invalid key name {name!r}")
    if not _HEX8.fullmatch(hex8):
        raise NoteError("verifier key ID must be 8 hex digits")
    raw = _b64decode(b64, "verifier key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) 32-byte public key")
    public = raw[1:]
    key_id = bytes.fromhex(hex8)
    if _key_id(name, public) != key_id:
        raise NoteError("verifier key ID does not match its name and public key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


# ---------------------------------------------------------------------------
# Keys and signing


def generate_private_key(name: str) -> str:
    """Return a new Ed25519 private key string PRIVATE+KEY+name+hex8+base64(0x01||seed)."""
    if not _valid_name(name):
        raise NoteError(f"invalid key name {name!r}")
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    b64 = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{_key_id(name, public).hex()}+{b64}"


class NoteSigner:
    """Signs note texts with an Ed25519 key given as a PRIVATE+KEY+... string."""

    name: str
    key_id: bytes
    vkey: str

    def __init__(self, skey: str) -> None:
        """Parse and check a PRIVATE+KEY+name+hex8+base64(0x01||seed) string."""
        if not isinstance(skey, str):
            raise NoteError("private key must be str")
        # Only the first four '+' separate fields: base64 itself may contain '+'.
        parts = skey.strip().split("+", 4)
        # Never echo the key material in error messages.
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("private key must be PRIVATE+KEY+name+hex8+base64")
        _, _, name, hex8, b64 = parts
        if not _valid_name(name):
            raise NoteError(f"invalid key name {name!r}")
        if not _HEX8.fullmatch(hex8):
            raise NoteError("private key ID must be 8 hex digits")
        raw = _b64decode(b64, "private key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("private key is not an Ed25519 (type 0x01) 32-byte seed")
        self._private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        public = self._private.public_key().public_bytes_raw()
        # The ID in the string hashes the *public* key, so it can only be
        # checked after deriving the public key from the seed.
        key_id = bytes.fromhex(hex8)
        if _key_id(name, public) != key_id:
            raise NoteError("private key ID does not match its name and public key")
        self.name = name
        self.key_id = key_id
        self.vkey = _vkey_string(name, public)

    def __repr__(self) -> str:
        """Show the verifier key only, never the seed."""
        return f"NoteSigner({self.vkey!r})"

    def sign(self, text: str) -> str:
        """Return the signed note: text, blank line, one signature line."""
        data = _check_text(text, "note text")
        if not text.endswith("\n"):
            raise NoteError("note text must end in a newline")
        sig = self._private.sign(data)
        b64 = base64.b64encode(self.key_id + sig).decode("ascii")
        return f"{text}\n{SIG_PREFIX}{self.name} {b64}\n"


# ---------------------------------------------------------------------------
# Verifying


def verify_note(note: str, vkey: str) -> str:
    """Return the text of `note` if it carries a valid signature by `vkey`; NoteError otherwise."""
    name, key_id, public = _parse_vkey(vkey)
    _check_text(note, "note")
    # The text ends at the *last* blank line (the text itself may contain some).
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("note has no signature lines, or they do not end in a newline")
    text_bytes = text.encode("utf-8")

    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    verified = False
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        sig_name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not b64 or not _valid_name(sig_name):
            raise NoteError("malformed signature line")
        raw = _b64decode(b64, "signature")
        if len(raw) < 5:
            raise NoteError("signature too short")
        # Signatures by other keys (other name or other ID) are ignored, as the
        # spec requires: they may be witnesses or a rotated key.
        if sig_name != name or raw[:4] != key_id:
            continue
        try:
            public.verify(raw[4:], text_bytes)
        except InvalidSignature:
            raise NoteError(f"invalid signature by {name}") from None
        verified = True
    if not verified:
        raise NoteError(f"note has no signature by {name}+{key_id.hex()}")
    return text


# ---------------------------------------------------------------------------
# Checkpoints


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """Return the tlog-checkpoint note text for (origin, size, root)."""
    if not origin or "\n" in origin:
        raise NoteError("checkpoint origin must be a non-empty single line")
    _check_text(origin, "checkpoint origin")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise NoteError(f"bad tree size {size!r}")
    if len(root) != ROOT_SIZE:
        raise NoteError(f"root hash must be {ROOT_SIZE} bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """Parse a checkpoint note text into (origin, size, root); extension lines are ignored."""
    _check_text(text, "checkpoint")
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root hash lines")
    if any(not line for line in lines):
        raise NoteError("checkpoint lines must be non-empty")
    origin, size_line, root_line = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size_line):
        raise NoteError("checkpoint tree size must be a decimal number without leading zeros")
    root = _b64decode(root_line, "checkpoint root hash")
    if len(root) != ROOT_SIZE:
        raise NoteError(f"checkpoint root hash must be {ROOT_SIZE} bytes")
    return origin, int(size_line), root
