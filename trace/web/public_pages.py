"""The pages a consumer reaches by scanning a package's QR code, and the lot pages.

Routes (all public, no login), registered on the `public` blueprint by `register(bp)`:

* ``/01/{gtin}/10/{lot}/21/{serial}``, ``/01/{gtin}/21/{serial}`` and ``/p/{serial}``: a package
  (GS1 Digital Link or short form; the same page). ``Accept: application/json`` gives the same
  facts as JSON, ``Accept: application/linkset+json`` or ``?linkType=linkset`` an RFC 9264 linkset
  in GS1's shape; other GS1 link types (``?linkType=gs1:certificationInfo`` ...) redirect.
* ``/01/{gtin}/10/{lot}`` and ``/lot/{lot}``: a lot.
* ``/p/{serial}/proof`` and ``/lot/{lot}/proof``: the "verify it yourself" JSON bundle.
* ``/``: the start page (scan or type a code, the GI products, the red and black lists, the
  signed checkpoint, the way into the portal); ``/log/entries/{i}/view``: one entry in words with
  its inclusion proof.
* ``/verify`` (type a code from a label), ``/report`` (report a suspect package), ``/healthz``.

Views parse the request, call trace.domain.queries.public and render; the domain knows no HTTP.
"""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup, escape

from trace import services
from trace.clock import CHINA
from trace.db import read_session
from trace.domain import identifiers, scans
from trace.domain.errors import DomainError
from trace.domain.messages import N_, render
from trace.domain.queries import home as home_facts
from trace.domain.queries import public as consumer
from trace.domain.queries.credit import beijing_day
from trace.domain.queries.public import LRU, CheckpointError, ConsumerView, LotRef, PackageRef
from trace.web.public_limits import (
    DEFAULT_LOOKUP_LIMIT,
    DEFAULT_MISS_LIMIT,
    LookupLimiter,
    client_address,
)

GS1 = "https://gs1.org/voc/"
LINKSET = "application/linkset+json"
# The page holds a secret serial in its URL: never send it on as a Referer. The only script is
# our own static/monitor.js, which talks only to this site's log API.
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
DEFAULTS = {
    "TRACE_COPY_CLIENTS": 5,  # distinct clients after sale from which a code counts as copied
    "TRACE_LOOKUP_LIMIT": DEFAULT_LOOKUP_LIMIT,
    "TRACE_MISS_LIMIT": DEFAULT_MISS_LIMIT,
    "TRACE_PUBLIC_CACHE": 1024,  # journeys (and rendered pages) kept per process
    "TRACE_PROXY_HOPS": 0,
    "TRACE_REPORT_URL": "https://www.12315.cn/",
    "TRACE_REPORT_PHONE": "12315",
}


# -- per-app objects ---------------------------------------------------------------------------


def _conf(key: str) -> Any:
    return current_app.config.get(key, DEFAULTS[key])


def view() -> ConsumerView:
    """The app's ConsumerView (facts and proof caches), built on first use."""
    ext = current_app.extensions
    v = ext.get("trace_public_view")
    if v is None:
        svc = services.get()
        v = ext.setdefault("trace_public_view", ConsumerView(svc.engine, svc.ledger, svc.signer.vkey, svc.scans,
                                                             cache_size=int(_conf("TRACE_PUBLIC_CACHE"))))
    return v


def _html_cache() -> LRU:
    ext = current_app.extensions
    cache = ext.get("trace_public_html")
    if cache is None:
        cache = ext.setdefault("trace_public_html", LRU(int(_conf("TRACE_PUBLIC_CACHE"))))
    return cache


def limiter() -> LookupLimiter:
    """The app's lookup limiter (in this process's memory)."""
    ext = current_app.extensions
    lim = ext.get("trace_public_limiter")
    if lim is None:
        lim = ext.setdefault("trace_public_limiter", LookupLimiter(_conf("TRACE_LOOKUP_LIMIT"), _conf("TRACE_MISS_LIMIT")))
    return lim


def _mark_secret() -> bytes:
    # A key of its own, derived from the app secret: the marks cannot be recomputed without it.
    return hashlib.sha256(b"trace scan marks\x00" + str(current_app.config["SECRET_KEY"]).encode()).digest()


def _mark(now: datetime) -> str:
    """This client's scan mark for today (see scans.client_mark), remembered briefly."""
    client, day = _client(), now.astimezone(CHINA).date()
    marks = current_app.extensions.get("trace_public_marks")
    if marks is None:
        marks = current_app.extensions.setdefault("trace_public_marks", LRU(4096))
    mark = marks.get((client, day))
    if mark is None:
        mark = scans.client_mark(_mark_secret(), client, now)
        marks.put((client, day), mark)
    return mark


def _client() -> str:
    # Behind TRACE_PROXY_HOPS proxies, ProxyFix (trace.web.security) has put the client's address here.
    return client_address(request.remote_addr, None, 0)


def _base() -> str:
    return current_app.config["TRACE_PUBLIC_URL"].rstrip("/")


# -- negotiation and error pages ------------------------------------------------------------------


def _wants() -> str:
    """html, json or linkset: ?linkType=linkset|all, else the Accept header (HTML by default)."""
    if request.args.get("linkType") in ("linkset", "all"):
        return "linkset"
    accept = request.headers.get("Accept", "")
    if not accept or accept.startswith("text/html"):  # phones' browsers, and the quick answer
        return "html"
    best = request.accept_mimetypes.best_match(["text/html", "application/json", LINKSET], default="text/html")
    return {"application/json": "json", LINKSET: "linkset"}.get(best, "html")


def _page(body: str, status: int = 200, extra: dict[str, str] | None = None) -> Response:
    headers = {**PAGE_HEADERS, "Cache-Control": "no-store", "Vary": "Accept", **(extra or {})}
    return Response(body, status=status, mimetype="text/html", headers=headers)


def _json(data: Any, status: int = 200, mimetype: str = "application/json", cache: str = "no-store") -> Response:
    resp = jsonify(data)
    resp.status_code = status
    resp.mimetype = mimetype
    resp.headers["Cache-Control"] = cache
    resp.headers["Access-Control-Allow-Origin"] = "*"  # GS1 resolvers SHALL support CORS
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.vary.add("Accept")
    return resp


def _lang() -> str:
    from trace.extensions import select_locale

    return select_locale()


def _error(kind: str, status: int, fmt: str, message: str = "", code: str = "", retry: int = 0) -> Response:
    """A clear page (or JSON) for a code that is malformed (400), unknown (404) or rate-limited (429)."""
    extra = {"Retry-After": str(retry)} if retry else None
    if fmt != "html":
        data = {"status": {"400": "invalid", "404": "unknown", "429": "rate_limited"}[str(status)],
                "error": message or kind, "report_url": _conf("TRACE_REPORT_URL")}
        resp = _json(data, status)
        if extra:
            resp.headers.update(extra)
        return resp
    html = render_template(f"public/{kind}.html", message=message, code=code[:40], retry_minutes=max(1, -(-retry // 60)),
                           report_url=_conf("TRACE_REPORT_URL"), report_phone=_conf("TRACE_REPORT_PHONE"))
    return _page(html, status, extra)


def _bad(exc: DomainError, fmt: str, raw: str) -> Response:
    limiter().miss(_client())
    return _error("invalid", 400, fmt, exc.message(_lang()), raw)


def _unknown(fmt: str, raw: str) -> Response:
    limiter().miss(_client())
    return _error("unknown", 404, fmt, _("This code is not registered: the package may be counterfeit."), raw)


def _limited(fmt: str) -> Response | None:
    wait = limiter().check(_client())
    if wait:
        return _error("limited", 429, fmt, _("Too many lookups from your network. Please try again later."), retry=wait)
    return None


# -- packages ----------------------------------------------------------------------------------------


def _status(facts: dict[str, Any], scans: dict[str, Any] | None) -> dict[str, Any]:
    status = dict(facts["status"])
    if status["code"] == "genuine" and scans and scans["suspected_copy"]:
        status["code"] = "suspected_copy"
    return status


def _urls(ref: PackageRef | LotRef, facts: dict[str, Any]) -> dict[str, str]:
    """The page's links. Plain paths under the script root, not url_for: this runs on every scan,
    and the code paths are fixed by GS1 Digital Link anyway."""
    root = request.script_root
    proof = f"/p/{ref.serial}/proof" if isinstance(ref, PackageRef) else f"/lot/{ref.lot}/proof"
    return {"self": root + ref.path, "absolute": _base() + ref.path,
            "lot": root + identifiers.lot_path(facts["lot"]["code"], facts["product"]["gtin"]),
            "proof": root + proof, "linkset": root + ref.path + "?linkType=linkset", "report": root + "/report"}


def linkset(ref: PackageRef | LotRef, facts: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """An RFC 9264 linkset in the shape GS1 resolvers return: one context object anchored at the
    Digital Link URI, link relation types from the GS1 Web Vocabulary as keys."""
    base = _base()
    page = base + ref.path
    product = facts["product"]
    title_zh, title_en = product["name_zh"], product["name_en"]
    inspections = facts["inspections"]
    cert_title = "; ".join(f"{i['lab']} {i['report_no']} {'passed' if i['passed'] else 'FAILED'}" for i in inspections) or "no inspection recorded"
    recall = {"genuine": "not recalled", "recalled": f"RECALLED: {status.get('reason', '')}",
              "failed_inspection": "held: failed inspection", "suspected_copy": "not recalled"}.get(status["code"], status["code"])
    proof = base + _urls(ref, facts)["proof"]
    context = {
        "anchor": page,
        "itemDescription": f"{title_zh} {title_en} {facts['lot']['code']}",
        GS1 + "defaultLink": [{"href": page, "title": f"{title_zh} {title_en}", "type": "text/html", "hreflang": ["zh", "en"]}],
        GS1 + "pip": [{"href": page, "title": render(PIP_TITLE, {"product": title_zh}, "zh"), "type": "text/html", "hreflang": ["zh"]},
                      {"href": page + "?lang=en", "title": render(PIP_TITLE, {"product": title_en}, "en"), "type": "text/html", "hreflang": ["en"]},
                      {"href": page, "title": f"{title_en} (JSON)", "type": "application/json"}],
        GS1 + "certificationInfo": [{"href": page + "#inspections", "title": cert_title, "type": "text/html", "hreflang": ["zh", "en"]}],
        GS1 + "recallStatus": [{"href": page + "#status", "title": recall, "type": "text/html", "hreflang": ["zh", "en"]}],
        GS1 + "traceability": [{"href": proof, "title": "Journey entries with inclusion proofs and the signed checkpoint",
                                "type": "application/json"}],
    }
    return {"linkset": [context]}


PIP_TITLE = N_("%(product)s: traceability and product information")  # each linkset title in its own language
LINK_TYPES = {"gs1:certificationInfo": "#inspections", "gs1:recallStatus": "#status", "gs1:pip": "", "gs1:defaultLink": ""}


def _package(raw_serial: str, raw_gtin: str | None = None, raw_lot: str | None = None) -> Response:
    fmt = _wants()
    blocked = _limited(fmt)
    if blocked is not None:
        return blocked
    try:
        gtin = identifiers.normalize_gtin(raw_gtin) if raw_gtin is not None else None
        lot = identifiers.check_lot(raw_lot) if raw_lot is not None else None
        serial = identifiers.normalize_serial(raw_serial)
    except DomainError as exc:
        return _bad(exc, fmt, request.path)
    link_type = request.args.get("linkType")
    # A scan is a GET of the code's URL for a person or an app; a language switch on the page, a
    # HEAD, a linkset or a redirect to one of its links is not another scan.
    counting = (request.method == "GET" and "lang" not in request.args and fmt in ("html", "json")
                and link_type not in ("gs1:traceability", *(k for k, v in LINK_TYPES.items() if v)))
    v = view()
    ref = v.package_ref(serial, fresh=not counting)
    if not _matches(ref, gtin, lot):
        return _unknown(fmt, serial)
    assert ref is not None
    counted = None
    if counting:
        now = datetime.now(UTC)
        raw = v.count_scan(ref.package_id, mark=_mark(now), now=now)
        if raw["size"] != ref.size:  # something was written since we last looked: look again
            ref = v.package_ref(serial, fresh=True)
            if not _matches(ref, gtin, lot):
                return _unknown(fmt, serial)
            assert ref is not None
        counted = scans.scan_summary(raw, copy_threshold=int(_conf("TRACE_COPY_CLIENTS")))
    elif fmt in ("html", "json") and request.method == "GET":  # show the counter, count nothing
        raw = v.peek_scans(ref.package_id)
        counted = scans.scan_summary(raw, copy_threshold=int(_conf("TRACE_COPY_CLIENTS"))) if raw else None
    facts = v.package_facts(ref)
    if fmt == "linkset":
        return _json(linkset(ref, facts, _status(facts, None)), mimetype=LINKSET, cache="public, max-age=60")
    if link_type == "gs1:traceability":
        return redirect(_urls(ref, facts)["proof"], 307)
    if link_type in LINK_TYPES and LINK_TYPES[link_type]:
        return redirect(ref.path + LINK_TYPES[link_type], 307)
    status = _status(facts, counted)
    urls = _urls(ref, facts)
    link = f'<{urls["linkset"]}>; rel="linkset"; type="{LINKSET}", <{urls["absolute"]}>; rel="canonical"'
    if fmt == "json":
        resp = _json(public_json(facts, status, counted, urls))
        resp.headers["Link"] = link
        return resp
    html = _render_cached("public/package.html", ("package", ref.package_id, ref.size, status["code"], counted is not None),
                          facts=facts, status=status, scans=counted, urls=urls,
                          report_phone=_conf("TRACE_REPORT_PHONE"), report_url=_conf("TRACE_REPORT_URL"))
    return _page(html.replace(SCAN_SLOT, scan_line(counted), 1), extra={"Link": link})


SCAN_SLOT = "<!--trace:scan-line-->"


def _anonymous() -> bool:
    # Only pages that depend on nothing but the language may be shared between visitors: no
    # login (_user_id), no flashed messages, no CSRF token. Flask-Login marks any session it
    # cannot tie to a login as not fresh (_fresh), which is still anonymous.
    return set(session.keys()) <= {"lang", "_fresh"}


def _render_cached(template: str, key: tuple[Any, ...], **context: Any) -> str:
    """Render a public page, or reuse its rendering for the same facts, checkpoint and language.
    The scan line, the one part that changes on every request, is left as SCAN_SLOT."""
    if not _anonymous():
        return render_template(template, scan_slot=Markup(SCAN_SLOT), **context)
    full_key = (*key, _lang(), beijing_day())  # a credit status begins or ends with a Beijing day
    cache = _html_cache()
    html = cache.get(full_key)
    if html is None:
        html = render_template(template, scan_slot=Markup(SCAN_SLOT), **context)
        if _anonymous():  # rendering put nothing of this visitor's (a CSRF token, say) in the page
            cache.put(full_key, html)
    return html


def scan_line(scans: dict[str, Any] | None) -> str:
    """The "checked N times, first on DATE" line."""
    if not scans:
        return ""
    if scans["count"] <= 1:
        return _translated('<p class="scans">', N_("This is the first check of this code."))
    # An integer and a date: nothing to escape in what goes into the escaped translation.
    return _translated('<p class="scans">', N_("This code has been checked %(n)s times, first on %(date)s.")) % {
        "n": int(scans["count"]), "date": pub_date(scans["first_at"])}


def _translated(tag: str, msgid: str) -> str:
    """`tag` + the escaped translation of a constant message + its closing tag, remembered per
    app and language: gettext through Flask-Babel costs more than the rest of a cached page."""
    memo = current_app.extensions.setdefault("trace_public_msgs", {})
    key = (_lang(), tag, msgid)
    html = memo.get(key)
    if html is None:
        html = memo[key] = tag + str(escape(_(msgid))) + "</" + tag[1:tag.index(" ")] + ">"
    return html


def _malformed() -> Response:
    fmt = _wants()
    blocked = _limited(fmt)
    if blocked is not None:
        return blocked
    limiter().miss(_client())
    return _error("invalid", 400, fmt, _("This is not a package code we know the shape of: "
                                           "scan the QR code on the package again."), request.path)


def _matches(ref: PackageRef | None, gtin: str | None, lot: str | None) -> bool:
    """Whether a Digital Link's GTIN and lot (when given) are those of the package."""
    return ref is not None and (gtin is None or gtin == ref.gtin) and (lot is None or lot == ref.lot)


def public_json(facts: dict[str, Any], status: dict[str, Any], scans: dict[str, Any] | None, urls: dict[str, str]) -> dict[str, Any]:
    """The page's facts as JSON: the same facts, the status after scan counting, and links."""
    out = {k: v for k, v in facts.items() if k != "status"}
    out["status"] = status
    out["scans"] = scans
    base, root = _base(), len(request.script_root)
    out["links"] = {"self": urls["absolute"], "lot": base + urls["lot"][root:], "proof_bundle": base + urls["proof"][root:],
                    "linkset": base + urls["linkset"][root:], "checkpoint": base + "/log/checkpoint",
                    "verifier_key": base + "/log/key"}
    return out


def _lot(raw_lot: str, raw_gtin: str | None = None) -> Response:
    fmt = _wants()
    blocked = _limited(fmt)
    if blocked is not None:
        return blocked
    try:
        gtin = identifiers.normalize_gtin(raw_gtin) if raw_gtin is not None else None
        lot = identifiers.check_lot(raw_lot)
    except DomainError as exc:
        return _bad(exc, fmt, request.path)
    with services.get().engine.connect() as s:
        ref = consumer.find_lot(s, lot, gtin)
    if ref is None:
        return _unknown(fmt, lot)
    facts = view().lot_facts(ref)
    status = _status(facts, None)
    if fmt == "linkset":
        return _json(linkset(ref, facts, status), mimetype=LINKSET, cache="public, max-age=60")
    urls = _urls(ref, facts)
    if fmt == "json":
        return _json(public_json(facts, status, None, urls), cache="public, max-age=60")
    html = _render_cached("public/lot.html", ("lot", ref.batch_id, ref.size, status["code"]), facts=facts, status=status,
                          scans=None, urls=urls, report_phone=_conf("TRACE_REPORT_PHONE"), report_url=_conf("TRACE_REPORT_URL"))
    resp = _page(html, extra={"Link": f'<{urls["linkset"]}>; rel="linkset"; type="{LINKSET}"'})
    resp.headers["Cache-Control"] = "public, max-age=60"  # no counter on lot pages: a minute is fine
    resp.vary.add("Cookie")
    return resp


def _proof(ref: PackageRef | LotRef | None, raw: str, name: str) -> Response:
    if ref is None:
        return _unknown("json", raw)
    bundle = view().bundle(ref, _base())
    resp = _json(bundle, cache="no-store")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}-proof.json"'
    return resp


# -- registration --------------------------------------------------------------------------------------


def register(bp: Blueprint) -> None:
    """Add the consumer routes and template filters to the public blueprint."""

    @bp.errorhandler(CheckpointError)
    def checkpoint_broken(exc: CheckpointError) -> Response:
        """The log's own signature does not verify: say so plainly rather than vouch for anything."""
        current_app.logger.error("public page: %s", exc)
        if _wants() != "html":
            return _json({"status": "unavailable", "error": "the latest checkpoint does not verify"}, 503)
        return _page(render_template("public/unavailable.html"), 503, {"Retry-After": "300"})

    @bp.get("/01/<gtin>/10/<lot>/21/<serial>")
    def package_dl(gtin: str, lot: str, serial: str) -> Response:
        """A package by its GS1 Digital Link."""
        return _package(serial, gtin, lot)

    @bp.get("/01/<gtin>/21/<serial>")
    def package_dl_serial(gtin: str, serial: str) -> Response:
        """A package by a GS1 Digital Link without the (optional) lot."""
        return _package(serial, gtin)

    @bp.get("/p/<serial>")
    def package(serial: str) -> Response:
        """A package by its short URL."""
        return _package(serial)

    @bp.get("/01/<gtin>/10/<lot>")
    def lot_dl(gtin: str, lot: str) -> Response:
        """A lot by its GS1 Digital Link."""
        return _lot(lot, gtin)

    @bp.get("/lot/<lot>")
    def lot(lot: str) -> Response:
        """A lot by its code."""
        return _lot(lot)

    @bp.get("/01/<path:rest>")
    @bp.get("/p/<path:rest>")
    @bp.get("/lot/<path:rest>")
    def malformed(rest: str) -> Response:
        """Any other code path: a GS1 resolver answers a malformed Digital Link with 400, and so
        do we for the short forms, with the same clear page."""
        return _malformed()

    @bp.get("/01/")
    @bp.get("/p/")
    @bp.get("/lot/")
    def malformed_empty() -> Response:
        """A code path with no code at all."""
        return _malformed()

    @bp.get("/p/<serial>/proof")
    def package_proof(serial: str) -> Response:
        """The verify-it-yourself bundle of a package."""
        blocked = _limited("json")
        if blocked is not None:
            return blocked
        try:
            sn = identifiers.normalize_serial(serial)
        except DomainError as exc:
            return _bad(exc, "json", serial)
        with services.get().engine.connect() as s:
            ref = consumer.find_package(s, sn)
        return _proof(ref, sn, ref.lot if ref else "package")

    @bp.get("/lot/<lot>/proof")
    def lot_proof(lot: str) -> Response:
        """The verify-it-yourself bundle of a lot."""
        blocked = _limited("json")
        if blocked is not None:
            return blocked
        try:
            code = identifiers.check_lot(lot)
        except DomainError as exc:
            return _bad(exc, "json", lot)
        with services.get().engine.connect() as s:
            ref = consumer.find_lot(s, code)
        return _proof(ref, code, code)

    @bp.get("/")
    def home() -> Response:
        """The start page, Chinese first: check a code, the GI products, the credit lists, the log."""
        v = view()
        with read_session(services.get().engine) as s:
            facts = home_facts.home(v, s)
        size = facts["checkpoint"]["size"] if facts["checkpoint"] else None
        html = _render_cached("public/home.html", ("home", size), home=facts, report_url=_conf("TRACE_REPORT_URL"),
                              report_phone=_conf("TRACE_REPORT_PHONE"))
        return _page(html)

    @bp.get("/log/entries/<index>/view")
    def entry_view(index: str) -> Response:
        """One log entry in words, with its inclusion proof checked against the signed checkpoint."""
        if not (index.isascii() and index.isdigit()) or len(index) > 18:
            return _error("invalid", 400, "html", _("An entry number is a whole number, such as 29."), index)
        try:
            with read_session(services.get().engine) as s:
                facts = home_facts.entry_view(view(), s, int(index))
        except home_facts.EntryNotFound:
            return _page(render_template("public/unknown_entry.html", index=int(index)), 404)
        html = _render_cached("public/entry.html", ("entry", facts["index"], facts["size"]), e=facts,
                              report_url=_conf("TRACE_REPORT_URL"), report_phone=_conf("TRACE_REPORT_PHONE"))
        resp = _page(html)
        resp.headers["Cache-Control"] = "public, max-age=60"
        resp.vary.add("Cookie")
        return resp

    @bp.get("/verify")
    def lookup() -> Response:
        """Type the code printed under the QR code; goes to the package's page."""
        code = (request.args.get("code") or "").strip()
        if not code:
            return _page(render_template("public/lookup.html", message="", code=""))
        try:
            serial = identifiers.normalize_serial(code)
        except DomainError as exc:
            return _page(render_template("public/lookup.html", message=exc.message(_lang()), code=code[:40]), 400)
        return redirect(url_for("public.package", serial=serial), 303)

    @bp.get("/report")
    def report() -> Response:
        """How to report a suspect package to the market supervision authority."""
        return _page(render_template("public/report.html", code=(request.args.get("code") or "")[:40],
                                     report_url=_conf("TRACE_REPORT_URL"), report_phone=_conf("TRACE_REPORT_PHONE")))

    @bp.get("/healthz")
    def healthz() -> Response:
        """Liveness: no database, no template (also the benchmark's trivial route)."""
        return Response("ok\n", mimetype="text/plain")

    bp.add_app_template_filter(pub_time, "pub_time")
    bp.add_app_template_filter(pub_date, "pub_date")
    bp.add_app_template_filter(weight, "pub_weight")
    bp.add_app_template_filter(temperature, "pub_temp")


def pub_time(value: str | None) -> str:
    """An RFC 3339 time as Beijing time, to the minute."""
    t = _parse(value)
    return t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if t else ""


def pub_date(value: str | None) -> str:
    """An RFC 3339 time as a Beijing date."""
    t = _parse(value)
    return t.astimezone(CHINA).strftime("%Y-%m-%d") if t else ""


def temperature(tenths: int | None) -> str:
    """Integer tenths of a degree Celsius."""
    if tenths is None:
        return ""
    sign = "-" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    return f"{sign}{whole}.{frac} °C"


def weight(grams: int | None) -> str:
    """Integer grams as kilograms or tonnes, without a float."""
    if grams is None:
        return ""
    if grams < 1000:
        return f"{grams} g"
    unit, div = ("t", 1_000_000) if grams >= 10_000_000 else ("kg", 1000)
    whole, rest = divmod(grams, div)
    frac = f"{rest:0{len(str(div)) - 1}d}"[:3].rstrip("0")
    return f"{whole:,}.{frac} {unit}" if frac else f"{whole:,} {unit}"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
