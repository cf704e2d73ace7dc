"""Login, logout and password change. Sessions carry the user id and a fingerprint of the
password hash, so changing the password ends every other session of that user."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

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
        """User id and password fingerprint: a changed password invalidates the session."""
        return f"{self.account.id}:{self.account.fingerprint}"


@login_manager.user_loader
def load_user(session_id: str) -> SessionUser | None:
    """The user of a session, unless the password changed since it began."""
    uid, _sep, fp = session_id.partition(":")
    if not uid.isdigit() or len(uid) > 10:
        return None
    account = accounts.load(services.get().engine, int(uid))
    if account is None or account.fingerprint != fp:
        return None
    return SessionUser(account)


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
            account = accounts.authenticate(services.get().engine, request.form.get("username"), request.form.get("password"))
        except DomainError as exc:
            errors[exc.field or "password"] = message(exc)
            status = exc.status
            # For the operator: repeated failures from one address are a guessing attack.
            log.warning("login refused for %r from %s: %s", username, request.remote_addr, exc.en)
        else:
            _fresh_session()
            login_user(SessionUser(account))
            session.permanent = True
            log.info("login %s (%s) from %s", account.username, account.role, request.remote_addr)
            return redirect(nxt or url_for("portal.dashboard"))
    return render_template("auth/login.html", errors=errors, username=username, next=nxt,
                           max_failures=accounts.MAX_FAILURES, lock_minutes=accounts.LOCK_MINUTES), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (POST only: a link could be forged by another site)."""
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
                                               confirm=request.form.get("confirm", ""))
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
