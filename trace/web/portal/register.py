"""The register: growers' plots, parties and the credit list, the GI catalogue, and logins."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from trace.domain import accounts
from trace.domain.errors import DomainError
from trace.domain.inputs import KG
from trace.domain.limits import MAX_ID
from trace.domain.messages import kg_text
from trace.domain.queries import portal as queries
from trace.domain.tables.parties import PartyKind
from trace.web import auth
from trace.web.forms import by_field, namer, take
from trace.web.portal.base import actor, bp, engine, lang_arg, once, refused, repeated, trace

PLOT = {"party": "party", "township": "township", "village": "village", "area_mu": "area_mu", "lat": "lat", "lon": "lon",
        "division": "division"}
PARTY = {"kind": "kind", "name": "name", "uscc": "uscc", "township": "township", "gi_logo": "gi_logo", "phone": "phone",
         "address": "address", "form": "form", "id_number": "id_number", "platform_code": "platform_code"}
CREDIT = {"status": "status", "reason": "reason"}
PRODUCT = {"id": "id", "name_zh": "name_zh", "name_en": "name_en", "gi_ref": "gi_ref", "gtin": "gtin",
           "harvest_months": "harvest_months", "yield_g_per_mu": "yield_kg_per_mu", "lot_prefix": "lot_prefix", "area": "area",
           "gi_kind": "gi_kind", "gi_holder": "gi_holder", "gi_date": "gi_date", "gi_spec": "gi_spec"}


@bp.route("/plots", methods=["GET", "POST"])
def plots() -> ResponseReturnValue:
    """A grower's plots (an administrator's: every grower's), and registering a new one."""
    errors: dict[str, str] = {}
    status = 200
    a = actor()
    if request.method == "POST":
        data = take(request.form, PLOT)
        # The domain decides whose plot this may be; a grower's form simply names its own party.
        if not data.get("party") and not a.is_admin:
            data["party"] = a.party_id if a.party_id is not None else ""
        try:
            result = trace().run("plot.register", a, data, unit=KG, names=namer(PLOT), once=once())
        except DomainError as exc:
            errors, status = by_field(exc, auth.lang(), PLOT), exc.status
        else:
            repeated(result)
            pid = result.event.plot.id  # type: ignore[attr-defined]
            flash(_("Plot %(id)s registered.", id=pid), "success")
            return redirect(url_for(".plots"))
    growers = queries.parties(engine(), a, kinds=[PartyKind.GROWER.value]) if a.is_admin else []
    return render_template("portal/plots.html", plots=queries.plots(engine(), a), growers=growers, errors=errors,
                           values=request.form), status


@bp.get("/parties")
def parties() -> ResponseReturnValue:
    """The register of parties with their credit status (regulators and administrators)."""
    return _parties_page()


def _parties_page(errors: dict[str, str] | None = None, form: str | None = None, status: int = 200,
                  credit_party: int | None = None) -> ResponseReturnValue:
    try:
        rows = queries.parties(engine(), actor())
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/parties.html", parties=rows, errors=errors or {}, form=form,
                           values=request.form, credit_party=credit_party), status


@bp.post("/parties")
def party_create() -> ResponseReturnValue:
    """Register a party (administrators and regulators)."""
    data = take(request.form, PARTY)
    data["gi_logo"] = request.form.get("gi_logo") == "yes"
    try:
        result = trace().run("party.register", actor(), data, unit=KG, names=namer(PARTY), once=once())
    except DomainError as exc:
        if exc.status == 403:
            return refused(exc)
        return _parties_page(by_field(exc, auth.lang(), PARTY), "create", exc.status)
    repeated(result)
    party = result.event.party  # type: ignore[attr-defined]
    flash(_("Party %(name)s registered with id %(id)s.", name=party.name, id=party.id), "success")
    return redirect(url_for(".parties"))


@bp.get("/parties/<int:party_id>/credit")
def party_credit_get(party_id: int) -> ResponseReturnValue:
    """See batch_action_get: back to the list."""
    return redirect(url_for(".parties", _anchor=f"party-{party_id}", **lang_arg()))


@bp.post("/parties/<int:party_id>/credit")
def party_credit(party_id: int) -> ResponseReturnValue:
    """Put a party on the red or black list or back to normal (regulators)."""
    data = {"party": party_id if party_id <= MAX_ID else str(party_id), **take(request.form, CREDIT)}
    try:
        repeated(trace().run("party.credit", actor(), data, unit=KG, names=namer(CREDIT), once=once()))
    except DomainError as exc:
        if exc.status in (403, 404):
            return refused(exc)
        return _parties_page(by_field(exc, auth.lang(), CREDIT), "credit", exc.status, credit_party=party_id)
    flash(_("Credit status recorded."), "success")
    return redirect(url_for(".parties"))


@bp.route("/products", methods=["GET", "POST"])
def products() -> ResponseReturnValue:
    """The GI catalogue; regulators define a product or change its area, months or ceiling."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            result = trace().run("product.define", actor(), take(request.form, PRODUCT), unit=KG, names=namer(PRODUCT),
                                 once=once())
        except DomainError as exc:
            if exc.status == 403:
                return refused(exc)
            errors, status = by_field(exc, auth.lang(), PRODUCT), exc.status
        else:
            repeated(result)
            flash(_("Product %(name)s recorded in the log.", name=result.event.product.name_zh), "success")  # type: ignore[attr-defined]
            return redirect(url_for(".products"))
    values: Any = request.form
    editing = request.values.get("edit") if request.method == "GET" else request.form.get("id")
    if request.method == "GET" and editing:
        try:  # editing starts from the product's current values
            values = _product_values(queries.product_detail(engine(), editing))
        except DomainError as exc:
            return refused(exc)
    products = queries.product_details(engine())
    history = {p.id: queries.product_history(engine(), p.id) for p in products}
    return render_template("portal/products.html", products=products, history=history, errors=errors, values=values,
                           editing=editing), status


def _product_values(p: queries.ProductDetail) -> dict[str, str]:
    """A product as the form's fields show it (kilograms, one place per line)."""
    return {"id": p.id, "name_zh": p.name_zh, "name_en": p.name_en, "gi_ref": p.gi_ref, "gtin": p.gtin or "",
            "harvest_months": ",".join(str(m) for m in p.months), "yield_kg_per_mu": kg_text(p.yield_g_per_mu),
            "lot_prefix": p.lot_prefix, "area": "\n".join(f"{t} {v}" for t, v in p.area)}


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    """Logins (administrators): list, create, reset a password."""
    a = actor()
    errors: dict[str, str] = {}
    status = 200
    form = None
    if request.method == "POST":
        form = request.form.get("form", "create")
        try:
            if form == "reset":
                acc = accounts.reset_password(engine(), a, username=request.form.get("username"),
                                              new=request.form.get("new"))
                flash(_("New password set for %(user)s; its sessions have ended.", user=acc.username), "success")
            else:
                acc = accounts.create_user(trace(), a, party_id=request.form.get("party") or None,
                                           username=request.form.get("username"), password=request.form.get("password"),
                                           is_admin=request.form.get("is_admin") == "yes", once=once())
                flash(_("User %(user)s created.", user=acc.username), "success")
        except DomainError as exc:
            if exc.status == 403:
                return refused(exc)
            errors, status = by_field(exc, auth.lang()), exc.status
        else:
            return redirect(url_for(".users"))
    try:
        rows = accounts.list_users(engine(), a)
    except DomainError as exc:
        return refused(exc)
    return render_template("portal/users.html", users=rows, parties=queries.parties(engine(), a), errors=errors,
                           form=form, values=request.form), status
