"""Labels: the packages of one pack event with their codes, as PDF sheets and PNGs, for the party
that packed them (a serial is what a counterfeiter would need)."""
from __future__ import annotations

import tempfile
import zipfile
from datetime import datetime

from flask import Response, abort, current_app, render_template, request, send_file
from flask.typing import ResponseReturnValue

from trace import labels
from trace.clock import CHINA
from trace.domain.errors import DomainError
from trace.domain.identifiers import package_url as make_url
from trace.domain.limits import MAX_ID
from trace.domain.queries import portal as queries
from trace.web.portal.base import actor, bp, engine, refused

# Serials are secrets: pages and files that carry them stay out of every cache.
NO_STORE = {"Cache-Control": "private, no-store"}


def package_url(gtin: str | None, lot: str, serial: str) -> str:
    """The URL in a package's QR code (GS1 Digital Link with a GTIN, else /p/{serial})."""
    return make_url(current_app.config["TRACE_PUBLIC_URL"], serial, gtin, lot)


def _label_infos(rows: list[queries.LabelData]) -> list[labels.LabelInfo]:
    out = []
    for r in rows:
        packed = datetime.fromisoformat(r.packed_at.replace("Z", "+00:00")).astimezone(CHINA).date()
        out.append(labels.LabelInfo(url=package_url(r.gtin, r.lot_code, r.serial), product_zh=r.product_zh,
                                    product_en=r.product_en, lot_code=r.lot_code, net_weight_g=r.net_g,
                                    packed_on=packed, packer=r.packer_name, serial=r.serial,
                                    gi_logo_uscc=r.packer_uscc if r.packer_gi_logo else None, origin=r.origin,
                                    grade=r.grade, shelf_life=r.shelf_life, gi_badge=r.packer_gi_logo))
    return out


def _labels_or_refuse(batch_id: int, **kw: object) -> list[queries.LabelData] | ResponseReturnValue:
    try:
        return queries.label_data(engine(), actor(), batch_id, **kw)
    except DomainError as exc:
        return refused(exc)


@bp.get("/batch/<int:batch_id>/labels")
def label_list(batch_id: int) -> ResponseReturnValue:
    """The packages of one pack event with their codes, for the party that packed them."""
    rows = _labels_or_refuse(batch_id, pack_entry=request.args.get("entry", ""))
    if not isinstance(rows, list):
        return rows
    page = render_template("portal/labels.html", batch_id=batch_id, entry=request.args.get("entry"), rows=rows,
                           urls={r.package_id: package_url(r.gtin, r.lot_code, r.serial) for r in rows})
    return page, 200, NO_STORE


@bp.get("/batch/<int:batch_id>/labels.pdf")
def labels_pdf(batch_id: int) -> ResponseReturnValue:
    """Labels of one pack event as a PDF: A4 sheets of 3 x 8, or one 60 x 40 mm label per page."""
    rows = _labels_or_refuse(batch_id, pack_entry=request.args.get("entry", ""))
    if not isinstance(rows, list):
        return rows
    layout = "roll" if request.args.get("layout") == "roll" else "sheet"
    out = tempfile.TemporaryFile()  # thousands of labels do not belong in memory
    if layout == "roll":
        labels.write_label_pdf(_label_infos(rows), out)
    else:
        labels.write_label_sheets_pdf(_label_infos(rows), out)
    out.seek(0)
    name = f"labels-{rows[0].lot_code}-{request.args.get('entry')}-{layout}.pdf"
    resp = send_file(out, mimetype="application/pdf", as_attachment=True, download_name=name)
    resp.headers.update(NO_STORE)
    return resp


@bp.get("/batch/<int:batch_id>/labels.zip")
def labels_zip(batch_id: int) -> ResponseReturnValue:
    """Every label of one pack event as PNG files (300 dpi, 60 x 40 mm) in one archive."""
    rows = _labels_or_refuse(batch_id, pack_entry=request.args.get("entry", ""))
    if not isinstance(rows, list):
        return rows
    out = tempfile.TemporaryFile()
    width = len(str(len(rows)))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:  # PNGs are compressed already
        for n, info in enumerate(_label_infos(rows), 1):
            z.writestr(f"{info.lot_code}_{n:0{width}d}.png", labels.label_png(info))
    out.seek(0)
    resp = send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"labels-{rows[0].lot_code}-{request.args.get('entry')}.zip")
    resp.headers.update(NO_STORE)
    return resp


@bp.get("/batch/<int:batch_id>/certificate.<fmt>")
def certificate(batch_id: int, fmt: str) -> ResponseReturnValue:
    """The lot's 承诺达标合格证 (certificate of conformity) as PDF or PNG, for its issuer."""
    if fmt not in ("pdf", "png"):
        abort(404)
    try:
        info = queries.certificate(engine(), actor(), batch_id, current_app.config["TRACE_PUBLIC_URL"])
    except DomainError as exc:
        return refused(exc)
    name = f"certificate-{info.lot_code}.{fmt}"
    if fmt == "png":
        return Response(labels.certificate_png(info), mimetype="image/png",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    out = tempfile.TemporaryFile()
    labels.write_certificate_pdf([info], out)
    out.seek(0)
    return send_file(out, mimetype="application/pdf", as_attachment=True, download_name=name)


@bp.get("/batch/<int:batch_id>/labels/<int:package_id>.png")
def label_png(batch_id: int, package_id: int) -> ResponseReturnValue:
    """One package's label as a PNG (300 dpi, 60 x 40 mm)."""
    if package_id > MAX_ID:
        abort(404)
    rows = _labels_or_refuse(batch_id, package_id=package_id)
    if not isinstance(rows, list):
        return rows
    png = labels.label_png(_label_infos(rows)[0])
    return Response(png, mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="label-{rows[0].lot_code}-{package_id}.png"', **NO_STORE})
