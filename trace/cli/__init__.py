"""`flask --app trace ...`: the commands of the operator and of scripts (run from the project root)."""
from __future__ import annotations

from flask import Flask

from trace.cli import accounts, core, do, field, labels
from trace.cli.core import init_database, migrate, verify_all

__all__ = ["init_app", "init_database", "migrate", "verify_all"]


def init_app(app: Flask) -> None:
    """Register every command."""
    core.init_app(app)
    do.init_app(app)
    accounts.init_app(app)
    labels.init_app(app)
    field.init_app(app)
