"""Flask extensions as module-level objects, bound to the app in create_app()."""
from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel
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
    csrf.init_app(app)
    login_manager.init_app(app)
    app.jinja_env.globals["current_lang"] = lambda: select_locale() if request else "zh"
