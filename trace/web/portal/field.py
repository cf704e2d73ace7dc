"""The field end in the portal: a plot's farming records (pest control, fertilising, other
work) and certifications, a batch's certificate of conformity (issued on a true basis, as PDF
and PNG) and trace code, and the bureau's registers (divisions, pesticides, GI logo
authorisations, certifications, approvals of late entries) with its alerts.

Forms only map their fields onto the domain's inputs; the domain decides and refuses."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from trace import services
from trace.clock import CHINA
from trace.db import read_session
from trace.domain.errors import DomainError
from trace.domain.inputs import KG
from trace.domain.limits import MAX_ID
from trace.domain.messages import N_
from trace.domain.queries import field as queries
from trace.domain.queries import portal as portal_queries
from trace.web import auth
from trace.web.forms import by_field, namer, take
from trace.web.portal.base import SHOWN, actor, bp, engine, lang_arg, name, refused, trace

WORKS = {"prune": N_("pruning"), "irrigate": N_("irrigation"), "thin": N_("thinning"), "bag": N_("bagging"),
         "flower": N_("flowering"), "fruit_set": N_("fruit set"), "pest_seen": N_("pests seen"), "other": N_("other work")}
BASES = {"control": N_("quality and safety control"), "own_test": N_("own test"), "commissioned_test": N_("commissioned test")}
SCHEMES = {"green_food": N_("green food"), "organic": N_("organic product"), "gap": N_("GAP")}
ALERTS = {"banned": N_("banned pesticide used"), "off_label": N_("pesticide not registered for this crop"),
          "harvested_within_interval": N_("a harvest was made within the interval"),
          "certification_expired": N_("certification expired"), "certification_revoked": N_("certification revoked")}
GI_KINDS = {"agi": N_("agricultural product geographical indication"),
            "gi_product": N_("geographical indication protected product"),
            "gi_mark": N_("geographical indication certification mark")}
FORMS = {"organisation": N_("organisation (unified social credit code)"), "person": N_("natural person (identity card)")}

SPRAY = {"product": "product", "pesticide": "pesticide", "dose": "dose", "area_mu": "area_mu", "target": "target",
         "operator": "operator", "occurred_at": "occurred_at"}
FERTILISE = {"name": "name", "source": "source", "amount_g_per_mu": "amount_kg_per_mu", "area_mu": "area_mu",
             "occurred_at": "occurred_at"}
WORK = {"kind": "kind", "note": "note", "occurred_at": "occurred_at"}
CERTIFICATION = {"party": "party", "plot": "plot", "scheme": "scheme", "number": "number", "issuer": "issuer",
                 "scope": "scope", "valid_from": "valid_from", "valid_until": "valid_until"}
PESTICIDE = {"reg_no": "reg_no", "name": "name", "active_ingredient": "active_ingredient", "intervals": "intervals",
             "banned": "banned"}
AUTHORISE = {"party": "party", "product": "product", "announcement": "announcement", "valid_from": "valid_from",
             "valid_until": "valid_until"}
APPROVE = {"party": "party", "batch": "batch", "plot": "plot", "earliest": "earliest", "until": "until", "reason": "reason"}
PLOT_FORMS = {"spray": ("farm.spray", SPRAY, N_("Pest control recorded.")),
              "fertilise": ("farm.fertilise", FERTILISE, N_("Fertilising recorded.")),
              "work": ("farm.work", WORK, N_("Work recorded.")),
              "certification": ("certification.add", CERTIFICATION, N_("Certification recorded."))}
REGISTER_FORMS = {"pesticide": ("pesticide.define", PESTICIDE, N_("Pesticide recorded.")),
                  "authorise": ("gi.authorise", AUTHORISE, N_("Authorisation to use the GI logo recorded.")),
                  "certification": ("certification.add", CERTIFICATION, N_("Certification recorded.")),
                  "approve": ("late.approve", APPROVE, N_("Late entries approved.")),
                  "revoke_gi": ("gi.revoke", {"authorisation": "authorisation", "reason": "reason"}, N_("Authorisation ended.")),
                  "revoke_certification": ("certification.revoke", {"id": "id", "reason": "reason"},
                                           N_("Certification marked revoked.")),
                  "divisions": ("division.define", {"divisions": "divisions"}, N_("Divisions recorded."))}
SHOWN.update({
    "spray": tuple(SPRAY.values()), "fertilise": tuple(FERTILISE.values()), "work": tuple(WORK.values()),
    "certification": tuple(CERTIFICATION.values()), "pesticide": tuple(PESTICIDE.values()),
    "authorise": tuple(AUTHORISE.values()), "approve": tuple(APPROVE.values()), "revoke_gi": ("authorisation", "reason"),
    "revoke_certification": ("id", "reason"), "divisions": ("divisions",), "certificate": ("basis", "occurred_at"),
    "trace_code": ("code",), "party_code": ("code",),
})


@bp.app_context_processor
def _field_helpers() -> dict[str, Any]:
    return {"demo_data": _demo_data, "work_name": lambda c: name(WORKS, c), "basis_name": lambda c: name(BASES, c),
            "scheme_name": lambda c: name(SCHEMES, c), "alert_name": lambda c: name(ALERTS, c),
            "certificate_panel": lambda batch_id: queries.certificate_panel(engine(), actor(), batch_id),
            "party_form_options": lambda: [(k, name(FORMS, k)) for k in FORMS],
            "work_options": lambda: [(k, name(WORKS, k)) for k in WORKS],
            "basis_options": lambda bases: [(b, name(BASES, b)) for b in bases],
            "scheme_options": lambda: [(k, name(SCHEMES, k)) for k in SCHEMES],
            "gi_kind_options": lambda: [(k, name(GI_KINDS, k)) for k in GI_KINDS],
            "identities": lambda rows: queries.party_identity(engine(), [p.id for p in rows]),
            "pesticide_options": lambda rows: [(p.reg_no, f"{p.name} ({p.active_ingredient}) {p.reg_no}"
                                                + (" ⚠" if p.banned else "")) for p in rows]}


def _demo_data() -> bool:
    """Whether the log holds demo entries (remembered per app once it does: the mark never goes)."""
    from flask import current_app

    if current_app.extensions.get("trace_demo_log"):
        return True
    try:
        with read_session(services.get().engine) as s:
            found = queries.demo_log(s)
    except Exception:  # noqa: BLE001 - a page without a database (an error page) says nothing more
        return False
    if found:
        current_app.extensions["trace_demo_log"] = True
    return found


def _run(command: str, data: Mapping[str, Any], fields: Mapping[str, str]) -> tuple[Any, dict[str, str], int]:
    try:
        return trace().run(command, actor(), data, unit=KG, names=namer(fields)), {}, 200
    except DomainError as exc:
        return None, by_field(exc, auth.lang(), fields), exc.status


# -- plots ---------------------------------------------------------------------------------------


def _plot_page(plot_id: int, *, form: str | None = None, errors: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    if plot_id > MAX_ID:
        abort(404)
    try:
        page = queries.plot_page(engine(), actor(), plot_id)
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/plot.html", page=page, form=form, errors=errors or {},
                           values=request.form if form else {}, today=datetime.now(CHINA)), status


@bp.get("/plots/<int:plot_id>")
def plot(plot_id: int) -> ResponseReturnValue:
    """A plot's farming records and certifications, and the forms its grower records them with."""
    return _plot_page(plot_id)


@bp.get("/plots/<int:plot_id>/<form>")
def plot_form_get(plot_id: int, form: str) -> ResponseReturnValue:
    """A refused form switched to the other language: back to the plot."""
    return redirect(url_for(".plot", plot_id=plot_id, **lang_arg()))


@bp.post("/plots/<int:plot_id>/<form>")
def plot_form(plot_id: int, form: str) -> ResponseReturnValue:
    """Record pest control, fertilising, other work or a certification on a plot."""
    if form not in PLOT_FORMS:
        abort(404)
    command, fields, done = PLOT_FORMS[form]
    data = take(request.form, fields)
    if form == "certification":
        data["party"] = actor().party_id or ""
        data["plot"] = plot_id if request.form.get("whole") != "yes" else ""
    else:
        data["plot"] = plot_id if plot_id <= MAX_ID else str(plot_id)
    _result, errors, status = _run(command, data, {**fields, "plot": "plot"})
    if errors:
        return _plot_page(plot_id, form=form, errors=errors, status=status)
    flash(_(done), "success")
    return redirect(url_for(".plot", plot_id=plot_id))


# -- certificates of a batch ---------------------------------------------------------------------


def _back_to_batch(batch_id: int, errors: dict[str, str], status: int, action: str) -> ResponseReturnValue:
    from trace.web.portal.batches import _render_batch

    return _render_batch(batch_id, open_action=action, errors=errors, values=request.form, status=status)


@bp.post("/batch/<int:batch_id>/certificate")
def certificate_issue(batch_id: int) -> ResponseReturnValue:
    """Issue the batch's 承诺达标合格证 on one of the bases that are true of it."""
    if batch_id > MAX_ID:
        abort(404)
    fields = {"basis": "basis", "occurred_at": "occurred_at"}
    result, errors, status = _run("certificate.issue", {"batch": batch_id, **take(request.form, fields)}, fields)
    if errors:
        return _back_to_batch(batch_id, errors, status, "certificate")
    flash(_("Certificate of conformity No. %(id)s issued.", id=result.event.certificate.id), "success")
    return redirect(url_for(".batch", batch_id=batch_id, _anchor="certificate"))


@bp.post("/batch/<int:batch_id>/trace-code")
def batch_trace_code(batch_id: int) -> ResponseReturnValue:
    """Record the lot's 追溯码 of the national traceability platform."""
    if batch_id > MAX_ID:
        abort(404)
    fields = {"code": "code"}
    _result, errors, status = _run("batch.platform_code", {"batch": batch_id, **take(request.form, fields)}, fields)
    if errors:
        return _back_to_batch(batch_id, errors, status, "trace_code")
    flash(_("Trace code recorded."), "success")
    return redirect(url_for(".batch", batch_id=batch_id, _anchor="certificate"))


# -- the bureau's registers ------------------------------------------------------------------------


def _registers_page(*, form: str | None = None, errors: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    try:
        regs = queries.registers(engine(), actor())
        parties = portal_queries.parties(engine(), actor())
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/registers.html", regs=regs, parties=parties, products=portal_queries.products(engine()),
                           form=form, errors=errors or {}, values=request.form if form else {}), status


@bp.get("/registers")
def registers() -> ResponseReturnValue:
    """The bureau's registers and alerts."""
    return _registers_page()


@bp.post("/registers/<form>")
def register_form(form: str) -> ResponseReturnValue:
    """Record in one of the bureau's registers."""
    if form not in REGISTER_FORMS:
        abort(404)
    command, fields, done = REGISTER_FORMS[form]
    if form == "divisions" and request.form.get("shipped") == "yes":
        data: dict[str, Any] = {"divisions": queries.shipped_divisions()}
    else:
        data = take(request.form, fields)
    _result, errors, status = _run(command, data, fields)
    if errors:
        return _registers_page(form=form, errors=errors, status=status)
    flash(_(done), "success")
    return redirect(url_for(".registers", _anchor=form))


@bp.post("/parties/<int:party_id>/platform-code")
def party_platform_code(party_id: int) -> ResponseReturnValue:
    """Record a party's 主体码 (the party itself, the bureau or an administrator)."""
    data = {"party": party_id if party_id <= MAX_ID else str(party_id), **take(request.form, {"code": "code"})}
    try:
        trace().run("party.platform_code", actor(), data, unit=KG, names=namer({"code": "code"}))
    except DomainError as exc:
        return refused(exc)
    flash(_("Platform subject code recorded."), "success")
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for(".dashboard"))
