"""`flask --app trace ...`: the commands of the operator and of scripts (run from the project root)."""
from __future__ import annotations

from flask import Flask

from trace.cli import accounts, audit, core, do, export, field, labels, trace_cmd, witness
from trace.cli.core import init_database, migrate, verify_all

__all__ = ["init_app", "init_database", "migrate", "verify_all"]


def init_app(app: Flask) -> None:
    """Register every command."""
    core.init_app(app)
    do.init_app(app)
    accounts.init_app(app)
    labels.init_app(app)
    witness.init_app(app)
    audit.init_app(app)
    app.cli.add_command(trace_cmd.trace_cli)
    app.cli.add_command(export.export_cli)
    field.init_app(app)
