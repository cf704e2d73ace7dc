"""Identifiers and their check characters: unified social credit codes, GTINs, lot codes, package
serials, and the GS1 Digital Link paths built from them."""
from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata

from trace.domain.errors import Code, DomainError, InvalidInput
from trace.domain.messages import N_

# GB 32100-2015: 31 characters (no I, O, S, V, Z) and weights 3^i mod 31.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Crockford's base32: no I, L, O, U, so a serial read aloud or retyped is not misread.
SERIAL_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERIAL_LEN = 20  # 100 random bits; GS1 AI (21) allows at most 20 characters
LOT_RE = re.compile(r"^[A-Za-z0-9-]{1,20}$")
SERIAL_RE = re.compile(rf"^[{SERIAL_CHARS}]{{{SERIAL_LEN}}}$")
# Crockford's base32 reads I and L as 1 and O as 0, so a serial retyped from a label still works.
_CROCKFORD = str.maketrans({"I": "1", "L": "1", "O": "0"})

USCC_LENGTH = Code("uscc.length", InvalidInput, N_("The unified social credit code must be 18 characters, not %(n)s."))
USCC_CHARACTERS = Code("uscc.characters", InvalidInput,
                       N_("The unified social credit code contains characters not used in credit codes: %(chars)s."))
USCC_CHECK = Code("uscc.check", InvalidInput,
                  N_("The unified social credit code's check character should be %(expected)s, not %(got)s."))
GTIN_FORMAT = Code("gtin.format", InvalidInput, N_("A GTIN must be exactly 14 digits (pad a GTIN-13 with a leading 0)."))
GTIN_CHECK = Code("gtin.check", InvalidInput, N_("The GTIN's check digit should be %(expected)s, not %(got)s."))
SERIAL_FORMAT = Code("code.serial", InvalidInput,
                     N_("“%(code)s” is not a valid package code: codes have 20 letters and digits."))
LOT_FORMAT = Code("code.lot", InvalidInput,
                  N_("“%(code)s” is not a valid lot code: lot codes have at most 20 letters, digits and hyphens."))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a USCC."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(code: str, field: str = "uscc") -> DomainError | None:
    """What is wrong with a unified social credit code, or None if it is valid."""
    if len(code) != 18:
        return USCC_LENGTH(field, n=len(code))
    bad = sorted({c for c in code if c not in USCC_CHARS})
    if bad:
        return USCC_CHARACTERS(field, chars="".join(bad))
    if uscc_check_char(code[:17]) != code[17]:
        return USCC_CHECK(field, expected=uscc_check_char(code[:17]), got=code[17])
    return None


def gtin_check_digit(body: str) -> str:
    """GS1 mod-10 check digit for the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin_problem(gtin: str, field: str = "gtin") -> DomainError | None:
    """What is wrong with a GTIN-14, or None if it is valid."""
    if not (len(gtin) == 14 and gtin.isascii() and gtin.isdigit()):
        return GTIN_FORMAT(field)
    if gtin_check_digit(gtin[:13]) != gtin[13]:
        return GTIN_CHECK(field, expected=gtin_check_digit(gtin[:13]), got=gtin[13])
    return None


def normalize_gtin(raw: str, field: str = "gtin") -> str:
    """A GTIN-8/12/13/14 as the 14 digits GS1 Digital Link uses, its check digit verified."""
    s = str(raw or "")
    if s.isascii() and s.isdigit() and len(s) in (8, 12, 13, 14):
        s = s.rjust(14, "0")
    problem = gtin_problem(s, field)
    if problem:
        raise problem
    return s


def new_serial() -> str:
    """A fresh package serial: 100 bits from the OS's CSPRNG."""
    n = secrets.randbits(5 * SERIAL_LEN)
    return "".join(SERIAL_CHARS[(n >> (5 * i)) & 31] for i in range(SERIAL_LEN))


def serial_hash(serial: str) -> str:
    """What the log records of a serial: SHA-256 hex. 100 random bits cannot be brute-forced back."""
    return hashlib.sha256(serial.encode("ascii")).hexdigest()


def normalize_serial(raw: str, field: str = "serial") -> str:
    """A package serial as stored: upper case, without spaces, hyphens or the group separators
    printed on labels, Crockford look-alikes mapped; SERIAL_FORMAT if it cannot be one."""
    folded = unicodedata.normalize("NFKC", str(raw or ""))
    s = re.sub(r"[\s\-·.]", "", folded).upper().translate(_CROCKFORD)
    if len(s) != SERIAL_LEN or any(c not in SERIAL_CHARS for c in s):
        raise SERIAL_FORMAT(field, code=str(raw)[:40])
    return s


def check_lot(raw: str, field: str = "lot") -> str:
    """A lot code: letters, digits and hyphens only, so that it needs no escaping in a URL."""
    s = str(raw or "")
    if not LOT_RE.fullmatch(s):
        raise LOT_FORMAT(field, code=s[:40])
    return s


def lot_code(prefix: str, season: int, batch_id: int) -> str:
    """Human-readable lot code, URI-safe: APL-2026-00042."""
    return f"{prefix}-{season}-{batch_id:05d}"


def package_path(serial: str, gtin: str | None, lot: str) -> str:
    """Path of a package's page: GS1 Digital Link when the product has a GTIN, else /p/{serial}."""
    return f"/01/{gtin}/10/{lot}/21/{serial}" if gtin else f"/p/{serial}"


def lot_path(lot: str, gtin: str | None) -> str:
    """Path of a lot's page: GS1 Digital Link when the product has a GTIN, else /lot/{lot}."""
    return f"/01/{gtin}/10/{lot}" if gtin else f"/lot/{lot}"


def package_url(base: str, serial: str, gtin: str | None, lot: str) -> str:
    """The URL printed in a package's QR code."""
    return base.rstrip("/") + package_path(serial, gtin, lot)


def serial_from_scan(raw: str, field: str = "packages") -> str:
    """The serial in what a scanner read: a package URL (/p/{serial}, …/21/{serial}) or the code."""
    m = re.search(r"/(?:21|p)/([0-9A-Za-z]{20})/?(?:[?#].*)?$", raw.strip())
    return normalize_serial(m.group(1) if m else raw, field)


def new_salt() -> str:
    """A fresh salt for a commitment: 128 bits, hex."""
    return secrets.token_hex(16)


def commitment(kind: str, salt: str, value: str) -> str:
    """What the log records of a private value (a plot's coordinates, a vehicle's plate): SHA-256
    hex of a domain tag, the salt and the value. Without the salt, kept in the state tables, the
    value cannot be guessed from it; with it, the operator can prove what the value was."""
    return hashlib.sha256(f"shapotou-trace/commitment/v1\n{kind}\n{salt}\n{value}".encode()).hexdigest()


def location_value(lat_micro: int, lon_micro: int) -> str:
    """The committed form of a plot's coordinates (microdegrees)."""
    return f"{lat_micro},{lon_micro}"


def new_pseudonym() -> str:
    """A login's name in the log: 64 random bits, nothing to do with its username."""
    return "u" + secrets.token_hex(8)


def person_value(name: str, id_number: str) -> str:
    """The committed form of a natural person's name and identity number."""
    return f"{name}\n{id_number}"


# GB 11643-1999 居民身份证号码: 6 digits of address, 8 of birth date, 3 of sequence (odd for men),
# and a check character computed by ISO 7064 MOD 11-2 over the first 17: each digit a_i at
# position i (counted from the right, the check character being position 1) is weighted
# W_i = 2^(i-1) mod 11; the check character is the c with (sum(a_i * W_i) + c) ≡ 1 (mod 11),
# written X when it is 10.
ID_WEIGHTS = tuple(pow(2, i - 1, 11) for i in range(18, 1, -1))  # positions 18 .. 2, left to right
ID_NUMBER_LENGTH = Code("id_number.length", InvalidInput, N_("An identity number has 18 characters, not %(n)s."))
ID_NUMBER_CHARACTERS = Code("id_number.characters", InvalidInput,
                            N_("An identity number is 17 digits and a check character (a digit or X)."))
ID_NUMBER_DATE = Code("id_number.birth_date", InvalidInput, N_("The birth date in this identity number (%(date)s) is not a real date."))
ID_NUMBER_CHECK = Code("id_number.check", InvalidInput,
                       N_("The identity number's check character should be %(expected)s, not %(got)s: a digit was mistyped."))


def id_check_char(first17: str) -> str:
    """The GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    c = (12 - total % 11) % 11
    return "X" if c == 10 else str(c)


def id_number_problem(number: str, field: str = "id_number") -> DomainError | None:
    """What is wrong with a resident identity number, or None if it is valid."""
    import datetime

    if len(number) != 18:
        return ID_NUMBER_LENGTH(field, n=len(number))
    if not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        return ID_NUMBER_CHARACTERS(field)
    birth = number[6:14]
    try:
        datetime.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return ID_NUMBER_DATE(field, date=birth)
    expected = id_check_char(number[:17])
    if number[17] != expected:
        return ID_NUMBER_CHECK(field, expected=expected, got=number[17])
    return None


def last_four(number: str | None) -> str:
    """All of an identity number that is ever shown: its last four characters."""
    return f"…{number[-4:]}" if number else ""


def masked_name(name: str) -> str:
    """A person's name as the public may read it: the first character, then one * per character."""
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""
