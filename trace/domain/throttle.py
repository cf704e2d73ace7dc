"""Login throttling: growing delays per client network, per account, per (account, network) and
per trusted device, counted atomically in the database so that they hold across every worker
and host of a deployment (SQLite: the file's write lock, BEGIN IMMEDIATE; PostgreSQL: row locks).

An attempt first *reserves* its keys in one short transaction: it is refused at once, without
looking at the password, while any key is waiting out a delay or is held by another attempt whose
password is being checked. So 48 parallel guesses get one password check, not eight. After the
check a second transaction records the outcome: a failure adds one to each key and sets its next
delay; a success clears the account's keys.

Why several keys, and why delays rather than a lockout:
* (account, network): the guesser's own network against one account; delays grow fastest there;
* network: one network against many accounts (password spraying); its delays stop at five
  minutes, as a mobile network's NAT may put many people behind one address;
* account: many networks against one account; its delays stop at a minute, so a stranger can slow
  the bureau's login down but never lock it out for a quarter of an hour;
* a device that logged in to this account before (a signed cookie, see trace.web.auth) is
  judged by its own failures only, so a guesser elsewhere cannot make its owner wait at all.
The keys do not depend on whether the username exists: an unknown name is throttled, refused and
timed exactly like a known one."""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from trace.db import write_session
from trace.domain.tables.operations import LoginThrottle


@dataclass(frozen=True)
class Policy:
    """How a kind of key grows its delays: `free` failures cost nothing, then the delay doubles
    from `base` seconds up to `cap` seconds."""

    free: int
    base: float
    cap: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failures in a row."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - self.free))


POLICIES = {
    "pair": Policy(free=3, base=1, cap=15 * 60),
    "net": Policy(free=20, base=1, cap=5 * 60),  # a carrier's NAT may put thousands behind one address
    "acct": Policy(free=10, base=1, cap=60),
    "dev": Policy(free=3, base=1, cap=15 * 60),
}
WINDOW = timedelta(hours=1)  # failures older than this are forgotten
BUSY = timedelta(seconds=10)  # how long an attempt may hold its keys while its password is checked


def _utc(t: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored as UTC.
    return t if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)


def network(client: str) -> str:
    """The network a client address counts under: IPv4 as is, IPv6 by its /64 (one household or
    phone gets a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def keys(username: str, client: str, device: str | None = None) -> list[str]:
    """The keys one attempt counts under (usernames and addresses are hashed: the table needs
    to recognise them, not to hold them)."""
    user = _digest("user\x00" + username)
    if device:
        return [f"dev:{_digest('device' + chr(0) + device)}"]
    net = _digest("net\x00" + network(client))
    return [f"acct:{user}", f"net:{net}", f"pair:{_digest(user + net)}"]


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


def _insert(dialect: str):  # type: ignore[no-untyped-def]
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(LoginThrottle.__table__)


def reserve(engine: Engine, attempt_keys: list[str], now: datetime) -> float:
    """Hold the keys for one password check: 0.0, or the seconds to wait (nothing held)."""
    t = LoginThrottle.__table__
    with write_session(engine) as s:
        conn = s.connection()
        conn.execute(_insert(engine.dialect.name).values(
            [{"key": k, "failures": 0, "next_at": None, "busy_until": None, "last_at": now} for k in attempt_keys]
        ).on_conflict_do_nothing(index_elements=["key"]))
        rows = conn.execute(select(t).where(t.c.key.in_(attempt_keys)).order_by(t.c.key).with_for_update()).all()
        wait = 0.0
        for row in rows:
            until = [u for u in (_utc(row.busy_until), _utc(row.next_at) if _fresh(row, now) else None) if u is not None]
            if until:
                wait = max(wait, (max(until) - now).total_seconds())
        if wait > 0:
            return wait
        conn.execute(update(t).where(t.c.key.in_(attempt_keys)).values(busy_until=now + BUSY))
        return 0.0


def _fresh(row: object, now: datetime) -> bool:
    last = _utc(row.last_at)  # type: ignore[attr-defined]
    return last is not None and now - last < WINDOW


def finish(engine: Engine, attempt_keys: list[str], ok: bool, now: datetime) -> None:
    """Record the outcome of the check that `reserve` allowed, and release the keys."""
    t = LoginThrottle.__table__
    with write_session(engine) as s:
        conn = s.connection()
        rows = conn.execute(select(t).where(t.c.key.in_(attempt_keys)).order_by(t.c.key).with_for_update()).all()
        for row in rows:
            kind = _kind(row.key)
            if ok:  # a success clears the account's keys; its network's failures stay counted
                conn.execute(delete(t).where(t.c.key == row.key) if kind != "net"
                             else update(t).where(t.c.key == row.key).values(busy_until=None))
                continue
            failures = (row.failures if _fresh(row, now) else 0) + 1
            delay = POLICIES[kind].delay(failures)
            conn.execute(update(t).where(t.c.key == row.key).values(
                failures=failures, next_at=now + timedelta(seconds=delay) if delay else None, busy_until=None,
                last_at=now))
        conn.execute(delete(t).where(t.c.last_at < now - 2 * WINDOW, t.c.key.not_in(attempt_keys)))


def clear_account(engine: Engine, username: str) -> None:
    """Forget an account's failures (an administrator set a new password)."""
    user = _digest("user\x00" + username)
    t = LoginThrottle.__table__
    with write_session(engine) as s:
        s.execute(delete(t).where(t.c.key == f"acct:{user}"))
