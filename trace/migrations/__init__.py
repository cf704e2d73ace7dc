"""Alembic migrations of the schema, shipped inside the package."""
from __future__ import annotations

import os
from typing import Any


def script_location() -> str:
    """The folder holding env.py and versions/."""
    return os.path.dirname(os.path.abspath(__file__))


def upgrade(*, database_url: str | None = None, connection: Any = None) -> None:
    """Migrate a database, given by URL or as an open SQLAlchemy connection, to the latest revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    cfg.attributes["database_url"] = database_url
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def head() -> str:
    """The latest revision the code knows."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def current(connection: Any) -> str | None:
    """The revision a database is at (None: not migrated at all)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
