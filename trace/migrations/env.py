"""Alembic environment: migrates the URL (or open connection) handed in by the caller."""
from alembic import context

from trace.db import Base, make_engine
from trace.domain import batches, catalogue, parties  # noqa: F401 - register the tables
from trace.ledger import models  # noqa: F401

config = context.config


def _run(connection, sqlite: bool) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    # A caller's connection, e.g. the in-memory database that `verify` replays the log into.
    _run(connection, connection.dialect.name == "sqlite")
else:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn, url.startswith("sqlite"))
    engine.dispose()
