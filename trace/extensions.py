"""Flask extensions as module-level objects, bound to the app in create_app()."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, request, session
from flask_babel import Babel, lazy_gettext
from flask_login import LoginManager
from flask_wtf import CSRFProtect

LANGUAGES = ("zh", "en")
babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()


def select_locale() -> str:
    """Chinese first: ?lang= (remembered in the session), else the session, else zh."""
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        return lang
    return session.get("lang") if session.get("lang") in LANGUAGES else "zh"


def init_app(app: Flask) -> None:
    """Bind the extensions."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    _login_config(app)  # first, so that its CSRF token lifetime is not Flask-WTF's default
    csrf.init_app(app)
    login_manager.init_app(app)
    app.jinja_env.globals["current_lang"] = lambda: select_locale() if request else "zh"


def _login_config(app: Flask) -> None:
    """Session cookies: HttpOnly, SameSite=Lax, Secure when the site is served over https."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if str(app.config.get("TRACE_PUBLIC_URL", "")).startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.setdefault("TRACE_SESSION_HOURS", 12)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["TRACE_SESSION_HOURS"]))
    # A form filled in slowly in an orchard must not expire before the session does (default: 1 h).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(app.config["TRACE_SESSION_HOURS"]) * 3600)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please log in to use the portal.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
