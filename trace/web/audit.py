"""The bureau's audit page (/audit): checkpoint history, a consistency check between any two
checkpoints, witness status, alarms, and full verify runs started in the background. Who may see
it is decided in trace.domain.audit (regulators only); this module parses requests and renders.

It also turns a signer refusal, wherever a write hits one, into a clear 503 page."""
from __future__ import annotations

import threading

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from trace import services
from trace.domain import audit
from trace.domain.errors import DomainError
from trace.extensions import login_manager
from trace.ledger.store import SignerRefused

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _lang() -> str:
    return str(get_locale() or "zh")


@bp.before_request
def _login_required() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> ResponseReturnValue:
    return render_template("portal/refused.html", title=exc.message(_lang()), message=exc.message(_lang())), exc.status


@bp.app_errorhandler(SignerRefused)
def _signer_refused(exc: SignerRefused) -> ResponseReturnValue:
    """A write the signer refused: nothing was written, and every write stops until the log is restored."""
    current_app.logger.error("write refused by the signer: %s", exc)
    return render_template("audit/stopped.html", message=str(exc)), 503


@bp.get("")
def index() -> ResponseReturnValue:
    """The audit page."""
    svc = services.get()
    actor = current_user.account.actor
    before = request.args.get("before", "")
    data = audit.overview(svc.engine, svc.ledger, actor, before=int(before) if before.isdigit() and len(before) < 19 else None)
    pair = None
    if "old" in request.args or "new" in request.args:
        pair = audit.check_pair(svc.engine, svc.ledger, svc.signer.vkey, actor, request.args.get("old"), request.args.get("new"))
    running = any(r["state"] == "running" for r in data["runs"])
    resp = Response(render_template("audit/index.html", data=data, pair=pair, running=running,
                                    configured=[w.name for w in svc.witnesses]))
    if running:  # the page follows the run's progress without any script
        resp.headers["Refresh"] = "3"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/verify")
def verify() -> ResponseReturnValue:
    """Start a full verify in a background thread, never inside this request."""
    svc = services.get()
    account = current_user.account
    run_id = audit.start_verify(svc.engine, account.actor, account.username)
    thread = threading.Thread(target=audit.run_verify, args=(svc.engine, svc.ledger, svc.signer.vkey, run_id),
                              name=f"verify-run-{run_id}", daemon=True)
    thread.start()
    current_app.extensions.setdefault("trace_verify_threads", {})[run_id] = thread
    flash(_("The full verify has started in the background."), "info")
    return redirect(url_for("audit.index"), 303)
