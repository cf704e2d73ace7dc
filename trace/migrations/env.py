"""Alembic environment: migrates the URL (or open connection) handed in by the caller."""
from alembic import context

from trace.db import Base, make_engine
from trace.domain.tables import batches, cases, catalogue, derived, field, operations, parties  # noqa: F401 - register the tables
from trace.ledger import models  # noqa: F401

config = context.config


def _run(connection, sqlite: bool) -> None:  # type: ignore[no-untyped-def]
    raw = connection.connection.driver_connection if sqlite else None
    if raw is not None:
        # SQLite alters a table by copying it; with foreign keys on, dropping the old copy of a
        # table that others reference fails. The pragma only works outside a transaction.
        raw.execute("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()
    if raw is not None:
        bad = raw.execute("PRAGMA foreign_key_check").fetchall()
        raw.execute("PRAGMA foreign_keys=ON")
        if bad:
            raise RuntimeError(f"the migration left rows that break foreign keys: {bad[:5]}")


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection, connection.dialect.name == "sqlite")
else:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn, url.startswith("sqlite"))
        conn.commit()
    engine.dispose()
