"""`flask --app trace divisions load`: log the division list shipped with the code (run from the
project root). Everything else of the field end goes through `flask --app trace do`."""
from __future__ import annotations

import click
from flask import Flask

from trace import services
from trace.domain.actors import SYSTEM
from trace.domain.errors import DomainError
from trace.domain.limits import MAX_DIVISIONS
from trace.domain.queries.field import DIVISIONS_FILE, shipped_divisions


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.group("divisions")
    def divisions() -> None:
        """Administrative divisions (12-digit codes with names)."""

    @divisions.command("load")
    @click.option("--file", "path", default=DIVISIONS_FILE, show_default=True, type=click.Path(exists=True, dir_okay=False),
                  help="A CSV of code,name (lines starting with # are notes).")
    def load_cmd(path: str) -> None:
        """Record the divisions of a file in the log (as the operator), parents before children."""
        rows = shipped_divisions(path)
        tr = services.get().trace
        try:
            for i in range(0, len(rows), MAX_DIVISIONS):
                tr.run("division.define", SYSTEM, {"divisions": rows[i:i + MAX_DIVISIONS]})
        except DomainError as exc:
            raise click.ClickException(exc.en) from None
        click.echo(f"{len(rows)} divisions recorded from {path}")
