"""Logins: create users, authenticate with lockout, change and reset passwords. No Flask here.

A login acts for one party and its role follows the party's kind, or it is an administrator.
Its creation is a log event (`user.create`, under a pseudonym: no username, no password hash);
its username, password hash and lockout state are operational and stay in the users table.
Passwords are hashed with scrypt (werkzeug's default KDF), outside the log's write lock, so that
a slow hash never holds up the log's writers."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash, generate_password_hash

from trace.db import read_session, write_session
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.errors import Code, DomainError, Forbidden, InvalidInput, NotFound
from trace.domain.events import UserCreate
from trace.domain.inputs import parse
from trace.domain.messages import N_
from trace.domain.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    USERNAME_RE,
    check_password,
    check_username,
    normalize_username,
)
from trace.domain.tables.parties import Party, PartyKind, User

__all__ = ["MAX_FAILURES", "LOCK_MINUTES", "MIN_PASSWORD", "Account", "LoginFailed", "AccountLocked", "create_user",
           "authenticate", "change_password", "reset_password", "list_users", "load", "actor_of", "check_username",
           "check_password", "normalize_username", "log_existing_logins", "ROLES"]

MAX_FAILURES = 5  # wrong passwords in a row before the account locks
LOCK_MINUTES = 15


class LoginFailed(DomainError):
    """Wrong username or password (deliberately not saying which)."""

    status = 401


class AccountLocked(DomainError):
    """Too many wrong passwords in a row."""

    status = 429

    @property
    def until(self) -> datetime:
        """When the lock ends."""
        return self.params["until"]


WRONG = Code("auth.wrong", LoginFailed, N_("Wrong username or password."))
LOCKED_NOW = Code("auth.locked_now", AccountLocked,
                  N_("%(n)s wrong passwords in a row: the account is locked for %(minutes)s minutes."))
LOCKED = Code("auth.locked", AccountLocked, N_("Too many wrong passwords: the account is locked; try again in %(minutes)s minutes."))
ADMIN_ONLY = Code("accounts.admin_only", Forbidden, N_("Only an administrator may manage user accounts."))
NO_SUCH_USER = Code("accounts.no_such_user", NotFound, N_("No user called %(name)s."))
CONFIRM = Code("password.confirm", InvalidInput, N_("The two new passwords differ."))
CURRENT_WRONG = Code("password.current_wrong", InvalidInput, N_("The current password is wrong."))
SAME = Code("password.same", InvalidInput, N_("The new password must differ from the current one."))
UNKNOWN_LOGIN = Code("actor.unknown_login", NotFound, N_("There is no login %(name)s."))
BUREAU_ONLY = Code("accounts.bureau_only", Forbidden,
                   N_("Logins of the market supervision bureau are managed by the bureau itself, not by an administrator."))


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
    pseudonym: str = ""

    @property
    def role(self) -> str:
        """The party's kind, or 'admin' for an administrator without a party."""
        return self.party_kind or ("admin" if self.is_admin else "none")

    @property
    def actor(self) -> Actor:
        """The domain actor this user acts as."""
        return Actor(self.id, self.party_id, self.is_admin, self.pseudonym or None)


def _utc(t: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored as UTC.
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


def fingerprint(password_hash: str) -> str:
    """A short digest of the password hash: part of the session id, not a secret by itself."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked when the username is unknown, so the answer takes as long as for a real user.
    return generate_password_hash("no such user: timing equaliser")


def _account(user: User, party: Party | None) -> Account:
    return Account(user.id, user.username, user.party_id, party.name if party else None,
                   party.kind if party else None, party.credit_status if party else None,
                   bool(user.is_admin), fingerprint(user.password_hash), user.pseudonym)


def load(engine: Engine, user_id: int) -> Account | None:
    """The account of a user id, or None."""
    with read_session(engine) as s:
        row = s.execute(select(User, Party).outerjoin(Party, Party.id == User.party_id).where(User.id == user_id)).first()
        return _account(row[0], row[1]) if row else None


def actor_of(engine: Engine, username: str) -> Actor:
    """The actor of a login by username (for the CLI's `do --as`)."""
    name = normalize_username(username)
    with read_session(engine) as s:
        row = s.execute(select(User, Party).outerjoin(Party, Party.id == User.party_id)
                        .where(func.lower(User.username) == name)).first() if USERNAME_RE.fullmatch(name) else None
        if row is None:
            raise UNKNOWN_LOGIN("as", name=name[:60])
        return _account(row[0], row[1]).actor


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise ADMIN_ONLY()


def create_user(trace: Trace, actor: Actor, *, party_id: object, username: object, password: object,
                is_admin: bool = False, password_hash: str | None = None) -> Account:
    """Create a login for a party (its role follows the party's kind), or an administrator: a
    `user.create` entry, then its username and password hash. `password_hash`: one hashed
    already (the demo gives its logins one password)."""
    data = {"party": party_id, "username": username, "password": password or "", "admin": is_admin}
    if password_hash is None:
        cmd, inp, prepared = trace.parse("user.create", data)
    else:
        cmd = trace.command("user.create")
        inp = parse(cmd.input, data)
        prepared = {"username": check_username(inp.username), "password_hash": password_hash}  # type: ignore[attr-defined]
    with trace.transaction(actor) as tx:
        tx.run(cmd, inp, prepared)
    with read_session(trace.engine) as s:
        user = s.scalars(select(User).where(User.username == prepared["username"])).one()  # type: ignore[index]
        return _account(user, s.get(Party, user.party_id) if user.party_id else None)


def log_existing_logins(trace: Trace) -> int:
    """Log a `user.create` entry for every login made before logins were logged (the upgrade from
    version 1 entries): the system records them under the pseudonyms the migration gave them."""
    with read_session(trace.engine) as s:
        waiting = s.execute(select(User.pseudonym, User.party_id, User.is_admin).where(User.created_entry.is_(None))
                            .order_by(User.id)).all()
    if waiting:
        with trace.transaction(SYSTEM) as tx:
            for pseudonym, party_id, admin in waiting:
                tx.record(UserCreate(user=pseudonym, party_id=party_id, admin=bool(admin)))
    return len(waiting)


def authenticate(engine: Engine, username: object, password: object, now: datetime | None = None) -> Account:
    """The account if the password is right; LoginFailed or AccountLocked otherwise.

    MAX_FAILURES wrong passwords in a row lock the account for LOCK_MINUTES; while it is locked
    even the right password is refused, so guessing gains nothing."""
    now = now or datetime.now(UTC)
    name = normalize_username(username)[:60]
    pw = "" if password is None else str(password)[:MAX_PASSWORD]
    if not USERNAME_RE.fullmatch(name):
        name = ""  # cannot be anyone's name; no need to ask the database (nor to send it a NUL)
    with read_session(engine) as s:
        user = s.scalar(select(User).where(func.lower(User.username) == name)) if name else None
    if user is None:
        check_password_hash(_dummy_hash(), pw)
        raise WRONG("password")
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
        raise LOCKED_NOW("password", n=MAX_FAILURES, minutes=LOCK_MINUTES, until=now + timedelta(minutes=LOCK_MINUTES))
    raise WRONG("password")


def _locked(until: datetime, now: datetime) -> DomainError:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return LOCKED("password", minutes=minutes, until=until)


def change_password(engine: Engine, user_id: int, *, current: object, new: object, confirm: object,
                    now: datetime | None = None) -> Account:
    """Change one's own password after proving the current one (a wrong one counts as a failure)."""
    account = load(engine, user_id)
    if account is None:
        raise NO_SUCH_USER(None, name=str(user_id))
    if new != confirm:
        raise CONFIRM("confirm")
    pw = check_password(new, account.username, field="new")
    try:
        authenticate(engine, account.username, current, now)
    except LoginFailed:
        raise CURRENT_WRONG("current") from None
    if pw == current:
        raise SAME("new")
    return _store_password(engine, user_id, pw)


def reset_password(engine: Engine, actor: Actor, *, username: object, new: object) -> Account:
    """An administrator sets a user's password and lifts any lock; a login of the market
    supervision bureau only the bureau resets (or the operator's console), so that nobody who
    runs the system can make himself a regulator."""
    name = normalize_username(username)
    with read_session(engine) as s:
        row = s.execute(select(User.id, Party.kind, Party.id).outerjoin(Party, Party.id == User.party_id)
                        .where(func.lower(User.username) == name)).first() if USERNAME_RE.fullmatch(name) else None
        mine = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if row is not None and row[1] == PartyKind.REGULATOR.value:
        console = actor.user_id is None and actor.party_id is None
        own_bureau = mine is not None and mine.kind == PartyKind.REGULATOR.value and mine.id == row[2]
        if not (console or own_bureau):
            raise BUREAU_ONLY("username")
    else:
        _require_admin(actor)
    if row is None:
        raise NO_SUCH_USER("username", name=name[:60])
    return _store_password(engine, row[0], check_password(new, name, field="new"))


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
