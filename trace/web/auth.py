"""Login, logout and password change.

A session carries the user id, the user's session version and a fingerprint of the password
hash, all checked on every request: logout and a password change bump the version, so they end
every session of that user on every device, however long its cookie would still live. A login
from a device that logged in to the same username before carries a signed device cookie, and is
throttled by that device's own failures only (see trace.domain.throttle)."""
from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from trace import services
from trace.domain import accounts
from trace.domain.errors import DomainError
from trace.extensions import login_manager

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


class SessionUser(UserMixin):
    """Flask-Login's view of an account."""

    def __init__(self, account: accounts.Account) -> None:
        self.account = account

    def get_id(self) -> str:
        """User id, session version and password fingerprint (see Account.session_id)."""
        return self.account.session_id


@login_manager.user_loader
def load_user(session_id: str) -> SessionUser | None:
    """The user of a session, unless it logged out or changed its password since it began."""
    uid, _sep, rest = session_id.partition(":")
    if not uid.isdigit() or len(uid) > 10:
        return None
    account = accounts.load(services.get().engine, int(uid))
    if account is None or account.session_id != session_id:
        return None
    return SessionUser(account)


DEVICE_COOKIE = "trace_device"
DEVICE_DAYS = 180


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="trace login device")


def _device_for(username: str) -> str | None:
    """The id of this device if it logged in to `username` before (its signed cookie says so)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 400:
        return None
    try:
        data = _devices().loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != accounts.normalize_username(username) or not isinstance(data.get("d"), str):
        return None
    return data["d"]


def _remember_device(resp: Response, username: str) -> None:
    value = _devices().dumps({"u": username, "d": _device_for(username) or secrets.token_urlsafe(16)})
    resp.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
                    secure=current_app.session_interface.get_cookie_secure(current_app), path=url_for("auth.login"))


def client() -> str:
    """The client's address (ProxyFix has put the real one here when the app is behind proxies)."""
    return request.remote_addr or "unknown"


def lang() -> str:
    """The language of the current request, 'zh' or 'en'."""
    return str(get_locale() or "zh")


def message(exc: DomainError) -> str:
    """A domain error in the user's language."""
    return exc.message(lang())


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect after login would be a phishing aid.
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or not target.isprintable() or len(target) > 500):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _fresh_session() -> None:
    # A new session at login and logout (no fixation), keeping only the chosen language.
    keep = session.get("lang")
    session.clear()
    if keep:
        session["lang"] = keep


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form."""
    nxt = _safe_next(request.values.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(nxt or url_for("portal.dashboard"))
    errors: dict[str, str] = {}
    username = request.form.get("username", "")[:60] if request.method == "POST" else ""
    status = 200
    if request.method == "POST":
        try:
            account = accounts.authenticate(services.get().engine, request.form.get("username"), request.form.get("password"),
                                            client=client(), device=_device_for(username))
        except DomainError as exc:
            errors[exc.field or "password"] = message(exc)
            status = exc.status
            # For the operator: repeated failures from one address are a guessing attack.
            log.warning("login refused for %r from %s: %s", username, client(), exc.en)
            if isinstance(exc, accounts.TooManyAttempts):
                resp = current_app.make_response((render_template(
                    "auth/login.html", errors=errors, username=username, next=nxt, free_tries=accounts.FREE_TRIES,
                    max_wait=accounts.MAX_WAIT_MINUTES), status))
                resp.headers["Retry-After"] = str(exc.seconds)
                return resp
        else:
            _fresh_session()
            login_user(SessionUser(account))
            session.permanent = True
            log.info("login %s (%s) from %s", account.username, account.role, client())
            resp = redirect(nxt or url_for("portal.dashboard"))
            _remember_device(resp, account.username)
            return resp
    return render_template("auth/login.html", errors=errors, username=username, next=nxt,
                           free_tries=accounts.FREE_TRIES, max_wait=accounts.MAX_WAIT_MINUTES), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End every session of this user, on every device (POST only: a link could be forged by
    another site)."""
    if current_user.is_authenticated:
        accounts.end_sessions(services.get().engine, current_user.account.id)
    logout_user()
    _fresh_session()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    """Change one's own password."""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            account = accounts.change_password(services.get().engine, current_user.account.id,
                                               current=request.form.get("current", ""), new=request.form.get("new", ""),
                                               confirm=request.form.get("confirm", ""), client=client())
        except DomainError as exc:
            errors[exc.field or "new"] = message(exc)
            status = exc.status
        else:
            # Re-issue this session with the new fingerprint; every other session is now invalid.
            _fresh_session()
            login_user(SessionUser(account))
            session.permanent = True
            flash(_("Your password has been changed. Other devices have been logged out."), "info")
            return redirect(url_for("portal.dashboard"))
    return render_template("auth/password.html", errors=errors, min_length=accounts.MIN_PASSWORD), status


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError) -> ResponseReturnValue:
    """A form without a valid CSRF token: explain, write nothing."""
    return render_template("portal/refused.html", title=_("The form has expired"),
                           message=_("The form was not accepted because its security token is missing or has expired. "
                                     "Go back, reload the page and try again.")), 400
