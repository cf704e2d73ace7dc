"""Helpers shared by the portal's tests: users, logging in through the real form, posting forms
with the CSRF token the page gave us, and a scenario with a batch in every kind of custody.

(No tests here; the name only keeps the file among the portal's own test files.)"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from trace.clock import CHINA
from trace.db import read_session
from trace.domain import accounts
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.tables.batches import BatchEvent
from trace.ledger.store import Ledger

PASSWORD = "correct horse battery"
SEASON = 2025


def t(month: int, day: int, hour: int = 9) -> datetime:
    """A time in the test season, Beijing time (as conftest's t)."""
    return datetime(SEASON, month, day, hour, tzinfo=CHINA)
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES = ("grower", "processor", "cold", "carrier", "retailer", "bureau", "admin")


def add_user(svc: Any, party_id: int | None, username: str, *, is_admin: bool = False, password: str = PASSWORD) -> int:
    """A login made by the system (a `user.create` entry), hashed with a cheap KDF: tests log in
    hundreds of times, and the production hash (scrypt) is tested in test_accounts.py."""
    return accounts.create_user(svc.trace, SYSTEM, party_id=party_id, username=username, password=password,
                                is_admin=is_admin,
                                password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000")).id


def token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    m = TOKEN_RE.search(html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


class Portal:
    """A test client that behaves like a browser: it GETs a page, then posts its form with the token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf: str | None = None

    def get(self, url: str, **kw: Any) -> TestResponse:
        """GET a page, remembering the CSRF token of its forms."""
        r = self.client.get(url, buffered=True, **kw)
        if r.mimetype == "text/html":
            m = TOKEN_RE.search(r.get_data(as_text=True))
            if m:
                self.csrf = m.group(1)
        return r

    def login(self, username: str, password: str = PASSWORD, *, expect: int = 302) -> TestResponse:
        """Log in through the form."""
        self.get("/login")
        r = self.client.post("/login", data={"username": username, "password": password, "csrf_token": self.csrf})
        assert r.status_code == expect, r.get_data(as_text=True)[:3000]
        if expect == 302:
            self.get("/portal/")
        return r

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """POST a form with the token from the last page."""
        if self.csrf is None:
            self.get("/portal/")
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf}, buffered=True, **kw)

    def act(self, batch_id: int, action: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """POST one of the batch page's forms."""
        return self.post(f"/portal/batch/{batch_id}/{action}", data, **kw)


def text(r: TestResponse) -> str:
    """The response body as text."""
    return r.get_data(as_text=True)


def log_size(svc: Any) -> int:
    """Entries in the log."""
    with read_session(svc.engine) as s:
        return Ledger.size(s)


def last_event(svc: Any) -> dict[str, Any]:
    """The last log entry, decoded."""
    import json

    with read_session(svc.engine) as s:
        n = Ledger.size(s)
        return json.loads(Ledger.entry(s, n - 1))


def entry_of(svc: Any, batch_id: int, kind: str) -> int:
    """The log index of a batch's first event of a kind."""
    from sqlalchemy import select

    with read_session(svc.engine) as s:
        return s.scalars(select(BatchEvent.entry).where(BatchEvent.batch_id == batch_id, BatchEvent.kind == kind)
                         .order_by(BatchEvent.entry)).first()  # type: ignore[return-value]


@dataclass
class Scenario:
    """Who holds what: `own[role]` are batches that role holds (one per allowed action), `transit`
    was shipped by the grower to the processor and not received yet."""

    ids: dict[str, Any]
    own: dict[str, list[int]] = field(default_factory=dict)
    transit: int = 0
    pack: tuple[int, int] = (0, 0)  # (batch, pack entry) of two packages the processor packed
    users: dict[str, str] = field(default_factory=dict)


def build_scenario(tr: Trace, world: dict[str, Any], roles: tuple[str, ...] = ROLES, pieces: int = 12) -> Scenario:
    """Give each handling role `pieces` batches of its own, through the domain like real use."""
    A = world["actors"]
    sc = Scenario(world)
    for role in roles:
        if role in ("bureau", "admin"):
            continue
        b = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                                quantity_g=100_000, occurred_at=t(9, 20))
        if role == "carrier":  # a carrier does not split: it is handed the pieces one by one
            kids = tr.split(A["grower"], b.id, [5000] * pieces, occurred_at=t(9, 20, 12))
            for k in kids:
                tr.ship(A["grower"], k.id, to_party=world[role], occurred_at=t(9, 21))
                tr.receive(A[role], k.id, occurred_at=t(9, 21, 12))
            sc.own[role] = [k.id for k in kids]
            continue
        if role != "grower":
            tr.ship(A["grower"], b.id, to_party=world[role], occurred_at=t(9, 21))
            tr.receive(A[role], b.id, occurred_at=t(9, 21, 12))
        kids = tr.split(A[role], b.id, [5000] * pieces, occurred_at=t(9, 22))
        sc.own[role] = [k.id for k in kids]
    tb = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                             quantity_g=10_000, occurred_at=t(9, 20))
    tr.ship(A["grower"], tb.id, to_party=world["processor"], occurred_at=t(9, 21))
    sc.transit = tb.id
    if "processor" in sc.own:
        packed = tr.pack(A["processor"], sc.own["processor"][-1], count=2, net_g=1000, occurred_at=t(9, 23))
        sc.pack = (sc.own["processor"][-1], packed[0][0].pack_entry)
    return sc


def role_users(svc: Any, world: dict[str, Any], roles: tuple[str, ...] = ROLES) -> dict[str, str]:
    """One login per role: the username is the role."""
    for role in roles:
        add_user(svc, None if role == "admin" else world[role], role, is_admin=role == "admin")
    return {r: r for r in roles}


def system_actor() -> Actor:
    """The system itself (CLI)."""
    return SYSTEM
