"""`flask --app trace packages` and `labels`: the package URLs other tools print, and the labels
and certificate of conformity of a lot as PNG and print-ready PDF (run from the project root)."""
from __future__ import annotations

import os
import sys
import time

import click
from flask import Flask, current_app

from trace import services
from trace.db import read_session
from trace.domain.errors import DomainError
from trace.domain.queries.labels import certificate_info, find_batch, iter_packages, label_infos
from trace.labels import (
    certificate_png,
    label_png,
    write_certificate_pdf,
    write_label_pdf,
    write_label_sheets_pdf,
)


def _atomic_write(path: str, write) -> int:  # type: ignore[no-untyped-def]
    """Write a file through a temporary name, so that a failed run leaves no half a PDF."""
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        result = write(f)
    os.replace(tmp, path)
    return result


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.command("packages")
    @click.option("--lot", help="Only the packages of this lot code.")
    @click.option("--limit", type=click.IntRange(min=1), help="At most this many packages.")
    def packages_cmd(lot: str | None, limit: int | None) -> None:
        """Print one line per package: its URL (the QR code's content), a tab, its lot code."""
        base = current_app.config["TRACE_PUBLIC_URL"]
        svc = services.get()
        with read_session(svc.engine) as s:
            if lot is not None:
                try:
                    find_batch(s, lot)
                except DomainError as exc:
                    raise click.ClickException(exc.en) from None
            out = sys.stdout
            for line in iter_packages(s, base, lot, limit):
                out.write(f"{line.url}\t{line.lot}\n")

    @app.cli.command("labels")
    @click.option("--lot", required=True, help="The lot code whose packages get labels.")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write into (created if missing).")
    @click.option("--cols", default=3, show_default=True, type=click.IntRange(1, 10), help="Labels across an A4 sheet.")
    @click.option("--rows", default=8, show_default=True, type=click.IntRange(1, 20), help="Labels down an A4 sheet.")
    @click.option("--dpi", default=300, show_default=True, type=click.IntRange(150, 1200), help="Print resolution.")
    def labels_cmd(lot: str, out_dir: str, cols: int, rows: int, dpi: int) -> None:
        """Write one PNG label per package of LOT, the A4 label sheets and the 60 x 40 mm thermal
        labels as PDF, and the lot's certificate of conformity (承诺达标合格证) as PNG and PDF."""
        base = current_app.config["TRACE_PUBLIC_URL"]
        svc = services.get()
        t0 = time.perf_counter()
        with read_session(svc.engine) as s:
            try:
                infos = label_infos(s, base, lot)
                cert = certificate_info(s, base, lot)
            except DomainError as exc:
                raise click.ClickException(exc.en) from None
        if not infos:
            raise click.ClickException(f"lot {lot} has no packages yet: pack it first")
        os.makedirs(out_dir, exist_ok=True)
        width = len(str(len(infos)))
        for n, info in enumerate(infos, 1):
            path = os.path.join(out_dir, f"{lot}_{n:0{width}d}.png")
            _atomic_write(path, lambda f, info=info: f.write(label_png(info, dpi=dpi)))
        sheets = os.path.join(out_dir, f"{lot}_labels_A4_{cols}x{rows}.pdf")
        pages = _atomic_write(sheets, lambda f: write_label_sheets_pdf(iter(infos), f, cols=cols, rows=rows, dpi=dpi))
        thermal = os.path.join(out_dir, f"{lot}_labels_60x40mm.pdf")
        _atomic_write(thermal, lambda f: write_label_pdf(iter(infos), f, dpi=dpi))
        cert_png = os.path.join(out_dir, f"{lot}_certificate.png")
        _atomic_write(cert_png, lambda f: f.write(certificate_png(cert, dpi=dpi)))
        cert_pdf = os.path.join(out_dir, f"{lot}_certificate.pdf")
        _atomic_write(cert_pdf, lambda f: write_certificate_pdf([cert], f, dpi=dpi))
        click.echo(f"{len(infos)} labels of lot {lot} in {out_dir} ({time.perf_counter() - t0:.1f} s):")
        click.echo(f"  {lot}_{1:0{width}d}.png ... {lot}_{len(infos):0{width}d}.png")
        click.echo(f"  {os.path.basename(sheets)} ({pages} A4 pages of {cols} x {rows})")
        click.echo(f"  {os.path.basename(thermal)} ({len(infos)} pages, thermal printer)")
        click.echo(f"  {os.path.basename(cert_png)}, {os.path.basename(cert_pdf)} (承诺达标合格证)")
