"""`flask --app trace export epcis|csv [--lot LOT] [--party ID] [--product ID] [--since DATE]
[--until DATE] --out FILE`: the log's events as GS1 EPCIS 2.0 JSON-LD, or as the spreadsheet of
critical tracking events regulators ask for (CSV, UTF-8 with BOM). Streams: steady memory."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from trace import services
from trace.domain.actors import SYSTEM
from trace.domain.errors import DomainError
from trace.domain.exports import epcis, sheet
from trace.domain.exports.select import ExportFilter

export_cli = AppGroup("export", help="Export events: EPCIS 2.0 JSON-LD or the CTE spreadsheet (CSV).")


def _filters(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--lot", default=None, help="Events of one lot (its own history)."),
        click.option("--party", default=None, help="Events recorded by one party (its id)."),
        click.option("--product", default=None, help="Events of one product's batches (its id)."),
        click.option("--since", default=None, help="From this Beijing date (YYYY-MM-DD)."),
        click.option("--until", default=None, help="Up to and including this Beijing date."),
        click.option("--out", "out", required=True, help="The file to write ('-': standard output)."),
    ]):
        fn = opt(fn)
    return fn


def _run(kind: str, out: str, **args: Any) -> None:
    try:
        f = ExportFilter.parse(args)
        svc = services.get()
        stream = sys.stdout if out == "-" else open(out, "w", encoding="utf-8", newline="")  # noqa: SIM115
        try:
            if kind == "epcis":
                n = epcis.write(stream, svc.engine, SYSTEM, f, current_app.config["TRACE_PUBLIC_URL"])
            else:
                n = sheet.write(stream, svc.engine, SYSTEM, f)
        finally:
            if stream is not sys.stdout:
                stream.close()
    except DomainError as exc:
        raise click.ClickException(f"{exc.en} / {exc.zh} [{exc.code}]") from None
    click.echo(f"{n} {'events' if kind == 'epcis' else 'rows'} written to {out}", err=True)


@export_cli.command("epcis")
@_filters
def export_epcis(out: str, **args: Any) -> None:
    """GS1 EPCIS 2.0 JSON-LD (an EPCISDocument)."""
    _run("epcis", out, **args)


@export_cli.command("csv")
@_filters
def export_csv(out: str, **args: Any) -> None:
    """One row per critical tracking event with its key data elements (CSV, UTF-8 with BOM)."""
    _run("csv", out, **args)
