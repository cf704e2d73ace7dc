"""The working portal of growers, packers, cold stores, carriers, retailers and regulators.

Every view parses the request, calls one domain function and renders its result or its
DomainError. Who may do what is decided in the domain (operations.py for writes, queries.py
for reads); the forms a page offers are a convenience, not the protection."""
from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
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
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from trace import labels, services
from trace.domain import accounts, consumer, queries
from trace.domain.errors import DomainError, InvalidInput, NotFound
from trace.domain.operations import CHINA, Actor, Trace
from trace.domain.parties import PartyKind
from trace.extensions import LANGUAGES, login_manager
from trace.web import auth
from trace.web.forms import Form, FormErrors, normalize, text_problem

bp = Blueprint("portal", __name__, url_prefix="/portal")

# Names shown for codes, in both languages (kept out of the shared catalog on purpose).
KINDS = {"grower": ("种植户/合作社", "Grower"), "processor": ("加工企业", "Processor"),
         "cold_store": ("冷库", "Cold store"), "carrier": ("物流承运", "Carrier"), "retailer": ("零售商", "Retailer"),
         "regulator": ("市场监管部门", "Regulator"), "admin": ("系统管理员", "Administrator"), "none": ("无", "None")}
EVENTS = {"harvest": ("采收", "Harvest"), "inspect": ("检验", "Inspection"), "grade": ("分级", "Grading"),
          "split": ("分拆", "Split"), "merge": ("合并", "Merge"), "process": ("加工", "Processing"),
          "pack": ("包装", "Packing"), "store": ("冷藏", "Cold storage"), "ship": ("发运", "Shipment"),
          "receive": ("接收", "Receipt"), "sell": ("销售", "Sale"), "recall": ("召回", "Recall"),
          "correct": ("更正", "Correction")}
STATUSES = {"active": ("在库", "active"), "consumed": ("已用完", "used up"), "sold": ("已售完", "sold out")}
INSPECTIONS = {"none": ("未检验", "not inspected"), "passed": ("检验合格", "passed"), "failed": ("检验不合格", "failed")}
CREDIT = {"normal": ("正常", "normal"), "red": ("红名单", "red list"), "black": ("黑名单", "black list")}
FORMS = {"fresh": ("鲜果", "fresh"), "dried": ("干制", "dried"), "sliced": ("切片", "sliced"), "juice": ("果汁", "juice"),
         "puree": ("果浆", "purée"), "frozen": ("冷冻", "frozen")}
FIELDS = {"occurred_at": ("发生时间", "time"), "note": ("备注", "note"), "lab": ("检测机构", "laboratory"),
          "report_no": ("报告编号", "report number"), "certificate_no": ("合格证编号", "certificate number"),
          "facility": ("库点", "facility"), "temperature_dc": ("温度（℃）", "temperature (°C)"), "grade": ("等级", "grade"),
          "vehicle": ("车辆", "vehicle"), "method": ("加工方法", "method")}
# Small words and units, kept out of the shared catalog where another part may say them differently.
WORDS = {"kg": ("公斤", "kg"), "mu": ("亩", "mu"), "plot": ("地块", "plot"), "grade": ("等级", "grade"),
         "recalled": ("已召回", "Recalled"), "in_transit": ("运输中", "In transit"), "system": ("系统", "system"),
         "kg_loose": ("公斤散装", "kg loose"), "certificate": ("合格证", "certificate"), "into": ("分为", "into"),
         "new_lot": ("新批次", "new lot"), "corrects": ("更正", "corrects")}
# The fields each form shows; an error about any other field is shown at the top of the form.
SHOWN = {
    "receive": ("occurred_at",),
    "inspect": ("lab", "report_no", "passed", "certificate_no", "results", "occurred_at",
                *(f"r{i}_{k}" for i in range(3) for k in ("name", "value", "limit", "unit", "pass"))),
    "grade": ("grade", "occurred_at"), "store": ("facility", "temperature_c", "occurred_at"),
    "split": ("quantities", "occurred_at"), "merge": ("with", "quantity_kg", "occurred_at"),
    "process": ("input_kg", "output_kg", "form", "method", "occurred_at"), "pack": ("count", "net_kg", "occurred_at"),
    "ship": ("to_party", "vehicle", "occurred_at"), "sell": ("packages", "loose_kg", "occurred_at"),
    "recall": ("reason", "occurred_at"), "correct": ("target", "field", "value", "reason", "occurred_at"),
    "harvest": ("plot", "product", "quantity_kg", "occurred_at"),
    "plot": ("township", "village", "area_mu", "lat", "lon"), "plot_admin": ("party", "township", "village", "area_mu", "lat", "lon"),
    "party": ("kind", "name", "uscc", "township", "phone", "address"), "credit": ("status", "reason"),
    "user": ("party", "username", "password"), "reset": ("username", "new"),
    "product": ("id", "name_zh", "name_en", "gi_ref", "gtin", "harvest_months", "yield_kg_per_mu", "lot_prefix", "area"),
}
# Where a domain error's field shows up on each form.
FIELD_MAP = {"yield_g_per_mu": "yield_kg_per_mu", "quantity_g": "quantity_kg", "input_g": "input_kg", "output_g": "output_kg", "net_g": "net_kg",
             "loose_g": "loose_kg", "batch": "", "batches": "with", "changes": "field"}


def _name(table: dict[str, tuple[str, str]], code: str | None) -> str:
    zh, en = table.get(code or "", (code or "", code or ""))
    return zh if auth.lang() == "zh" else en


def fmt_kg(grams: int | None) -> str:
    """Integer grams as kilograms, exactly: 12500 -> '12.5'."""
    if grams is None:
        return ""
    sign = "-" if grams < 0 else ""
    whole, rest = divmod(abs(grams), 1000)
    frac = f"{rest:03d}".rstrip("0")
    return f"{sign}{whole:,}" + (f".{frac}" if frac else "")


def fmt_time(value: str | None) -> str:
    """An RFC 3339 UTC time in Beijing time, to the minute."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _options() -> dict[str, Callable[..., list[tuple[Any, str]]]]:
    """Choices of the batch page's selects, in the user's language."""
    return {
        "form_options": lambda: [(c, _name(FORMS, c)) for c in FORMS if c != "fresh"],
        "party_options": lambda rows: [(p.id, f"{p.name} ({_name(KINDS, p.kind)})") for p in rows],
        "entry_options": lambda rows: [(c.entry, f"#{c.entry} {_name(EVENTS, c.kind)} · {fmt_time(c.occurred_at)}") for c in rows],
        "field_options": lambda: [(c, _name(FIELDS, c)) for c in FIELDS],
        "plot_options": lambda rows: [(p.id, f"#{p.id} {p.township}{p.village} · {p.area_mu} {_name(WORDS, 'mu')}") for p in rows],
        "product_options": lambda rows: [(p.id, p.name_zh if auth.lang() == "zh" else p.name_en) for p in rows],
        "credit_options": lambda: [(c, _name(CREDIT, c)) for c in CREDIT],
        "kind_options": lambda: [(k.value, _name(KINDS, k.value)) for k in PartyKind],
        "shown": lambda a, page=None: SHOWN[a] + (tuple(f"qty_{b.id}" for b in [page.batch, *page.merge_candidates])
                                                   if a == "merge" and page else ()),
    }


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {**_options(), "fmt_kg": fmt_kg, "fmt_time": fmt_time, "kind_name": lambda c: _name(KINDS, c),
            "event_name": lambda c: _name(EVENTS, c), "status_name": lambda c: _name(STATUSES, c),
            "inspection_name": lambda c: _name(INSPECTIONS, c), "credit_name": lambda c: _name(CREDIT, c),
            "form_name": lambda c: _name(FORMS, c), "field_name": lambda c: _name(FIELDS, c),
            "w": lambda c: _name(WORDS, c), "SHOWN": SHOWN, "lang": auth.lang(), "FORMS": FORMS, "KINDS": KINDS, "CREDIT": CREDIT}


auth.bp.context_processor(_helpers)  # the login pages share the layout


@bp.before_request
def _login_required() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> ResponseReturnValue:
    return auth.csrf_error(exc)


def _actor() -> Actor:
    return current_user.account.actor


def _trace() -> Trace:
    return services.get().trace


def _engine():  # type: ignore[no-untyped-def]
    return services.get().engine


def _refused(exc: DomainError, status: int | None = None) -> ResponseReturnValue:
    return render_template("portal/refused.html", title=_("Not possible"), message=auth.message(exc)), status or exc.status


def _errors(exc: FormErrors | DomainError) -> dict[str, str]:
    if isinstance(exc, FormErrors):
        return {FIELD_MAP.get(k, k): auth.message(v) for k, v in exc.errors.items()}
    return {FIELD_MAP.get(exc.field or "", exc.field or ""): auth.message(exc)}


# -- dashboard, search ---------------------------------------------------------------------


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    """What my party holds, what waits for me, what happened recently, and recalls."""
    board = queries.dashboard(_engine(), _actor())
    return render_template("portal/dashboard.html", board=board, account=current_user.account)


@bp.get("/search")
def search() -> ResponseReturnValue:
    """Find a batch by lot code or package code (serial, short serial or scanned URL)."""
    q = request.args.get("q", "")
    hits: list[queries.SearchHit] = []
    error = None
    if q.strip():
        try:
            hits = queries.search(_engine(), _actor(), q)
        except DomainError as exc:
            error = auth.message(exc)
        if len(hits) == 1:
            hit = hits[0]
            return redirect(url_for(".batch", batch_id=hit.batch.id, package=hit.package_id) if hit.package_id
                            else url_for(".batch", batch_id=hit.batch.id))
    return render_template("portal/search.html", q=q[:300], hits=hits, error=error), (400 if error else 200)


# -- harvest -----------------------------------------------------------------------------------


@bp.route("/harvest", methods=["GET", "POST"])
def harvest() -> ResponseReturnValue:
    """Register a harvest from one of my plots."""
    engine = _engine()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        f = Form(request.form)
        plot = f.id("plot", "地块", "Plot")
        product = f.text("product", "产品", "Product", required=True, max_len=40)
        qty = f.grams("quantity_kg", "采收数量", "Quantity")
        when = f.time()
        try:
            f.check()
            batch = _trace().register_harvest(_actor(), plot_id=plot, product_id=product,  # type: ignore[arg-type]
                                              quantity_g=qty, occurred_at=when)
        except (FormErrors, DomainError) as exc:
            errors = _errors(exc)
            status = exc.status if isinstance(exc, DomainError) else 400
        else:
            flash(_("Harvest registered as lot %(lot)s.", lot=batch.lot_code), "success")
            return redirect(url_for(".batch", batch_id=batch.id))
    return render_template("portal/harvest.html", plots=queries.plots(engine, _actor()),
                           products=queries.products(engine), errors=errors, values=request.form), status


# -- the batch page and its actions -------------------------------------------------------------


def _render_batch(batch_id: int, *, open_action: str | None = None, errors: dict[str, str] | None = None,
                  values: Any = None, status: int = 200) -> ResponseReturnValue:
    try:
        page = queries.batch_page(_engine(), _actor(), batch_id)
    except DomainError as exc:
        return _refused(exc)
    highlight = request.args.get("package", type=int)
    return render_template("portal/batch.html", page=page, open_action=open_action, errors=errors or {},
                           values=values or {}, highlight=highlight, today=datetime.now(CHINA)), status


@bp.get("/batch/<int:batch_id>")
def batch(batch_id: int) -> ResponseReturnValue:
    """A batch: history, lineage, packages and the forms its viewer may use."""
    if batch_id > queries.MAX_ID:
        abort(404)
    return _render_batch(batch_id)


Handler = Callable[[Form, Actor, int], tuple[str, str | None]]
HANDLERS: dict[str, Handler] = {}


def action(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of one batch form."""
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def _lang_arg() -> dict[str, str]:
    # A redirect renders nothing, so the language choice must travel with it.
    lang = request.args.get("lang")
    return {"lang": lang} if lang in LANGUAGES else {}


@bp.get("/batch/<int:batch_id>/<name>")
def batch_action_get(batch_id: int, name: str) -> ResponseReturnValue:
    """A refused form's page switched to the other language is a GET of its POST address: go to the batch."""
    if name not in HANDLERS:
        abort(404)
    return redirect(url_for(".batch", batch_id=batch_id, **_lang_arg()))


@bp.post("/batch/<int:batch_id>/<name>")
def batch_action(batch_id: int, name: str) -> ResponseReturnValue:
    """Append one event to a batch; on refusal show the form again with the reason, having written nothing."""
    handler = HANDLERS.get(name)
    if handler is None:
        abort(404)
    if batch_id > queries.MAX_ID:
        return _refused(NotFound("批次不存在。", f"Batch {batch_id} does not exist.", "batch"))
    f = Form(request.form)
    try:
        msg, target = handler(f, _actor(), batch_id)
    except (FormErrors, DomainError) as exc:
        status = exc.status if isinstance(exc, DomainError) else 400
        return _render_batch(batch_id, open_action=name, errors=_errors(exc), values=request.form, status=status)
    flash(msg, "success")
    return redirect(target or url_for(".batch", batch_id=batch_id))


def _passed(f: Form, name: str, required: bool = True) -> bool | None:
    raw = f.raw(name)
    if raw in ("yes", "no"):
        return raw == "yes"
    if required:
        f.errors[name] = InvalidInput("请选择检验结论：合格或不合格。", "Choose the verdict: passed or failed.", name)
    return None


@action("inspect")
def _inspect(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    lab = f.text("lab", "检测机构", "Laboratory", required=True, max_len=200)
    report = f.text("report_no", "报告编号", "Report number", required=True, max_len=60)
    cert = f.text("certificate_no", "合格证编号", "Certificate number", max_len=60)
    passed = _passed(f, "passed")
    results = []
    for i in range(3):
        row = {k: f.text(f"r{i}_{k}", zh, en, max_len=n) for k, zh, en, n in (
            ("name", "检测项目", "Test", 80), ("value", "检测值", "Value", 40), ("limit", "限量", "Limit", 40),
            ("unit", "单位", "Unit", 20))}
        if row["name"]:
            results.append({**row, "pass": f.raw(f"r{i}_pass") != "no"})
        elif row["value"] or row["limit"]:
            f.errors.setdefault(f"r{i}_name", InvalidInput("请填写检测项目名称。", "Name the test of this result.", f"r{i}_name"))
    when = f.time()
    f.check()
    _trace().inspect(a, bid, lab=lab, report_no=report, passed=bool(passed), results=results, certificate_no=cert,
                     occurred_at=when)
    return _("Inspection recorded."), None


@action("grade")
def _grade(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    grade = f.text("grade", "等级", "Grade", required=True, max_len=40)
    when = f.time()
    f.check()
    _trace().grade(a, bid, grade=grade, occurred_at=when)
    return _("Grade recorded."), None


@action("split")
def _split(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    parts = [p for p in re.split(r"[\s,，、;；]+", f.raw("quantities").strip()) if p]
    grams: list[int] = []
    if not parts:
        f.errors["quantities"] = InvalidInput("请填写分拆出的每一份的公斤数，用逗号隔开。",
                                              "Give the kilograms of each new batch, separated by commas.", "quantities")
    for p in parts[:501]:
        sub = Form({"q": p})
        g = sub.grams("q", "分拆数量", "Each quantity")
        if sub.errors:
            f.errors.setdefault("quantities", InvalidInput(sub.errors["q"].zh, sub.errors["q"].en, "quantities"))
        elif g is not None:
            grams.append(g)
    when = f.time()
    f.check()
    kids = _trace().split(a, bid, grams, occurred_at=when)
    return _("Split into %(lots)s.", lots=", ".join(k.lot_code for k in kids)), None


@action("merge")
def _merge(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    chosen: list[int] = []
    for raw in request.form.getlist("with"):
        try:
            chosen.append(queries.parse_id(raw, "with"))
        except DomainError as exc:
            f.errors.setdefault("with", exc)
    if not chosen and "with" not in f.errors:
        f.errors["with"] = InvalidInput("请至少选择一个要合并进来的批次。", "Choose at least one batch to merge in.", "with")
    parts: list[tuple[object, object]] = []
    for b in [bid, *chosen]:
        if b != bid and f"qty_{b}" not in request.form:
            # Only batches the page listed have a quantity field: anything else is not mergeable here.
            f.errors.setdefault("with", InvalidInput(f"批次 {b} 不能与本批次合并（不在本单位保管中或不是同一产品）。",
                                                     f"Batch {b} cannot be merged with this one (not in your custody, "
                                                     "or not the same product).", "with"))
            continue
        parts.append((b, f.grams(f"qty_{b}", "合并数量", "Quantity to merge")))
    out = f.grams("quantity_kg", "合并后数量", "Merged quantity", required=False)
    when = f.time()
    f.check()
    child = _trace().merge(a, parts, quantity_g=out, occurred_at=when)
    return _("Merged into the new lot %(lot)s.", lot=child.lot_code), url_for(".batch", batch_id=child.id)


@action("process")
def _process(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    inp = f.grams("input_kg", "投入量", "Input")
    outp = f.grams("output_kg", "产出量", "Output")
    form = f.text("form", "产品形态", "Product form", required=True, max_len=20)
    method = f.text("method", "加工方法", "Method", max_len=200)
    when = f.time()
    f.check()
    child = _trace().process(a, bid, input_g=inp, output_g=outp, form=form, method=method, occurred_at=when)
    return _("Processed into the new lot %(lot)s.", lot=child.lot_code), url_for(".batch", batch_id=child.id)


@action("pack")
def _pack(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    count = f.count("count", "包装件数", "Number of packages", maximum=5000)
    net = f.grams("net_kg", "每件净重", "Net weight per package")
    when = f.time()
    f.check()
    packed = _trace().pack(a, bid, count=count, net_g=net, occurred_at=when)
    entry = packed[0][0].pack_entry
    msg = ngettext("Packed %(num)d package: print its label below.", "Packed %(num)d packages: print their labels below.",
                   len(packed))
    return msg, url_for(".batch", batch_id=bid, _anchor=f"pack-{entry}")


@action("store")
def _store(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    facility = f.text("facility", "库点", "Facility", required=True, max_len=200)
    temp = f.text("temperature_c", "温度", "Temperature", required=True, max_len=10)
    when = f.time()
    f.check()
    _trace().store(a, bid, facility=facility, temperature_c=temp, occurred_at=when)
    return _("Cold storage recorded."), None


@action("ship")
def _ship(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    to = f.id("to_party", "收货单位", "Receiving party")
    vehicle = f.text("vehicle", "车辆", "Vehicle", max_len=40)
    when = f.time()
    f.check()
    _trace().ship(a, bid, to_party=to, vehicle=vehicle, occurred_at=when)
    target = queries.party(_engine(), to) if to else None
    return _("Shipped to %(party)s; it waits for their receipt.", party=target.name if target else to), None


@action("receive")
def _receive(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    when = f.time()
    f.check()
    _trace().receive(a, bid, occurred_at=when)
    return _("Received: the batch is now in your custody."), None


@action("sell")
def _sell(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    n = f.count("packages", "销售件数", "Packages sold", required=False)
    loose = f.grams("loose_kg", "散装销售量", "Loose quantity sold", required=False)
    when = f.time()
    f.check()
    ids: list[int] | None = None
    if n is not None:
        ids = queries.unsold_package_ids(_engine(), a, bid, n)
        if len(ids) < n:
            raise InvalidInput(f"该批次只有 {len(ids)} 件未售出的包装。", f"This batch has only {len(ids)} unsold packages.", "packages")
    _trace().sell(a, bid, package_ids=ids, loose_g=loose or 0, occurred_at=when)
    return _("Sale recorded."), None


@action("recall")
def _recall(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    reason = f.text("reason", "召回原因", "Reason", required=True, max_len=500)
    when = f.time()
    f.check()
    affected = _trace().recall(a, bid, reason=reason, occurred_at=when)
    return ngettext("Recalled %(num)d batch.", "Recalled %(num)d batches (this one and those made from it).",
                    len(affected)), None


@action("correct")
def _correct(f: Form, a: Actor, bid: int) -> tuple[str, str | None]:
    target = f.id("target", "要更正的记录", "Entry to correct")
    fld = f.raw("field").strip()
    if fld not in FIELDS:
        f.errors["field"] = InvalidInput("请选择要更正的内容。", "Choose what to correct.", "field")
    value: object
    if fld == "occurred_at":
        value = f.time("value")
        if value is None and "value" not in f.errors:
            f.errors["value"] = InvalidInput("请填写正确的时间。", "Give the right time.", "value")
    else:
        value = f.text("value", "更正后的内容", "Corrected value", required=True, max_len=200)
    reason = f.text("reason", "更正原因", "Reason", required=True, max_len=500)
    when = f.time()
    f.check()
    try:
        _trace().correct(a, bid, target=target, changes={fld: value}, reason=reason, occurred_at=when)  # type: ignore[arg-type]
    except DomainError as exc:
        if exc.field == fld or (fld == "temperature_dc" and exc.field == "temperature_c"):
            exc.field = "value"
        raise
    return _("Correction recorded; the original entry stays in the log as it was."), None


# -- labels ----------------------------------------------------------------------------------


# Serials are secrets: pages and files that carry them stay out of every cache.
NO_STORE = {"Cache-Control": "private, no-store"}


def package_url(gtin: str | None, lot: str, serial: str) -> str:
    """The URL in a package's QR code (GS1 Digital Link with a GTIN, else /p/{serial})."""
    return consumer.package_url(current_app.config["TRACE_PUBLIC_URL"], serial, gtin, lot)


def _label_infos(rows: list[queries.LabelData]) -> list[labels.LabelInfo]:
    out = []
    for r in rows:
        packed = datetime.fromisoformat(r.packed_at.replace("Z", "+00:00")).astimezone(CHINA).date()
        out.append(labels.LabelInfo(url=package_url(r.gtin, r.lot_code, r.serial), product_zh=r.product_zh,
                                    product_en=r.product_en, lot_code=r.lot_code, net_weight_g=r.net_g,
                                    packed_on=packed, packer=r.packer_name, serial=r.serial,
                                    gi_logo_uscc=r.packer_uscc if r.packer_gi_logo else None))
    return out


def _labels_or_refuse(batch_id: int, **kw: object) -> list[queries.LabelData] | ResponseReturnValue:
    try:
        return queries.label_data(_engine(), _actor(), batch_id, **kw)
    except DomainError as exc:
        return _refused(exc)


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


@bp.get("/batch/<int:batch_id>/labels/<int:package_id>.png")
def label_png(batch_id: int, package_id: int) -> ResponseReturnValue:
    """One package's label as a PNG (300 dpi, 60 x 40 mm)."""
    if package_id > queries.MAX_ID:
        abort(404)
    rows = _labels_or_refuse(batch_id, package_id=package_id)
    if not isinstance(rows, list):
        return rows
    png = labels.label_png(_label_infos(rows)[0])
    return Response(png, mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="label-{rows[0].lot_code}-{package_id}.png"', **NO_STORE})


# -- plots, parties, users --------------------------------------------------------------------


@bp.route("/plots", methods=["GET", "POST"])
def plots() -> ResponseReturnValue:
    """A grower's plots (an administrator's: every grower's), and registering a new one."""
    errors: dict[str, str] = {}
    status = 200
    a = _actor()
    if request.method == "POST":
        f = Form(request.form)
        # The domain decides whose plot this may be; a grower's form simply names its own party.
        party_id = f.id("party", "种植户", "Grower") if a.is_admin or f.raw("party") else a.party_id
        township = f.text("township", "乡镇", "Township", required=True, max_len=40)
        village = f.text("village", "村", "Village", required=True, max_len=40)
        area = f.text("area_mu", "面积", "Area", required=True, max_len=20)
        lat = f.text("lat", "纬度", "Latitude", max_len=20)
        lon = f.text("lon", "经度", "Longitude", max_len=20)
        try:
            f.check()
            if party_id is None:
                raise InvalidInput("此操作需要以某个单位的身份进行。", "This action must be taken on behalf of a party.", "party")
            pid = _trace().register_plot(a, party_id=party_id, township=township, village=village, area_mu=area,
                                         lat=lat or None, lon=lon or None)
        except (FormErrors, DomainError) as exc:
            errors = _errors(exc)
            status = exc.status if isinstance(exc, DomainError) else 400
        else:
            flash(_("Plot %(id)s registered.", id=pid), "success")
            return redirect(url_for(".plots"))
    growers = queries.parties(_engine(), a, kinds=[PartyKind.GROWER.value]) if a.is_admin else []
    return render_template("portal/plots.html", plots=queries.plots(_engine(), a), growers=growers, errors=errors,
                           values=request.form), status


@bp.get("/parties")
def parties() -> ResponseReturnValue:
    """The register of parties with their credit status (regulators and administrators)."""
    return _parties_page()


def _parties_page(errors: dict[str, str] | None = None, form: str | None = None, status: int = 200,
                  credit_party: int | None = None) -> ResponseReturnValue:
    try:
        rows = queries.parties(_engine(), _actor())
    except DomainError as exc:
        return _refused(exc)
    return render_template("portal/parties.html", parties=rows, errors=errors or {}, form=form,
                           values=request.form, credit_party=credit_party), status


@bp.post("/parties")
def party_create() -> ResponseReturnValue:
    """Register a party (administrators and regulators)."""
    f = Form(request.form)
    kind = f.raw("kind").strip()
    name = f.text("name", "名称", "Name", required=True, max_len=200)
    uscc = f.text("uscc", "统一社会信用代码", "Credit code", required=True, max_len=28)
    township = f.text("township", "乡镇", "Township", max_len=40)
    phone = f.text("phone", "电话", "Phone", max_len=40)
    address = f.text("address", "地址", "Address", max_len=200)
    try:
        f.check()
        pid = _trace().register_party(_actor(), kind=kind, name=name, uscc=uscc, township=township,
                                      gi_logo=f.raw("gi_logo") == "yes", phone=phone, address=address)
    except (FormErrors, DomainError) as exc:
        status = exc.status if isinstance(exc, DomainError) else 400
        if isinstance(exc, DomainError) and exc.status == 403:
            return _refused(exc)
        return _parties_page(_errors(exc), "create", status)
    flash(_("Party %(name)s registered with id %(id)s.", name=name, id=pid), "success")
    return redirect(url_for(".parties"))


@bp.get("/parties/<int:party_id>/credit")
def party_credit_get(party_id: int) -> ResponseReturnValue:
    """See batch_action_get: back to the list."""
    return redirect(url_for(".parties", _anchor=f"party-{party_id}", **_lang_arg()))


@bp.post("/parties/<int:party_id>/credit")
def party_credit(party_id: int) -> ResponseReturnValue:
    """Put a party on the red or black list or back to normal (regulators)."""
    f = Form(request.form)
    status_code = f.raw("status").strip()
    reason = f.text("reason", "原因", "Reason", required=True, max_len=500)
    try:
        f.check()
        if party_id > queries.MAX_ID:
            raise NotFound("单位不存在。", f"Party {party_id} does not exist.", "party")
        _trace().set_credit(_actor(), party_id, status_code, reason)
    except (FormErrors, DomainError) as exc:
        status = exc.status if isinstance(exc, DomainError) else 400
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            return _refused(exc)
        return _parties_page(_errors(exc), "credit", status, credit_party=party_id)
    flash(_("Credit status recorded."), "success")
    return redirect(url_for(".parties"))


@bp.route("/products", methods=["GET", "POST"])
def products() -> ResponseReturnValue:
    """The GI catalogue; regulators define a product or change its area, months or ceiling."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        f = Form(request.form)
        name_zh = f.text("name_zh", "中文名称", "Chinese name", required=True, max_len=100)
        name_en = f.text("name_en", "英文名称", "English name", required=True, max_len=100)
        gi_ref = f.text("gi_ref", "登记证号", "Registration number", max_len=40)
        ceiling = f.grams("yield_kg_per_mu", "每亩产量上限", "Yield ceiling per mu")
        months = _months(f)
        area = _area(f)
        try:
            f.check()
            _trace().define_product(_actor(), id=f.raw("id").strip(), name_zh=name_zh, name_en=name_en, gi_ref=gi_ref,
                                    gtin=f.raw("gtin").strip() or None, harvest_months=months, yield_g_per_mu=ceiling,
                                    lot_prefix=f.raw("lot_prefix").strip().upper(), area=area)
        except (FormErrors, DomainError) as exc:
            if isinstance(exc, DomainError) and exc.status == 403:
                return _refused(exc)
            errors = _errors(exc)
            status = exc.status if isinstance(exc, DomainError) else 400
        else:
            flash(_("Product %(name)s recorded in the log.", name=name_zh), "success")
            return redirect(url_for(".products"))
    return render_template("portal/products.html", products=queries.product_details(_engine()), errors=errors,
                           values=request.form), status


def _months(f: Form) -> list[int]:
    raw = re.split(r"[\s,，、]+", normalize(f.raw("harvest_months")))
    if not all(x.isdigit() for x in raw if x) or not any(raw):
        f._fail(InvalidInput("采收月份应写成数字，如 9,10。", "Harvest months must be numbers such as 9,10.", "harvest_months"))
        return []
    return [int(x) for x in raw if x]


def _area(f: Form) -> list[tuple[str, str]]:
    """One place per line: 'township village', or 'township *' for the whole township."""
    places = []
    for n, line in enumerate(f.raw("area").splitlines(), 1):
        parts = line.replace("\u3000", " ").split()
        if not parts:
            continue
        if len(parts) != 2 or text_problem(line, "保护范围", "Protected area", "area"):
            f._fail(InvalidInput(f"保护范围第 {n} 行应为“乡镇 村”或“乡镇 *”。",
                                 f"Line {n} of the protected area must be 'township village' or 'township *'.", "area"))
            return []
        places.append((parts[0], parts[1]))
    return places


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    """Logins (administrators): list, create, reset a password."""
    a = _actor()
    errors: dict[str, str] = {}
    status = 200
    form = None
    if request.method == "POST":
        form = request.form.get("form", "create")
        try:
            if form == "reset":
                acc = accounts.reset_password(_engine(), a, username=request.form.get("username"),
                                              new=request.form.get("new"))
                flash(_("New password set for %(user)s; any lock is lifted.", user=acc.username), "success")
            else:
                acc = accounts.create_user(_engine(), a, party_id=request.form.get("party") or None,
                                           username=request.form.get("username"), password=request.form.get("password"),
                                           is_admin=request.form.get("is_admin") == "yes")
                flash(_("User %(user)s created.", user=acc.username), "success")
        except DomainError as exc:
            if exc.status == 403:
                return _refused(exc)
            errors = _errors(exc)
            status = exc.status
        else:
            return redirect(url_for(".users"))
    try:
        rows = accounts.list_users(_engine(), a)
    except DomainError as exc:
        return _refused(exc)
    return render_template("portal/users.html", users=rows, parties=queries.parties(_engine(), a), errors=errors,
                           form=form, values=request.form), status
