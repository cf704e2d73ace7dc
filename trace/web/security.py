"""What every response of the app carries, whatever blueprint made it: security headers, the
client's real address and scheme behind trusted proxies, and Secure cookies over HTTPS.

* Headers: a Content-Security-Policy (scripts only from this site, and WebAssembly for the
  package scanner; no inline script, no other origin, no framing), nosniff, no Referer (package
  URLs hold secret serials), and HSTS over HTTPS. A view that sets its own (the consumer pages:
  no script at all) keeps its own.
* Proxies: with TRACE_PROXY_HOPS = n (the number of reverse proxies in front of the app, each
  appending to X-Forwarded-*), werkzeug's ProxyFix takes the client address, scheme and host from
  those headers, so throttling counts the real client and HTTPS is known to be HTTPS. With 0 (the
  default) the headers are ignored: anyone could forge them.
* Cookies: Secure when TRACE_PUBLIC_URL is https, or when the request itself came over HTTPS."""
from __future__ import annotations

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# The portal's pages: the scanner's script and its WebAssembly decoder from this site, the camera.
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure also when this request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure by configuration, or because this request is HTTPS (behind ProxyFix too)."""
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


_LOWER = tuple((name.lower(), name, value) for name, value in HEADERS.items())


def _headers(resp: Response) -> Response:
    # One pass over the response's headers (this runs on every request, the trivial one too).
    present = {k.lower() for k in resp.headers.keys()}
    for lower, name, value in _LOWER:
        if lower not in present:
            resp.headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        resp.headers.add("Strict-Transport-Security", HSTS)
    return resp


def init_app(app: Flask) -> None:
    """Headers on every response; ProxyFix when proxies are configured; the session interface."""
    hops = int(app.config.get("TRACE_PROXY_HOPS", 0) or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.session_interface = SessionInterface()
    app.after_request(_headers)
