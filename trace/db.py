"""Database plumbing shared by the ledger and the domain: one declarative base, engines, sessions."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

# Stable constraint names, so that Alembic migrations name things the same on every engine.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)


WRITE = "trace_write"


def make_engine(url: str) -> Engine:
    """Create an engine; on SQLite, WAL mode, a busy timeout and BEGIN IMMEDIATE for writers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # Take transaction control away from the driver so that we can say BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Writers take SQLite's write lock up front: that is the log's write lock.
            if conn.get_execution_options().get(WRITE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def make_scan_engine(engine: Engine) -> tuple[Engine, str | None]:
    """Connections of their own for the scan counter (see trace.domain.scans.ScanCounter), and
    the file its writers queue on across processes (SQLite; None elsewhere or in memory).

    On SQLite they run with synchronous=NORMAL: in WAL mode a commit then costs microseconds
    instead of an fsync. On PostgreSQL they run in autocommit with synchronous_commit off. A crash
    can lose the last few scans, never corrupt anything or touch the log, whose writers keep
    synchronous commits on their own connections."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return engine, None
    scans = make_engine(url)
    event.listen(scans, "connect", _normal_sync if engine.dialect.name == "sqlite" else _autocommit_async)
    event.listen(engine, "engine_disposed", lambda _e: scans.dispose())  # its connections go when the app's do
    lock = engine.url.database + "-scans.lock" if engine.dialect.name == "sqlite" else None
    return scans, lock


def _normal_sync(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _autocommit_async(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.autocommit = True
    cur = dbapi_conn.cursor()
    cur.execute("SET synchronous_commit TO OFF")
    cur.close()


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the database write lock from its first statement.

    Commits on success, rolls everything back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only session; closing it ends the transaction, loaded objects stay readable."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
