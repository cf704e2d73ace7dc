"""Logins: create users, authenticate with lockout, change and reset passwords. No Flask here.

Users are not part of the log (they hold password hashes); a user acts for one party and its
role follows the party's kind, or is an administrator. Passwords are hashed with scrypt
(werkzeug's default KDF), checked outside the database write lock so that a slow hash never
holds up the log's writers."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from trace.db import read_session, write_session
from trace.domain.errors import DomainError, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.operations import Actor
from trace.domain.parties import Party, PartyKind, User

MAX_FAILURES = 5  # wrong passwords in a row before the account locks
LOCK_MINUTES = 15
MIN_PASSWORD = 10
MAX_PASSWORD = 200
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,59}")
# The worst of the usual suspects; length does most of the work.
COMMON = {"1234567890", "12345678910", "0123456789", "1111111111", "password123", "password1234",
          "qwertyuiop", "1q2w3e4r5t", "a123456789", "abc1234567", "woaini1314", "iloveyou12"}


class LoginFailed(DomainError):
    """Wrong username or password (deliberately not saying which)."""

    status = 401


class AccountLocked(DomainError):
    """Too many wrong passwords in a row."""

    status = 429

    def __init__(self, zh: str, en: str, until: datetime) -> None:
        super().__init__(zh, en, "password")
        self.until = until


@dataclass(frozen=True)
class Account:
    """What a request needs to know about its logged-in user."""

    id: int
    username: str
    party_id: int | None
    party_name: str | None
    party_kind: str | None
    credit_status: str | None
    is_admin: bool
    fingerprint: str  # changes with the password hash, so a new password ends old sessions

    @property
    def role(self) -> str:
        """The party's kind, or 'admin' for an administrator without a party."""
        return self.party_kind or ("admin" if self.is_admin else "none")

    @property
    def actor(self) -> Actor:
        """The domain actor this user acts as."""
        return Actor(self.id, self.party_id, self.is_admin)


def _utc(t: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored as UTC.
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


def fingerprint(password_hash: str) -> str:
    """A short digest of the password hash: part of the session id, not a secret by itself."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def normalize_username(value: object) -> str:
    """Usernames are compared in lower case, after full-width characters are folded."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip().lower()


def check_username(value: object) -> str:
    """A valid username or InvalidInput."""
    name = normalize_username(value)
    if not name:
        raise InvalidInput("请填写用户名。", "Username is required.", "username")
    if len(name) > 60:
        raise InvalidInput(f"用户名最多 60 个字符，现在有 {len(name)} 个。",
                           f"Username may have at most 60 characters, not {len(name)}.", "username")
    if not USERNAME_RE.fullmatch(name):
        raise InvalidInput("用户名为 3 到 60 个小写字母、数字、点、下划线或连字符，并以字母或数字开头。",
                           "Username must be 3 to 60 lower-case letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit.", "username")
    return name


def check_password(password: object, username: str = "", field: str = "password") -> str:
    """A password good enough to set, or InvalidInput explaining what is wrong with it."""
    pw = "" if password is None else str(password)
    if not pw:
        raise InvalidInput("请填写密码。", "Password is required.", field)
    if len(pw) < MIN_PASSWORD:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD} 个字符，现在只有 {len(pw)} 个。",
                           f"Password must have at least {MIN_PASSWORD} characters, not {len(pw)}.", field)
    if len(pw) > MAX_PASSWORD:
        raise InvalidInput(f"密码最多 {MAX_PASSWORD} 个字符。", f"Password may have at most {MAX_PASSWORD} characters.", field)
    if any(ord(c) < 32 for c in pw):
        raise InvalidInput("密码不能含有控制字符。", "Password cannot contain control characters.", field)
    if len(set(pw)) < 4 or pw.lower() in COMMON or (username and username.lower() in pw.lower()):
        raise InvalidInput("密码太容易被猜到（重复字符、常见密码或包含用户名），请换一个。",
                           "This password is too easy to guess (repeated characters, a common password, or it "
                           "contains the username); choose another.", field)
    return pw


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked when the username is unknown, so the answer takes as long as for a real user.
    return generate_password_hash("no such user: timing equaliser")


def _account(user: User, party: Party | None) -> Account:
    return Account(user.id, user.username, user.party_id, party.name if party else None,
                   party.kind if party else None, party.credit_status if party else None,
                   bool(user.is_admin), fingerprint(user.password_hash))


def load(engine: Engine, user_id: int) -> Account | None:
    """The account of a user id, or None."""
    with read_session(engine) as s:
        row = s.execute(select(User, Party).outerjoin(Party, Party.id == User.party_id).where(User.id == user_id)).first()
        return _account(row[0], row[1]) if row else None


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以管理登录账户。", "Only an administrator may manage user accounts.")


def create_user(engine: Engine, actor: Actor, *, party_id: object, username: object, password: object,
                is_admin: bool = False) -> Account:
    """Create a login for a party (its role follows the party's kind), or an administrator."""
    _require_admin(actor)
    name = check_username(username)
    pw = check_password(password, name)
    pid: int | None = None
    if party_id not in (None, ""):
        try:
            pid = int(str(party_id).strip())
        except ValueError:
            raise InvalidInput("单位编号应为数字。", "Party id must be a number.", "party") from None
        if not 1 <= pid < 2**31:
            raise NotFound("单位不存在。", f"Party {pid} does not exist.", "party")
    elif not is_admin:
        raise InvalidInput("请选择该用户所属的单位。", "Choose the party this user acts for.", "party")
    taken = RuleViolation("该用户名已被使用。", f"The username {name} is taken.", "username")
    with read_session(engine) as s:  # refuse what we can before the slow hash
        party = s.get(Party, pid) if pid is not None else None
        if pid is not None and party is None:
            raise NotFound("单位不存在。", f"Party {pid} does not exist.", "party")
        if s.scalar(select(User.id).where(func.lower(User.username) == name)) is not None:
            raise taken
    digest = generate_password_hash(pw)  # slow on purpose; computed outside the write lock
    with write_session(engine) as s:
        if s.scalar(select(User.id).where(func.lower(User.username) == name)) is not None:
            raise taken
        user = User(party_id=pid, username=name, password_hash=digest, is_admin=bool(is_admin), failed_logins=0)
        s.add(user)
        try:
            s.flush()
        except IntegrityError:  # a concurrent writer took the name between our check and insert
            raise taken from None
        return _account(user, party)


def authenticate(engine: Engine, username: object, password: object, now: datetime | None = None) -> Account:
    """The account if the password is right; LoginFailed or AccountLocked otherwise.

    MAX_FAILURES wrong passwords in a row lock the account for LOCK_MINUTES; while it is locked
    even the right password is refused, so guessing gains nothing."""
    now = now or datetime.now(UTC)
    name = normalize_username(username)[:60]
    pw = "" if password is None else str(password)[:MAX_PASSWORD]
    wrong = LoginFailed("用户名或密码不正确。", "Wrong username or password.", "password")
    if not USERNAME_RE.fullmatch(name):
        name = ""  # cannot be anyone's name; no need to ask the database (nor to send it a NUL)
    with read_session(engine) as s:
        user = s.scalar(select(User).where(func.lower(User.username) == name)) if name else None
    if user is None:
        check_password_hash(_dummy_hash(), pw)
        raise wrong
    locked = _utc(user.locked_until)
    if locked is not None and locked > now:
        raise _locked(locked, now)
    ok = bool(pw) and check_password_hash(user.password_hash, pw)
    with write_session(engine) as s:
        row = s.scalars(select(User).where(User.id == user.id).with_for_update()).one()
        if ok:
            row.failed_logins, row.locked_until = 0, None
            party = s.get(Party, row.party_id) if row.party_id else None
            return _account(row, party)
        row.failed_logins = (row.failed_logins or 0) + 1
        lock_now = row.failed_logins >= MAX_FAILURES
        if lock_now:
            row.failed_logins, row.locked_until = 0, now + timedelta(minutes=LOCK_MINUTES)
    if lock_now:
        raise _locked(now + timedelta(minutes=LOCK_MINUTES), now, just_now=True)
    raise wrong


def _locked(until: datetime, now: datetime, just_now: bool = False) -> AccountLocked:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    zh = (f"连续 {MAX_FAILURES} 次密码错误，账户已锁定 {LOCK_MINUTES} 分钟。" if just_now else
          f"密码错误次数过多，账户已锁定，请 {minutes} 分钟后再试。")
    en = (f"{MAX_FAILURES} wrong passwords in a row: the account is locked for {LOCK_MINUTES} minutes." if just_now else
          f"Too many wrong passwords: the account is locked; try again in {minutes} minutes.")
    return AccountLocked(zh, en, until)


def change_password(engine: Engine, user_id: int, *, current: object, new: object, confirm: object,
                    now: datetime | None = None) -> Account:
    """Change one's own password after proving the current one (a wrong one counts as a failure)."""
    account = load(engine, user_id)
    if account is None:
        raise NotFound("用户不存在。", "No such user.")
    if new != confirm:
        raise InvalidInput("两次输入的新密码不一致。", "The two new passwords differ.", "confirm")
    pw = check_password(new, account.username, field="new")
    try:
        authenticate(engine, account.username, current, now)
    except LoginFailed:
        raise InvalidInput("当前密码不正确。", "The current password is wrong.", "current") from None
    except AccountLocked as exc:
        raise AccountLocked(exc.zh, exc.en, exc.until) from None
    if pw == current:
        raise InvalidInput("新密码不能与当前密码相同。", "The new password must differ from the current one.", "new")
    return _store_password(engine, user_id, pw)


def reset_password(engine: Engine, actor: Actor, *, username: object, new: object) -> Account:
    """An administrator sets a user's password and lifts any lock."""
    _require_admin(actor)
    name = normalize_username(username)
    with read_session(engine) as s:
        uid = s.scalar(select(User.id).where(func.lower(User.username) == name)) if USERNAME_RE.fullmatch(name) else None
    if uid is None:
        raise NotFound("用户不存在。", f"No user called {name[:60]}.", "username")
    return _store_password(engine, uid, check_password(new, name, field="new"))


def _store_password(engine: Engine, user_id: int, pw: str) -> Account:
    digest = generate_password_hash(pw)
    with write_session(engine) as s:
        user = s.get_one(User, user_id)
        user.password_hash, user.failed_logins, user.locked_until = digest, 0, None
        party = s.get(Party, user.party_id) if user.party_id else None
        return _account(user, party)


@dataclass(frozen=True)
class UserRow:
    """A line of the administrator's user list."""

    id: int
    username: str
    party_id: int | None
    party_name: str | None
    role: str
    locked: bool


def list_users(engine: Engine, actor: Actor, now: datetime | None = None) -> list[UserRow]:
    """Every login, for an administrator."""
    _require_admin(actor)
    now = now or datetime.now(UTC)
    with read_session(engine) as s:
        rows = s.execute(select(User, Party).outerjoin(Party, Party.id == User.party_id).order_by(User.username)).all()
        return [UserRow(u.id, u.username, u.party_id, p.name if p else None,
                        p.kind if p else ("admin" if u.is_admin else "none"),
                        bool(_utc(u.locked_until) and _utc(u.locked_until) > now))  # type: ignore[operator]
                for u, p in rows]


ROLES = [k.value for k in PartyKind] + ["admin"]
