"""The scan counter of package codes: counts and coarse data only, nothing about the consumer.

Out of the consumer page module because it is the one thing there that writes: every scan is an
upsert, on connections of its own (see ScanCounter)."""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import ipaddress
import os
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from trace.clock import CHINA, rfc3339_seconds
from trace.domain.tables.batches import Package, PackageScan
from trace.ledger.models import Checkpoint

MARKS_MAX = 400  # PackageScan.client_marks column width
MARK_HEX = 4  # 16 bits per client mark: coarse on purpose, collisions are fine
_latest_size = select(func.max(Checkpoint.size)).scalar_subquery()


def client_mark(secret: bytes, client_ip: str, now: datetime) -> str:
    """A coarse, salted, truncated mark of a client's network and the day: 16 bits of
    HMAC(secret, IPv4 /24 or IPv6 /48 + China date). It cannot be turned back into an address,
    differs from day to day, and collides often enough that it identifies nobody."""
    try:
        ip = ipaddress.ip_address(client_ip)
        prefix = 24 if ip.version == 4 else 48
        net = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    except ValueError:
        net = "unknown"
    day = now.astimezone(CHINA).date().isoformat()
    return hmac.new(secret, f"{net}|{day}".encode(), hashlib.sha256).hexdigest()[:MARK_HEX]


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands DateTime columns back naive; we only ever store UTC.
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _upsert(dialect: str) -> Any:
    """The scan counter's upsert for one dialect. Whether the package is sold is read in the same
    statement, and the statement returns the new counter with the latest checkpoint's size, so a
    repeat scan needs nothing else from the database when nothing was written since."""
    t = PackageScan.__table__
    now, entry = bindparam("now"), bindparam("entry")
    sold = select(Package.status).where(Package.id == bindparam("package_id")).scalar_subquery() == "sold"
    ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(t).values(
        package_id=bindparam("package_id"), count=1, first_at=now, last_at=now,
        clients_after_sale=case((sold, 1), else_=0), client_marks=case((sold, entry), else_=""))
    keep = ~sold | t.c.client_marks.like(bindparam("pattern")) | (func.length(t.c.client_marks) + bindparam("entry_len") > MARKS_MAX)
    update = {
        "count": t.c.count + 1, "last_at": now, "first_at": func.coalesce(t.c.first_at, now),
        "client_marks": case((keep, t.c.client_marks), (t.c.client_marks == "", entry), else_=t.c.client_marks + bindparam("tail")),
        "clients_after_sale": case((keep, t.c.clients_after_sale), else_=t.c.clients_after_sale + 1),
    }
    return (ins.on_conflict_do_update(index_elements=[t.c.package_id], set_=update)
            .returning(t.c.count, t.c.first_at, t.c.clients_after_sale, sold.label("sold"), _latest_size.label("size")))


_UPSERTS = {d: _upsert(d) for d in ("sqlite", "postgresql")}
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite: naive UTC text


class ScanCounter:
    """Counts scans of package codes: ONE statement per scan (an upsert returning the new counter,
    whether the package is sold and the latest checkpoint's size).

    Only after sale does a scan add its client mark, and a new mark adds one distinct client; the
    marks column is a small bounded set, so once full the estimate simply stops growing (by then
    it is far beyond any warning threshold).

    Every scan is a write, so on SQLite three things keep it cheap and its latency flat:
    * connections of its own with synchronous=NORMAL: in WAL mode a commit then costs microseconds
      instead of an fsync (about a millisecond). A power cut can lose the last few scans but never
      corrupt the database or touch the log, whose writers keep synchronous=FULL on theirs;
    * scan writers queue on a lock (a thread lock, then flock on a file beside the database, for
      the other processes) instead of SQLite's busy handler, which sleeps 1, 2, 5, 10 ... ms and
      so turns contention into a long latency tail;
    * the statement is compiled once and run on the DBAPI connection.
    On PostgreSQL the counter has connections of its own in autocommit with synchronous_commit
    off: the upsert is its own transaction, one round trip, and a crash can lose the last scans
    (never half of one); the log's transactions keep synchronous commits.
    """

    def __init__(self, engine: Engine, lock_path: str | None = None) -> None:
        """`engine`: the scan engine (trace.db.make_scan_engine); `lock_path`: the file scan
        writers queue on, across processes (SQLite)."""
        self.sqlite = engine.dialect.name == "sqlite"
        self.engine = engine
        self._thread_lock = threading.Lock()
        self._lock_fd: int | None = None
        if lock_path is not None:
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, self._lock_fd)
        compiled = _UPSERTS[engine.dialect.name].compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        # Constants of the statement ('sold', 1, ...) with placeholders for the per-scan values.
        self.base = compiled.construct_params(dict.fromkeys(("package_id", "now", "entry", "pattern", "entry_len", "tail")))

    def count(self, package_id: int, *, mark: str, now: datetime) -> dict[str, Any]:
        """Count one scan; returns count, first_at, clients_after_sale, sold and size."""
        entry, utc = f",{mark},", now.astimezone(UTC)
        values = {**self.base, "package_id": package_id, "now": utc.strftime(_SQLITE_TIME) if self.sqlite else utc,
                  "entry": entry, "pattern": f"%{entry}%", "entry_len": len(entry), "tail": f"{mark},"}
        params = [values[k] for k in self.order] if self.order is not None else values
        conn = self.engine.raw_connection()  # checked out before queueing: the lock covers only the write
        try:
            if self.sqlite:
                with self._thread_lock:
                    if self._lock_fd is not None:
                        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                    try:
                        row = self._run(conn, params)
                    finally:
                        if self._lock_fd is not None:
                            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            else:
                row = self._run(conn, params)
        finally:
            conn.close()  # back to the pool
        count, first_at, clients, sold, size = row
        if isinstance(first_at, str):
            first_at = datetime.fromisoformat(first_at)
        return {"count": int(count), "first_at": _aware(first_at), "clients_after_sale": int(clients),
                "sold": bool(sold), "size": size}

    def _run(self, conn: Any, params: Any) -> tuple[Any, ...]:
        cur = conn.cursor()
        try:
            if self.sqlite:
                cur.execute("BEGIN IMMEDIATE")  # the write lock first, as every writer here does
            cur.execute(self.sql, params)  # on PostgreSQL, in autocommit: its own transaction
            row = tuple(cur.fetchone())
            if self.sqlite:
                cur.execute("COMMIT")
            return row
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()


def scan_summary(scan: dict[str, Any], *, copy_threshold: int) -> dict[str, Any]:
    """The scan counter as the page shows it, with the suspected-copy flag."""
    first = scan["first_at"]
    return {"count": scan["count"], "first_at": rfc3339_seconds(first) if first else None,
            "clients_after_sale": scan["clients_after_sale"],
            "suspected_copy": scan["sold"] and scan["clients_after_sale"] >= copy_threshold}


def peek(engine: Engine, package_id: int) -> dict[str, Any] | None:
    """The scan counter as it stands, counting nothing (a language switch is not a scan)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(PackageScan.count, PackageScan.first_at, PackageScan.clients_after_sale, Package.status)
            .join(Package, Package.id == PackageScan.package_id).where(PackageScan.package_id == package_id)
        ).one_or_none()
    if row is None:
        return None
    return {"count": int(row[0]), "first_at": _aware(row[1]), "clients_after_sale": int(row[2]), "sold": row[3] == "sold"}
