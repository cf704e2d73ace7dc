"""Wiring: the engine, the ledger with its signing key and the domain service of one app."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from trace.clock import FollowingClock, parse_typed
from trace.db import make_engine, make_scan_engine
from trace.domain.commands import Trace
from trace.domain.scans import ScanCounter
from trace.ledger.note import NoteSigner, generate_private_key
from trace.ledger.store import Ledger


@dataclass
class Services:
    """Lazily built per-app objects; building them touches no database."""

    database_url: str
    origin: str
    key_file: str
    demo_clock: str | None = None  # TRACE_DEMO_CLOCK: a demo records from this day on in its own time

    @cached_property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return make_engine(self.database_url)

    @cached_property
    def signer(self) -> NoteSigner:
        """The log's Ed25519 signer, its key generated into the instance folder on first use."""
        return NoteSigner(ensure_key(self.key_file, self.origin))

    @cached_property
    def ledger(self) -> Ledger:
        """The log."""
        return Ledger(self.origin, self.signer)

    @cached_property
    def trace(self) -> Trace:
        """The domain's command service. With TRACE_DEMO_CLOCK=YYYY-MM-DD it records each command
        at the time the command says it happened (trace.clock.FollowingClock; one that says none,
        now): every entry then says it is demo data, and so does every page. For demos and tests
        that record a past season; never for real records."""
        if self.demo_clock:
            return Trace(self.engine, self.ledger, clock=FollowingClock(parse_typed(str(self.demo_clock)), untimed_now=True))
        return Trace(self.engine, self.ledger)

    @cached_property
    def scans(self) -> ScanCounter:
        """The scan counter of package codes, on connections of its own."""
        return ScanCounter(*make_scan_engine(self.engine))


def ensure_key(path: str, name: str) -> str:
    """Read the private signing key, creating it with mode 0600 if it does not exist yet."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    key = generate_private_key(name)
    # O_EXCL: two processes starting at once must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key


def ensure_secret(path: str) -> str:
    """The Flask session secret, kept in the instance folder with mode 0600, never in the repo."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        value = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value + "\n")
        return value


def init_app(app: Flask) -> None:
    """Attach the services to the app."""
    app.extensions["trace"] = Services(app.config["DATABASE_URL"], app.config["TRACE_LOG_ORIGIN"], app.config["TRACE_KEY_FILE"],
                                       app.config.get("TRACE_DEMO_CLOCK"))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or ensure_secret(app.config["SECRET_KEY_FILE"])


def get() -> Services:
    """The services of the current app."""
    return current_app.extensions["trace"]
