"""The desk: what my party holds, what waits for me, recent events, recalls; and search."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from trace.domain.errors import DomainError
from trace.domain.queries import portal as queries
from trace.domain.queries import recalls as recall_queries
from trace.web import auth
from trace.web.portal.base import actor, bp, engine


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    """What my party holds, what waits for me, what happened recently, and recalls."""
    board = queries.dashboard(engine(), actor())
    tasks = recall_queries.tasks_for(engine(), actor(), open_only=True)  # recalled stock it must act on
    return render_template("portal/dashboard.html", board=board, account=current_user.account, recall_tasks=tasks)


@bp.get("/search")
def search() -> ResponseReturnValue:
    """Find a batch by lot code or package code (serial, short serial or scanned URL)."""
    q = request.args.get("q", "")
    hits: list[queries.SearchHit] = []
    error = None
    if q.strip():
        try:
            hits = queries.search(engine(), actor(), q)
        except DomainError as exc:
            error = auth.message(exc)
        if len(hits) == 1:
            hit = hits[0]
            return redirect(url_for(".batch", batch_id=hit.batch.id, package=hit.package_id) if hit.package_id
                            else url_for(".batch", batch_id=hit.batch.id))
    return render_template("portal/search.html", q=q[:300], hits=hits, error=error), (400 if error else 200)
