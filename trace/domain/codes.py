"""Identifiers and their check digits: unified social credit codes, GTINs, lot codes, package serials."""
from __future__ import annotations

import hashlib
import re
import secrets

# GB 32100-2015: 31 characters (no I, O, S, V, Z) and weights 3^i mod 31.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Crockford's base32: no I, L, O, U, so a serial read aloud or retyped is not misread.
SERIAL_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERIAL_LEN = 20  # 100 random bits; GS1 AI (21) allows at most 20 characters
LOT_RE = re.compile(r"^[A-Za-z0-9-]{1,20}$")
SERIAL_RE = re.compile(rf"^[{SERIAL_CHARS}]{{{SERIAL_LEN}}}$")


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a USCC."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """What is wrong with a unified social credit code, or None if it is valid."""
    if len(code) != 18:
        return f"must be 18 characters, not {len(code)}"
    bad = sorted({c for c in code if c not in USCC_CHARS})
    if bad:
        return f"contains characters not used in credit codes: {''.join(bad)}"
    if uscc_check_char(code[:17]) != code[17]:
        return f"check character should be {uscc_check_char(code[:17])}, not {code[17]}"
    return None


def gtin_check_digit(body: str) -> str:
    """GS1 mod-10 check digit for the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin_problem(gtin: str) -> str | None:
    """What is wrong with a GTIN-14, or None if it is valid."""
    if not re.fullmatch(r"\d{14}", gtin):
        return "must be exactly 14 digits (pad a GTIN-13 with a leading 0)"
    if gtin_check_digit(gtin[:13]) != gtin[13]:
        return f"check digit should be {gtin_check_digit(gtin[:13])}, not {gtin[13]}"
    return None


def new_serial() -> str:
    """A fresh package serial: 100 bits from the OS's CSPRNG."""
    n = secrets.randbits(5 * SERIAL_LEN)
    return "".join(SERIAL_CHARS[(n >> (5 * i)) & 31] for i in range(SERIAL_LEN))


def serial_hash(serial: str) -> str:
    """What the log records of a serial: SHA-256 hex. 100 random bits cannot be brute-forced back."""
    return hashlib.sha256(serial.encode("ascii")).hexdigest()


def lot_code(prefix: str, season: int, batch_id: int) -> str:
    """Human-readable lot code, URI-safe: APL-2026-00042."""
    return f"{prefix}-{season}-{batch_id:05d}"
