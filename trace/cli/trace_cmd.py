"""`flask --app trace trace back CODE` and `flask --app trace trace forward LOT`: trace a package
or a lot back to its plots and every hand on the way, or a batch forward to every batch and
package made from it; both print JSON. `trace index` catches up the anomaly lists' indexes."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from trace import services
from trace.domain.actors import SYSTEM
from trace.domain.errors import DomainError
from trace.domain.queries import anomalies
from trace.domain.queries import trace as tracing

trace_cli = AppGroup("trace", help="Trace a package or lot back, or a batch forward (JSON).")


def _fail(exc: DomainError) -> None:
    click.echo(json.dumps({"error": exc.as_dict("en")}, ensure_ascii=False, indent=2))
    sys.exit(2)


@trace_cli.command("back")
@click.argument("code")
def back(code: str) -> None:
    """From a package code (serial or URL) or a lot code to the plots, growers, harvests,
    inspections and every hand on the way."""
    try:
        found = tracing.trace_back(services.get().engine, SYSTEM, code)
    except DomainError as exc:
        _fail(exc)
    click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


@trace_cli.command("forward")
@click.argument("lot")
@click.option("--no-packages", is_flag=True, help="Batches and holders only, without one line per package.")
def forward(lot: str, no_packages: bool) -> None:
    """From a batch (by lot code) to every batch and package made from it, and who holds each."""
    try:
        found = tracing.trace_forward(services.get().engine, SYSTEM, lot, with_packages=not no_packages)
    except DomainError as exc:
        _fail(exc)
    click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


@trace_cli.command("index")
def index() -> None:
    """Catch up the indexes the anomaly lists derive from the log (late entries, temperatures)."""
    n = anomalies.refresh(services.get().engine)
    click.echo(f"read {n} log entries")
