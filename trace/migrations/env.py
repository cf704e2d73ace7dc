"""Alembic environment: runs migrations against the URL handed in by `flask --app trace init`."""
from alembic import context

from trace.db import Base, make_engine
from trace.domain import batches, catalogue, parties  # noqa: F401 - register the tables
from trace.ledger import models  # noqa: F401

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
