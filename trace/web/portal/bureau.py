"""The bureau's desk: trace back and forward (page, JSON, CSV), starting a recall from the
forward view, worklists and search, anomaly lists with their charts, consumer cases, exports,
cold-storage ranges and the bureau's own logins. Every view calls one domain function, which
decides whether the actor may see or do it (regulators; administrators for what is not private)."""
from __future__ import annotations

import io
import json
import tempfile
from datetime import datetime
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from trace.clock import CHINA
from trace.domain import accounts, cases
from trace.domain.errors import DomainError
from trace.domain.exports import epcis, sheet
from trace.domain.exports.select import ExportFilter
from trace.domain.inputs import KG
from trace.domain.inputs.batches import LEVEL_NAMES
from trace.domain.messages import N_
from trace.domain.queries import anomalies, worklists
from trace.domain.queries import portal as queries
from trace.domain.queries import recalls as recall_queries
from trace.domain.queries import trace as tracing
from trace.web import auth, charts
from trace.web.forms import by_field, namer
from trace.web.portal.base import actor, bp, engine, refused, trace

CASE_KINDS = cases.KIND_NAMES
CASE_STATUSES = cases.STATUS_NAMES
CASE_ACTIONS = {"received": N_("received"), "assigned": N_("assigned"), "answered": N_("answered"), "closed": N_("closed")}


@bp.app_template_filter("bj")
def beijing(t: datetime | None) -> str:
    """An aware time as Beijing time to the minute."""
    return t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if t else ""


def _fmt() -> str:
    f = request.args.get("format", "html")
    return f if f in ("html", "json", "csv") else "html"


def _csv(body: str, name: str) -> Response:
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                        "Cache-Control": "private, no-store"})


def _json(data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, indent=1), mimetype="application/json",
                    headers={"Cache-Control": "private, no-store"})


def _thresholds() -> anomalies.Thresholds:
    c = current_app.config
    return anomalies.Thresholds(int(c.get("TRACE_NEAR_CEILING_PERMILLE", 900)), int(c.get("TRACE_COPY_CLIENTS", 5)),
                                int(c.get("TRACE_CUSTODY_GAP_HOURS", 72)), int(c.get("TRACE_LATE_HOURS", 72)))


@bp.get("/bureau/")
def bureau_desk() -> ResponseReturnValue:
    """The bureau's desk: what waits, and where to look."""
    try:
        counts = worklists.counts(engine(), actor())
        active = recall_queries.recalls(engine(), actor(), active_only=True, limit=20)
        open_cases = cases.list_cases(engine(), actor(), status="active", limit=20)
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/bureau/desk.html", counts=counts, active=active, open_cases=open_cases,
                           kinds=anomalies.KINDS, names=anomalies.NAMES)


# -- trace back and forward --------------------------------------------------------------------------


@bp.get("/bureau/trace/back")
def trace_back() -> ResponseReturnValue:
    """Back from a package or lot code to the plots, growers, inspections and hands."""
    code = request.args.get("code", "")
    found = error = None
    if code.strip():
        try:
            found = tracing.trace_back(engine(), actor(), code)
        except DomainError as exc:
            if exc.status == 403:
                return refused(exc)
            error = auth.message(exc)
    if found is not None and _fmt() == "json":
        return _json(found.as_json())
    if found is not None and _fmt() == "csv":
        return _csv(tracing.back_csv(found), f"trace-back-{found.lot}.csv")
    return render_template("portal/bureau/back.html", code=code[:200], found=found, error=error), (400 if error else 200)


@bp.get("/bureau/trace/forward")
def trace_forward() -> ResponseReturnValue:
    """Forward from a batch to every batch and package made from it, and who holds each."""
    lot = request.args.get("lot", "")
    found = error = None
    if lot.strip():
        try:
            found = tracing.trace_forward(engine(), actor(), lot, with_packages=_fmt() != "html" or bool(request.args.get("packages")))
        except DomainError as exc:
            if exc.status == 403:
                return refused(exc)
            error = auth.message(exc)
    if found is not None and _fmt() == "json":
        return _json(found.as_json())
    if found is not None and _fmt() == "csv":
        return _csv(tracing.forward_csv(found), f"trace-forward-{found.lot}.csv")
    return render_template("portal/bureau/forward.html", lot=lot[:200], found=found, error=error, errors={}, values={},
                           levels=LEVEL_NAMES), (400 if error else 200)


RECALL = {"batch": "batch", "level": "level", "reason": "reason", "occurred_at": "occurred_at"}


@bp.post("/bureau/trace/forward/recall")
def trace_recall() -> ResponseReturnValue:
    """Start a recall of the traced batch: it reaches everything downstream at once."""
    data = {k: request.form.get(v, "") for k, v in RECALL.items()}
    try:
        result = trace().run("recall", actor(), data, unit=KG, names=namer(RECALL))
    except DomainError as exc:
        if exc.status in (403, 404):
            return refused(exc)
        lot = request.form.get("lot", "")
        try:
            found = tracing.trace_forward(engine(), actor(), lot, with_packages=False)
        except DomainError:
            found = None
        return render_template("portal/bureau/forward.html", lot=lot, found=found, error=None,
                               errors=by_field(exc, auth.lang(), RECALL), values=request.form, levels=LEVEL_NAMES), exc.status
    flash(_("Recall recorded: it reaches %(n)s batches.", n=len(result.event.affected)), "success")  # type: ignore[attr-defined]
    return redirect(url_for(".recall_progress", entry=result.entry))


# -- worklists, search ---------------------------------------------------------------------------------


def _filters() -> worklists.Filters:
    return worklists.Filters.parse(request.args)


@bp.get("/bureau/worklists/<name>")
def worklist(name: str) -> ResponseReturnValue:
    """A worklist: never inspected, failed, in transit too long."""
    try:
        f = _filters()
        listing = worklists.worklist(engine(), actor(), name, f)
        choices = worklists.choices(engine(), actor())
    except DomainError as exc:
        return refused(exc, 404 if exc.code == "worklist.filter" and exc.field == "list" else None)
    return render_template("portal/bureau/list.html", listing=listing, filters=f, choices=choices, q=None)


@bp.get("/bureau/search")
def bureau_search() -> ResponseReturnValue:
    """Batches by any part of a name, a party, a village or a lot."""
    q = request.args.get("q", "")
    try:
        f = _filters()
        choices = worklists.choices(engine(), actor())
        listing = worklists.search(engine(), actor(), q, f) if q.strip() else None
    except DomainError as exc:
        if exc.status == 403:
            return refused(exc)
        return render_template("portal/bureau/list.html", listing=None, filters=worklists.Filters(), choices={},
                               q=q[:100], error=auth.message(exc)), exc.status
    return render_template("portal/bureau/list.html", listing=listing, filters=f, choices=choices, q=q[:100])


# -- anomalies -------------------------------------------------------------------------------------------


@bp.get("/bureau/anomalies/<kind>")
def anomaly(kind: str) -> ResponseReturnValue:
    """One anomaly list with its weekly chart."""
    try:
        rep = anomalies.report(engine(), actor(), kind, _thresholds())
    except DomainError as exc:
        return refused(exc, 404 if exc.code == "anomaly.unknown" else None)
    chart = charts.bars(rep.weekly, _(anomalies.NAMES[kind]))
    ranges = anomalies.ranges(engine()) if kind == "cold" else {}
    return render_template("portal/bureau/anomaly.html", rep=rep, chart=chart, kinds=anomalies.KINDS,
                           names=anomalies.NAMES, ranges=ranges,
                           products=queries.products(engine()) if kind == "cold" else [])


@bp.post("/bureau/ranges")
def storage_range() -> ResponseReturnValue:
    """Set a product's cold-storage range (a threshold of the anomaly list)."""
    try:
        anomalies.set_range(engine(), actor(), request.form.get("product", ""), request.form.get("low"),
                            request.form.get("high"))
    except DomainError as exc:
        return refused(exc)
    flash(_("Cold-storage range recorded."), "success")
    return redirect(url_for(".anomaly", kind="cold"))


# -- consumer cases ----------------------------------------------------------------------------------------


@bp.get("/bureau/cases")
def case_list() -> ResponseReturnValue:
    """Consumer cases, newest first (filter by status or package)."""
    pid = request.args.get("package", "")
    try:
        rows = cases.list_cases(engine(), actor(), status=request.args.get("status") or None,
                                package_id=int(pid) if pid.isdigit() and len(pid) < 10 else None)
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/bureau/cases.html", rows=rows, kinds=CASE_KINDS, statuses=CASE_STATUSES,
                           status=request.args.get("status", ""))


@bp.route("/bureau/cases/<int:case_id>", methods=["GET", "POST"])
def case(case_id: int) -> ResponseReturnValue:
    """One case: assign it, answer it, close it."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("do") == "assign":
                cases.assign(engine(), actor(), case_id, request.form.get("assignee"))
            else:
                cases.answer(engine(), actor(), case_id, request.form.get("answer"), close=request.form.get("do") == "close")
        except DomainError as exc:
            if exc.status in (403, 404):
                return refused(exc)
            errors, status = by_field(exc, auth.lang()), exc.status
        else:
            flash(_("Case %(id)s updated.", id=case_id), "success")
            return redirect(url_for(".case", case_id=case_id))
    try:
        row, steps = cases.get(engine(), actor(), case_id)
        logins = cases.bureau_logins(engine(), actor())
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/bureau/case.html", row=row, steps=steps, logins=logins, kinds=CASE_KINDS,
                           statuses=CASE_STATUSES, actions=CASE_ACTIONS, errors=errors, values=request.form), status


@bp.get("/bureau/cases/<int:case_id>/photo.jpg")
def case_photo(case_id: int) -> ResponseReturnValue:
    """A case's photo (re-encoded, without metadata), for the bureau's eyes only."""
    try:
        data = cases.photo(engine(), actor(), case_id)
    except DomainError as exc:
        return refused(exc)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, no-store"})


# -- exports ------------------------------------------------------------------------------------------------


@bp.get("/bureau/export")
def export() -> ResponseReturnValue:
    """EPCIS 2.0 JSON-LD or the CTE spreadsheet for a lot, party, product or date range."""
    kind = request.args.get("kind")
    if kind not in ("epcis", "csv"):
        return render_template("portal/bureau/export.html", choices=_export_choices())
    raw = tempfile.TemporaryFile()  # a big export does not belong in memory
    try:
        f = ExportFilter.parse(request.args)
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
        if kind == "epcis":
            epcis.write(out, engine(), actor(), f, current_app.config["TRACE_PUBLIC_URL"])
        else:
            sheet.write(out, engine(), actor(), f)
        out.detach()
    except DomainError as exc:
        raw.close()
        return refused(exc)
    except BaseException:
        raw.close()
        raise
    raw.seek(0)
    name = "trace-epcis.jsonld" if kind == "epcis" else "trace-cte.csv"
    resp = send_file(raw, mimetype="application/ld+json" if kind == "epcis" else "text/csv", as_attachment=True,
                     download_name=name)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _export_choices() -> dict[str, Any]:
    try:
        return worklists.choices(engine(), actor())
    except DomainError:
        return {}


# -- the bureau's logins -------------------------------------------------------------------------------------


@bp.route("/bureau/logins", methods=["GET", "POST"])
def bureau_logins() -> ResponseReturnValue:
    """The bureau makes and resets its own logins (an administrator may not)."""
    a = actor()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("form") == "reset":
                acc = accounts.reset_password(engine(), a, username=request.form.get("username"), new=request.form.get("new"))
                flash(_("New password set for %(user)s; any lock is lifted.", user=acc.username), "success")
            else:
                acc = accounts.create_user(trace(), a, party_id=a.party_id, username=request.form.get("username"),
                                           password=request.form.get("password"))
                flash(_("User %(user)s created.", user=acc.username), "success")
        except DomainError as exc:
            if exc.status == 403:
                return refused(exc)
            errors, status = by_field(exc, auth.lang()), exc.status
        else:
            return redirect(url_for(".bureau_logins"))
    try:
        logins = cases.bureau_logins(engine(), a)
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/bureau/logins.html", logins=logins, errors=errors, values=request.form), status
