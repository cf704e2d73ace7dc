"""Public, no login: a consumer's report (from the "code not registered" page or a genuine
package's page) becomes a case on the bureau's desk, and the current quality-credit list.

Reports have their own rate limit per client (a small bucket), separate from code lookups: a
flood of reports never blocks anyone's package page, and a blocked reporter still sees every
page. A phone number and a photo go to the bureau only, never into the log."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import gettext as _

from trace import services
from trace.domain import cases
from trace.domain.errors import DomainError
from trace.domain.queries.credit import public_credit_list
from trace.extensions import csrf
from trace.web.public_limits import TokenBuckets, client_address

MAX_UPLOAD = cases.MAX_PHOTO + 64 * 1024
DEFAULT_REPORT_LIMIT = (5, 1 / 600)  # five at once, then one every ten minutes
HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
           "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}


def _buckets() -> TokenBuckets:
    ext = current_app.extensions
    found = ext.get("trace_report_limiter")
    if found is None:
        burst, rate = current_app.config.get("TRACE_REPORT_LIMIT", DEFAULT_REPORT_LIMIT)
        found = ext.setdefault("trace_report_limiter", TokenBuckets(burst, rate))
    return found


def _page(template: str, status: int = 200, **context: object) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html", headers=HEADERS)


def register(bp: Blueprint) -> None:
    """Add the report and credit-list routes to the public blueprint."""

    @bp.post("/cases")
    def report_case() -> Response:
        """Receive a consumer's report: kind, message, optional place, phone and photo."""
        form = request.form
        code = (form.get("code") or "")[:200]
        context = {"code": code, "values": form, "kinds": cases.KIND_NAMES}
        if (request.content_length or 0) > MAX_UPLOAD:
            return _page("public/case_form_page.html", 413, error=_("The photo is too large: at most %(mb)s MB.",
                                                                    mb=cases.MAX_PHOTO // (1024 * 1024)), **context)
        client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                int(current_app.config.get("TRACE_PROXY_HOPS", 0)))
        wait = _buckets().take(client)
        if wait:
            resp = _page("public/case_form_page.html", 429, error=_("You have sent several reports just now. Please try "
                                                                    "again in %(n)s minutes.", n=max(1, int(wait // 60) + 1)),
                         **context)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        upload = request.files.get("photo")
        photo = upload.read(cases.MAX_PHOTO + 1) if upload is not None and upload.filename else None
        try:
            number = cases.submit(services.get().engine, package_id=None, code=code, kind=form.get("kind"),
                                  message=form.get("message"), place=form.get("place"), phone=form.get("phone"),
                                  photo=photo, client=client)
        except DomainError as exc:
            from trace.extensions import select_locale

            return _page("public/case_form_page.html", exc.status, error=exc.message(select_locale()), **context)
        return _page("public/case_sent.html", 201, number=number)

    # A report carries no session and changes nothing of anyone's: there is no cross-site request
    # to forge (a token would also make the package page, which holds the form, uncacheable).
    csrf.exempt(report_case)

    @bp.get("/cases/new")
    def new_case() -> Response:
        """The report form on its own page (linked from the report page)."""
        return _page("public/case_form_page.html", code=(request.args.get("code") or "")[:200], values={},
                     kinds=cases.KIND_NAMES, error=None)

    @bp.get("/credit")
    def credit() -> Response:
        """The quality-credit red and black lists in force today, and why."""
        lists = public_credit_list(services.get().engine)
        resp = _page("public/credit.html", lists=lists)
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp
