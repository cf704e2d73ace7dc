"""What a username and a password must be, and how passwords are kept (scrypt, werkzeug's KDF)."""
from __future__ import annotations

import re
import unicodedata

from werkzeug.security import generate_password_hash

from trace.domain.errors import Code, InvalidInput
from trace.domain.messages import N_

MIN_PASSWORD = 10
MAX_PASSWORD = 200
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,59}")
# The worst of the usual suspects; length does most of the work.
COMMON = {"1234567890", "12345678910", "0123456789", "1111111111", "password123", "password1234",
          "qwertyuiop", "1q2w3e4r5t", "a123456789", "abc1234567", "woaini1314", "iloveyou12"}

USERNAME_REQUIRED = Code("username.required", InvalidInput, N_("Username is required."))
USERNAME_LONG = Code("username.too_long", InvalidInput, N_("Username may have at most 60 characters, not %(n)s."))
USERNAME_FORMAT = Code("username.format", InvalidInput,
                       N_("Username must be 3 to 60 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit."))
PASSWORD_REQUIRED = Code("password.required", InvalidInput, N_("Password is required."))
PASSWORD_SHORT = Code("password.too_short", InvalidInput,
                      N_("Password must have at least %(min)s characters, not %(n)s."))
PASSWORD_LONG = Code("password.too_long", InvalidInput, N_("Password may have at most %(max)s characters."))
PASSWORD_CONTROL = Code("password.control_characters", InvalidInput, N_("Password cannot contain control characters."))
PASSWORD_WEAK = Code("password.weak", InvalidInput,
                     N_("This password is too easy to guess (repeated characters, a common password, or it contains "
                        "the username); choose another."))


def normalize_username(value: object) -> str:
    """Usernames are compared in lower case, after full-width characters are folded."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip().lower()


def check_username(value: object, field: str = "username") -> str:
    """A valid username, or the refusal that says what is wrong with it."""
    name = normalize_username(value)
    if not name:
        raise USERNAME_REQUIRED(field)
    if len(name) > 60:
        raise USERNAME_LONG(field, n=len(name))
    if not USERNAME_RE.fullmatch(name):
        raise USERNAME_FORMAT(field)
    return name


def check_password(password: object, username: str = "", field: str = "password") -> str:
    """A password good enough to set, or the refusal that says what is wrong with it."""
    pw = "" if password is None else str(password)
    if not pw:
        raise PASSWORD_REQUIRED(field)
    if len(pw) < MIN_PASSWORD:
        raise PASSWORD_SHORT(field, min=MIN_PASSWORD, n=len(pw))
    if len(pw) > MAX_PASSWORD:
        raise PASSWORD_LONG(field, max=MAX_PASSWORD)
    if any(ord(c) < 32 for c in pw):
        raise PASSWORD_CONTROL(field)
    if len(set(pw)) < 4 or pw.lower() in COMMON or (username and username.lower() in pw.lower()):
        raise PASSWORD_WEAK(field)
    return pw


def hash_password(password: str) -> str:
    """The password's scrypt hash (slow on purpose: never computed under the log's write lock)."""
    return generate_password_hash(password)
