"""Recalls on the portal: the bureau's list and progress pages with the completion report (to
print, or as CSV), and the form on a holder's desk where it records what it did with recalled
stock (taken off sale, returned, destroyed, with counts)."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from trace.domain.errors import DomainError
from trace.domain.inputs import KG
from trace.domain.inputs.batches import ACTION_NAMES, LEVEL_NAMES
from trace.domain.queries import recalls as queries
from trace.web import auth
from trace.web.forms import by_field, namer, take
from trace.web.portal.base import actor, bp, engine, refused, trace

ACTION = {"action": "action", "packages": "packages", "loose_g": "loose_kg", "note": "note", "occurred_at": "occurred_at"}


@bp.get("/recalls")
def recall_list() -> ResponseReturnValue:
    """Every recall with its progress (the bureau)."""
    try:
        rows = queries.recalls(engine(), actor(), active_only=request.args.get("active") == "1")
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/bureau/recalls.html", rows=rows, levels=LEVEL_NAMES, now=datetime.now(UTC),
                           active=request.args.get("active") == "1")


@bp.get("/recalls/<int:entry>")
def recall_progress(entry: int) -> ResponseReturnValue:
    """A recall's progress per holder, deadlines and time left; ?format=csv: the report."""
    try:
        p = queries.progress(engine(), actor(), entry)
    except DomainError as exc:
        return refused(exc)
    now = datetime.now(UTC)
    if request.args.get("format") == "csv":
        return Response(queries.report_csv(p, now), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="recall-{entry}-report.csv"', "Cache-Control": "private, no-store"})
    template = "portal/bureau/recall_report.html" if request.args.get("view") == "report" else "portal/bureau/recall.html"
    return render_template(template, p=p, levels=LEVEL_NAMES, now=now, left=p.time_left(now))


@bp.post("/recalls/<int:entry>/batch/<int:batch_id>/action")
def recall_action(entry: int, batch_id: int) -> ResponseReturnValue:
    """A holder records what it did with recalled stock of one of its batches."""
    data = {"recall": entry, "batch": batch_id, **take(request.form, ACTION)}
    try:
        trace().run("recall.action", actor(), data, unit=KG, names=namer(ACTION))
    except DomainError as exc:
        if exc.status in (403, 404):
            return refused(exc)
        for msg in by_field(exc, auth.lang(), ACTION).values():
            flash(msg, "error")
        return redirect(url_for(".dashboard", _anchor=f"task-{entry}-{batch_id}")), 303
    flash(_("Recorded: %(what)s.", what=_(ACTION_NAMES.get(str(request.form.get("action")), "")) or "-"), "success")
    return redirect(url_for(".dashboard", _anchor="recall-tasks"))
