"""Traceability ledger for the geographical-indication fruit of Shapotou, Zhongwei, Ningxia."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI. No queries, no I/O beyond config."""
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{os.path.join(app.instance_path, 'trace.db')}",
        TRACE_PUBLIC_URL=os.environ.get("TRACE_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
        TRACE_LOG_ORIGIN=os.environ.get("TRACE_LOG_ORIGIN", "shapotou.trace.example/log"),
        TRACE_KEY_FILE=os.environ.get("TRACE_KEY_FILE") or os.path.join(app.instance_path, "log.key"),
        SECRET_KEY_FILE=os.path.join(app.instance_path, "secret_key"),
        JSON_AS_ASCII=False,
    )
    # Every other TRACE_* setting may come from the environment too (integers as integers).
    for key, value in os.environ.items():
        if key.startswith("TRACE_") and key not in app.config and not key.startswith("TRACE_TEST"):
            app.config[key] = int(value) if value.isdigit() else value
    if test_config is not None:
        app.config.from_mapping(test_config)
    from trace import cli, extensions, services
    from trace.web import audit, auth, portal, public, tiles

    services.init_app(app)
    extensions.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(audit.bp)
    cli.init_app(app)
    return app
