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
from trace.ledger import keyfile
from trace.ledger.note import NoteSigner, generate_private_key
from trace.ledger.signer import SignerRecord
from trace.ledger.store import Ledger
from trace.ledger.witnessing import Cosigning, WitnessConfig, parse_witnesses


@dataclass
class Services:
    """Lazily built per-app objects; building them touches no database."""

    database_url: str
    origin: str
    key_file: str
    record_file: str = ""  # the signer's record, beside the key (default: key file + ".record")
    witnesses_spec: str = ""  # TRACE_WITNESSES: "vkey url" entries the log asks to cosign
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
        """The log; with witnesses configured, each committed checkpoint wakes the cosigning thread."""
        ledger = Ledger(self.origin, self.signer, record=SignerRecord(self.record_file or self.key_file + ".record"))
        if self.witnesses:
            ledger.on_checkpoint = lambda: self.cosigning.notify()
        return ledger

    @cached_property
    def witnesses(self) -> list[WitnessConfig]:
        """The witnesses the log asks to cosign its checkpoints."""
        return parse_witnesses(self.witnesses_spec)

    @cached_property
    def cosigning(self) -> Cosigning:
        """The witness client (its thread starts on the first checkpoint it is told about)."""
        return Cosigning(self.engine, self.ledger, self.witnesses)

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
    return keyfile.ensure(path, lambda: generate_private_key(name))


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
                                       app.config.get("TRACE_SIGNER_RECORD", ""), str(app.config.get("TRACE_WITNESSES", "")),
                                       demo_clock=app.config.get("TRACE_DEMO_CLOCK"))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or ensure_secret(app.config["SECRET_KEY_FILE"])


def get() -> Services:
    """The services of the current app."""
    return current_app.extensions["trace"]
