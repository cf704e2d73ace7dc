"""Batches: registering a harvest, the batch page, and the forms that append to a batch.

Each form maps its fields onto the domain command's typed input (quantities in kilograms); the
domain parses, checks and records, and its refusals come back by the form's field names."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from trace.clock import CHINA
from trace.domain.commands import Result
from trace.domain.errors import DomainError
from trace.domain.inputs import KG
from trace.domain.limits import MAX_ID
from trace.domain.messages import N_
from trace.domain.queries import portal as queries
from trace.domain.rules.common import BATCH_NOT_FOUND
from trace.web import auth
from trace.web.forms import by_field, multi, namer, take
from trace.web.portal.base import (
    actor,
    bp,
    engine,
    fmt_kg,
    lang_arg,
    once,
    refused,
    repeated,
    trace,
)

# -- harvest -----------------------------------------------------------------------------------

HARVEST = {"plot": "plot", "product": "product", "quantity_g": "quantity_kg", "occurred_at": "occurred_at"}


@bp.route("/harvest", methods=["GET", "POST"])
def harvest() -> ResponseReturnValue:
    """Register a harvest from one of my plots."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            result = trace().run("harvest", actor(), take(request.form, HARVEST), unit=KG, names=namer(HARVEST),
                                 once=once())
        except DomainError as exc:
            errors, status = by_field(exc, auth.lang(), HARVEST), exc.status
        else:
            repeated(result)
            flash(_("Harvest registered as lot %(lot)s.", lot=result.event.batch.lot), "success")  # type: ignore[attr-defined]
            return redirect(url_for(".batch", batch_id=result.event.batch.id))  # type: ignore[attr-defined]
    return render_template("portal/harvest.html", plots=queries.plots(engine(), actor()),
                           products=queries.products(engine()), errors=errors, values=request.form), status


# -- the batch page ----------------------------------------------------------------------------


def _render_batch(batch_id: int, *, open_action: str | None = None, errors: dict[str, str] | None = None,
                  values: Any = None, status: int = 200) -> ResponseReturnValue:
    try:
        page = queries.batch_page(engine(), actor(), batch_id)
    except DomainError as exc:
        return refused(exc)
    highlight = request.args.get("package", type=int)
    return render_template("portal/batch.html", page=page, open_action=open_action, errors=errors or {},
                           values=values or {}, highlight=highlight, today=datetime.now(CHINA)), status


@bp.get("/batch/<int:batch_id>")
def batch(batch_id: int) -> ResponseReturnValue:
    """A batch: history, lineage, packages and the forms its viewer may use."""
    if batch_id > MAX_ID:
        abort(404)
    return _render_batch(batch_id)


@dataclass(frozen=True)
class Action:
    """A batch form: the command it runs, how its fields become the command's input (and how the
    input's fields are named on the form), and what to say and where to go when it is done."""

    command: str
    data: Callable[[Mapping[str, Any], int], dict[str, Any]]
    fields: Mapping[str, str]
    done: Callable[[Result, int], tuple[str, str | None]]
    more: Callable[[Mapping[str, Any], int], Callable[[tuple[Any, ...]], str | None]] | None = None


def _simple(fields: Mapping[str, str]) -> Callable[[Mapping[str, Any], int], dict[str, Any]]:
    return lambda form, bid: {"batch": bid, **take(form, fields)}


def _said(msg: str) -> Callable[[Result, int], tuple[str, str | None]]:
    return lambda result, bid: (_(msg), None)


def _inspect_data(form: Mapping[str, Any], bid: int) -> dict[str, Any]:
    rows = []
    for i in range(3):
        row = {k: form.get(f"r{i}_{k}", "") for k in ("name", "value", "limit", "unit")}
        if any(str(v).strip() for v in row.values()):
            rows.append({**row, "pass": form.get(f"r{i}_pass", "")})
    return {"batch": bid, **take(form, {"lab": "lab", "report_no": "report_no", "passed": "passed",
                                        "certificate_no": "certificate_no", "occurred_at": "occurred_at"}), "results": rows}


def _inspect_names(form: Mapping[str, Any], bid: int) -> Callable[[tuple[Any, ...]], str | None]:
    filled = [i for i in range(3) if any(str(form.get(f"r{i}_{k}", "")).strip() for k in ("name", "value", "limit", "unit"))]

    def name(loc: tuple[Any, ...]) -> str | None:
        if len(loc) >= 3 and loc[0] == "results" and isinstance(loc[1], int) and loc[1] < len(filled):
            return f"r{filled[loc[1]]}_{'pass' if loc[2] == 'pass' else loc[2]}"
        return None
    return name


def _merge_data(form: Mapping[str, Any], bid: int) -> dict[str, Any]:
    ids = [bid, *(w for w in multi(request.form, "with") if w != str(bid))]
    return {"parts": [{"batch": b, "quantity_g": form.get(f"qty_{b}", "")} for b in ids],
            **take(form, {"quantity_g": "quantity_kg", "occurred_at": "occurred_at"})}


def _merge_names(form: Mapping[str, Any], bid: int) -> Callable[[tuple[Any, ...]], str | None]:
    ids = [str(bid), *(w for w in multi(request.form, "with") if w != str(bid))]

    def name(loc: tuple[Any, ...]) -> str | None:
        if loc and loc[0] == "parts":
            if len(loc) >= 3 and isinstance(loc[1], int) and loc[2] == "quantity_g" and loc[1] < len(ids):
                return f"qty_{ids[loc[1]]}"
            return "with"
        return None
    return name


def _correct_data(form: Mapping[str, Any], bid: int) -> dict[str, Any]:
    field = str(form.get("field", "")).strip()
    return {"batch": bid, "target": form.get("target", ""), "changes": {field: form.get("value", "")} if field else {},
            **take(form, {"reason": "reason", "occurred_at": "occurred_at"})}


def _correct_names(form: Mapping[str, Any], bid: int) -> Callable[[tuple[Any, ...]], str | None]:
    return lambda loc: ("field" if not form.get("field") else "value") if loc and loc[0] == "changes" else None


def _split_done(result: Result, bid: int) -> tuple[str, str | None]:
    lots = ", ".join(c.lot for c in result.event.children)  # type: ignore[attr-defined]
    return _("Split into %(lots)s.", lots=lots), None


def _child_done(msg: str) -> Callable[[Result, int], tuple[str, str | None]]:
    def done(result: Result, bid: int) -> tuple[str, str | None]:
        child = result.event.child  # type: ignore[attr-defined]
        return _(msg, lot=child.lot), url_for(".batch", batch_id=child.id)
    return done


def _pack_done(result: Result, bid: int) -> tuple[str, str | None]:
    n = len(result.event.packages)  # type: ignore[attr-defined]
    msg = ngettext("Packed %(num)d package: print its label below.", "Packed %(num)d packages: print their labels below.", n)
    return msg, url_for(".batch", batch_id=bid, _anchor=f"pack-{result.entry}")


def _ship_done(result: Result, bid: int) -> tuple[str, str | None]:
    target = queries.party(engine(), result.event.to_party)  # type: ignore[attr-defined]
    return _("Shipped to %(party)s; it waits for their receipt.", party=target.name if target else "?"), None


def _sold(result: Result, bid: int) -> tuple[str, str | None]:
    ev = result.event
    n, loose = len(ev.packages), ev.loose_g  # type: ignore[attr-defined]
    if n and loose:
        return _("Sale recorded: %(n)s packages and %(kg)s kg loose.", n=n, kg=fmt_kg(loose)), None
    if loose:
        return _("Sale recorded: %(kg)s kg loose.", kg=fmt_kg(loose)), None
    return ngettext("Sale recorded: %(num)d package.", "Sale recorded: %(num)d packages.", n), None


def _recall_done(result: Result, bid: int) -> tuple[str, str | None]:
    n = len(result.event.affected)  # type: ignore[attr-defined]
    return ngettext("Recalled %(num)d batch.", "Recalled %(num)d batches (this one and those made from it).", n), None


WHEN = {"occurred_at": "occurred_at"}
ACTIONS: dict[str, Action] = {
    "receive": Action("receive", _simple({"codes": "codes", **WHEN}), {"codes": "codes"},
                      _said(N_("Received: the batch is now in your custody."))),
    "inspect": Action("inspect", _inspect_data, {"results": "results"}, _said(N_("Inspection recorded.")), _inspect_names),
    "grade": Action("grade", _simple({"grade": "grade", **WHEN}), {}, _said(N_("Grade recorded."))),
    "store": Action("store", _simple({"facility": "facility", "temperature_c": "temperature_c", **WHEN}), {},
                    _said(N_("Cold storage recorded."))),
    "split": Action("split", _simple({"quantities": "quantities", **WHEN}), {}, _split_done),
    "merge": Action("merge", _merge_data, {"quantity_g": "quantity_kg"}, _child_done(N_("Merged into the new lot %(lot)s.")),
                    _merge_names),
    "process": Action("process", _simple({"input_g": "input_kg", "output_g": "output_kg", "form": "form", "method": "method",
                                          **WHEN}), {"input_g": "input_kg", "output_g": "output_kg"},
                      _child_done(N_("Processed into the new lot %(lot)s."))),
    "pack": Action("pack", _simple({"count": "count", "net_g": "net_kg", "shelf_life_days": "shelf_life_days", **WHEN}),
                   {"net_g": "net_kg"}, _pack_done),
    "ship": Action("ship", _simple({"to_party": "to_party", "vehicle": "vehicle", **WHEN}), {}, _ship_done),
    "sell": Action("sell", _simple({"codes": "codes", "loose_g": "loose_kg", **WHEN}), {"codes": "codes", "loose_g": "loose_kg"},
                   _sold),
    "recall": Action("recall", _simple({"level": "level", "reason": "reason", **WHEN}), {}, _recall_done),
    "correct": Action("correct", _correct_data, {"changes": "value"}, _said(
        N_("Correction recorded; the original entry stays in the log as it was.")), _correct_names),
}


@bp.get("/batch/<int:batch_id>/<name>")
def batch_action_get(batch_id: int, name: str) -> ResponseReturnValue:
    """A refused form's page switched to the other language is a GET of its POST address: go to the batch."""
    if name not in ACTIONS:
        abort(404)
    return redirect(url_for(".batch", batch_id=batch_id, **lang_arg()))


@bp.post("/batch/<int:batch_id>/<name>")
def batch_action(batch_id: int, name: str) -> ResponseReturnValue:
    """Append one event to a batch; on refusal show the form again with the reason, having written nothing."""
    act = ACTIONS.get(name)
    if act is None:
        abort(404)
    if batch_id > MAX_ID:
        return refused(BATCH_NOT_FOUND("batch", id=batch_id))
    try:
        result = trace().run(act.command, actor(), act.data(request.form, batch_id), unit=KG,
                             names=namer(act.fields, act.more(request.form, batch_id) if act.more else None), once=once())
    except DomainError as exc:
        fields = {**act.fields, "batch": "", "parts": "with"}
        return _render_batch(batch_id, open_action=name, errors=by_field(exc, auth.lang(), fields),
                             values=request.form, status=exc.status)
    msg, target = act.done(result, batch_id)
    repeated(result)
    flash(msg, "success")
    return redirect(target or url_for(".batch", batch_id=batch_id))
