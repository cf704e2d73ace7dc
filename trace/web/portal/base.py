"""The portal's blueprint and what its views share: the acting user, refusals, names of codes.

Every view parses the request's shape only, calls one domain function and renders its result or
its refusal. Who may do what is decided in the domain (the rules for writes, the queries for
reads); the forms a page offers are a convenience, not the protection."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import Engine

from trace import services
from trace.clock import china_minute
from trace.domain.actors import Actor
from trace.domain.commands import Trace, new_once
from trace.domain.errors import DomainError
from trace.domain.messages import N_, kg_text
from trace.domain.tables.parties import PartyKind
from trace.extensions import LANGUAGES, login_manager
from trace.web import auth

bp = Blueprint("portal", __name__, url_prefix="/portal")

# Names of codes, as msgids of the one catalogue.
KINDS = {"grower": N_("Grower or cooperative"), "processor": N_("Processor"), "cold_store": N_("Cold store"),
         "carrier": N_("Carrier"), "retailer": N_("Retailer"), "regulator": N_("Regulator"), "buyer": N_("Produce buyer"),
         "admin": N_("Administrator"), "none": N_("None")}
EVENTS = {"harvest": N_("Harvest"), "inspect": N_("Inspection"), "grade": N_("Grading"), "split": N_("Split"),
          "merge": N_("Merge"), "process": N_("Processing"), "pack": N_("Packing"), "store": N_("Cold storage"),
          "ship": N_("Shipment"), "receive": N_("Receipt"), "sell": N_("Sale"), "recall": N_("Recall"),
          "recall.action": N_("Recall action"),
          "correct": N_("Correction")}
STATUSES = {"active": N_("in stock"), "consumed": N_("used up"), "sold": N_("sold out")}
INSPECTIONS = {"none": N_("not inspected"), "passed": N_("passed inspection"), "failed": N_("failed inspection")}
CREDIT = {"normal": N_("normal"), "red": N_("red list"), "black": N_("black list")}
FORMS = {"fresh": N_("fresh fruit"), "dried": N_("dried"), "sliced": N_("sliced"), "juice": N_("juice"),
         "puree": N_("purée"), "frozen": N_("frozen")}
FIELDS = {"occurred_at": N_("time"), "note": N_("note"), "lab": N_("laboratory"), "report_no": N_("report number"),
          "certificate_no": N_("certificate number"), "facility": N_("facility"), "temperature_dc": N_("temperature (°C)"),
          "grade": N_("grade"), "vehicle": N_("vehicle"), "vehicle_commitment": N_("vehicle"), "method": N_("method")}
PRODUCT_FIELDS = {"id": N_("product code"), "name_zh": N_("Chinese name"), "name_en": N_("English name"),
                  "gtin": "GTIN", "gi_ref": N_("registration number"), "harvest_months": N_("harvest months"),
                  "yield_g_per_mu": N_("yield ceiling"), "lot_prefix": N_("lot prefix"), "area": N_("protected area")}
WORDS = {"kg": N_("kg"), "mu": N_("mu"), "plot": N_("plot"), "grade": N_("grade"), "recalled": N_("Recalled"),
         "in_transit": N_("In transit"), "system": N_("system"), "kg_loose": N_("kg loose"),
         "certificate": N_("certificate"), "into": N_("into"), "new_lot": N_("new lot"), "corrects": N_("corrects")}


def name(table: dict[str, str], code: str | None) -> str:
    """The name of a code in the reader's language (the code itself when it has none)."""
    msgid = table.get(code or "")
    return _(msgid) if msgid else (code or "")


def fmt_kg(grams: int | None) -> str:
    """Integer grams as kilograms, exactly: 12500 -> '12.5' (with thousands separators)."""
    if grams is None:
        return ""
    text = kg_text(grams)
    whole, _sep, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}" + (f".{frac}" if frac else "")


def _options() -> dict[str, Callable[..., list[tuple[Any, str]]]]:
    """Choices of the pages' selects, in the user's language."""
    return {
        "form_options": lambda: [(c, name(FORMS, c)) for c in FORMS if c != "fresh"],
        "party_options": lambda rows: [(p.id, f"{p.name} ({name(KINDS, p.kind)})") for p in rows],
        "entry_options": lambda rows: [(c.entry, f"#{c.entry} {name(EVENTS, c.kind)} · {china_minute(c.occurred_at)}") for c in rows],
        "field_options": lambda: [(c, name(FIELDS, c)) for c in FIELDS if c != "vehicle_commitment"],
        "plot_options": lambda rows: [(p.id, f"#{p.id} {p.township}{p.village} · {p.area_mu} {_(WORDS['mu'])}") for p in rows],
        "product_options": lambda rows: [(p.id, p.name_zh if auth.lang() == "zh" else p.name_en) for p in rows],
        "credit_options": lambda: [(c, name(CREDIT, c)) for c in CREDIT],
        "kind_options": lambda: [(k.value, name(KINDS, k.value)) for k in PartyKind],
        "shown": lambda a, page=None: SHOWN[a] + (tuple(f"qty_{b.id}" for b in [page.batch, *page.merge_candidates])
                                                   if a == "merge" and page else ()),
    }


# The fields each form shows; an error about any other field is shown at the top of the form.
SHOWN = {
    "receive": ("codes", "occurred_at"),
    "inspect": ("lab", "report_no", "passed", "certificate_no", "results", "occurred_at",
                *(f"r{i}_{k}" for i in range(3) for k in ("name", "value", "limit", "unit", "pass"))),
    "grade": ("grade", "occurred_at"), "store": ("facility", "temperature_c", "occurred_at"),
    "split": ("quantities", "occurred_at"), "merge": ("with", "quantity_kg", "occurred_at"),
    "process": ("input_kg", "output_kg", "form", "method", "occurred_at"), "pack": ("count", "net_kg", "shelf_life_days", "occurred_at"),
    "ship": ("to_party", "vehicle", "occurred_at"), "sell": ("codes", "loose_kg", "occurred_at"),
    "recall": ("level", "reason", "occurred_at"), "correct": ("target", "field", "value", "reason", "occurred_at"),
    "harvest": ("plot", "product", "quantity_kg", "occurred_at"),
    "plot": ("division", "township", "village", "area_mu", "lat", "lon"),
    "plot_admin": ("party", "division", "township", "village", "area_mu", "lat", "lon"),
    "party": ("kind", "form", "name", "uscc", "id_number", "platform_code", "township", "phone", "address"),
    "credit": ("status", "reason"),
    "user": ("party", "username", "password"), "reset": ("username", "new"),
    "product": ("id", "name_zh", "name_en", "gi_ref", "gtin", "harvest_months", "yield_kg_per_mu", "lot_prefix", "area",
                "gi_kind", "gi_holder", "gi_date", "gi_spec"),
}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {**_options(), "fmt_kg": fmt_kg, "fmt_time": china_minute, "kind_name": lambda c: name(KINDS, c),
            "event_name": lambda c: name(EVENTS, c), "status_name": lambda c: name(STATUSES, c),
            "inspection_name": lambda c: name(INSPECTIONS, c), "credit_name": lambda c: name(CREDIT, c),
            "form_name": lambda c: name(FORMS, c), "field_name": lambda c: name(FIELDS, c),
            "w": lambda c: name(WORDS, c), "SHOWN": SHOWN, "lang": auth.lang(), "FORMS": FORMS, "KINDS": KINDS,
            "CREDIT": CREDIT, "new_once": new_once, "product_field": lambda c: name(PRODUCT_FIELDS, c)}


auth.bp.context_processor(_helpers)  # the login pages share the layout


@bp.before_request
def _login_required() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> ResponseReturnValue:
    return auth.csrf_error(exc)


def actor() -> Actor:
    """The logged-in user as the domain's actor."""
    return current_user.account.actor


def trace() -> Trace:
    """The domain's command service."""
    return services.get().trace


def engine() -> Engine:
    """The database engine (for the domain's queries)."""
    return services.get().engine


def refused(exc: DomainError, status: int | None = None) -> ResponseReturnValue:
    """A page that says why the domain refused."""
    return render_template("portal/refused.html", title=_("Not possible"), message=auth.message(exc)), status or exc.status


def once() -> str | None:
    """The one-time token the posted form carried (its command's idempotency key), if any."""
    return request.form.get("once") or None


def repeated(result: Any) -> None:
    """Say so when a form was sent twice and the domain answered with the first result."""
    if getattr(result, "repeated", False):
        flash(_("This form had been sent already: it was recorded once, and nothing new was written."), "info")


def lang_arg() -> dict[str, str]:
    """The language choice, for a redirect (which renders nothing, so it must travel with it)."""
    lang = request.args.get("lang")
    return {"lang": lang} if lang in LANGUAGES else {}
