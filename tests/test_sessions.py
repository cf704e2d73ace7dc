"""Sessions and logins as a careful bank would do them (issue 11), tried as an attacker would:
no lockout a stranger can trigger, the same answer and time for unknown names, attempts counted
atomically (parallel guesses, several workers), sessions that end at logout and at a password
change on every device, security headers on every page, Secure cookies behind an HTTPS proxy."""
from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.test_portal_support import PASSWORD, Portal, add_user, text
from trace import create_app
from trace.db import read_session
from trace.domain import accounts, throttle
from trace.domain.accounts import LoginFailed, TooManyAttempts
from trace.domain.actors import SYSTEM
from trace.domain.tables.operations import LoginThrottle

T0 = datetime(2026, 9, 20, 8, tzinfo=UTC)
BUREAU_PW = "Yellow River apples 2026"


def _try(svc: Any, username: str, password: str, client: str, at: datetime, device: str | None = None) -> str:
    """'ok', 'wrong' or 'wait' for one login attempt."""
    try:
        accounts.authenticate(svc.engine, username, password, client=client, device=device, now=at)
    except TooManyAttempts:
        return "wait"
    except LoginFailed:
        return "wrong"
    return "ok"


def test_delays_grow_with_failures_and_stop_at_their_caps() -> None:
    pair, net, acct = throttle.POLICIES["pair"], throttle.POLICIES["net"], throttle.POLICIES["acct"]
    assert [pair.delay(n) for n in range(1, 8)] == [0, 0, 1, 2, 4, 8, 16]
    assert pair.delay(40) == 15 * 60 and net.delay(40) == 5 * 60
    assert acct.delay(9) == 0 and acct.delay(10) == 1 and acct.delay(40) == 60  # an account is slowed, never locked


def test_a_stranger_cannot_lock_the_bureau_out(svc, world) -> None:  # type: ignore[no-untyped-def]
    """Five wrong passwords used to lock any account for 15 minutes. Now a guesser's own network
    waits longer and longer, while the bureau, from its office, waits at most a minute, and not
    at all on a device that logged in before."""
    add_user(svc, world["bureau"], "bureau", password=BUREAU_PW)
    at = T0
    outcomes = []
    for _ in range(40):  # a stranger keeps guessing, as fast as the waits allow
        outcomes.append(_try(svc, "bureau", "guess guess guess", "198.51.100.66", at))
        at += timedelta(seconds=2)
    assert outcomes.count("wrong") < 12 and outcomes.count("wait") > 28  # the stranger is slowed down
    # The office, another network: the account-wide wait is at most a minute.
    assert _try(svc, "bureau", BUREAU_PW, "203.0.113.10", at) in ("ok", "wait")
    assert _try(svc, "bureau", BUREAU_PW, "203.0.113.10", at + timedelta(seconds=61)) == "ok"
    # A device that logged in before is judged by its own failures only: no wait at all.
    for _ in range(40):
        _try(svc, "bureau", "guess guess guess", "198.51.100.66", at)
        at += timedelta(seconds=1)
    assert _try(svc, "bureau", BUREAU_PW, "203.0.113.10", at, device="office-pc-device-id") == "ok"
    # ... while the stranger's network still waits (up to 15 minutes for this account).
    assert _try(svc, "bureau", BUREAU_PW, "198.51.100.66", at) == "wait"


def test_unknown_and_known_names_get_the_same_answer_after_the_same_work(svc, world, client) -> None:  # type: ignore[no-untyped-def]
    """No enumeration: the same message, status and page, the same throttling, and about the
    same time (both check a scrypt hash) whether the username exists or not."""
    accounts.create_user(svc.trace, SYSTEM, party_id=world["grower"], username="coop", password=PASSWORD)  # scrypt
    portal = Portal(client)
    portal.get("/login?lang=en")
    pages, times = {}, {"coop": [], "nobody-here": []}
    for n in range(6):
        for name in ("coop", "nobody-here"):
            t = time.perf_counter()
            r = client.post("/login", data={"username": name, "password": f"wrong {n}", "csrf_token": portal.csrf},
                            environ_base={"REMOTE_ADDR": f"192.0.2.{n * 2 + (name == 'coop')}"})
            times[name].append(time.perf_counter() - t)
            assert r.status_code == 401
            pages[name] = re.sub(r'name="(once|csrf_token)" value="[^"]+"', "", text(r).replace(f'value="{name}"', 'value=""'))
    assert pages["coop"] == pages["nobody-here"]
    known, unknown = statistics.median(times["coop"]), statistics.median(times["nobody-here"])
    assert 0.5 < known / unknown < 2, (known, unknown)
    # Throttled alike too: from one network, both names wait after the same number of failures.
    for name in ("coop", "nobody-here"):
        got = [_try(svc, name, "wrong", "198.51.100.7", T0) for _ in range(accounts.FREE_TRIES + 1)]
        assert got == ["wrong"] * accounts.FREE_TRIES + ["wait"], (name, got)


def test_parallel_guesses_get_one_password_check_at_a_time(svc, world) -> None:  # type: ignore[no-untyped-def]
    """48 guesses at once used to get 8 password checks through a 5-try lock. Each attempt now
    holds its keys while its password is checked: the others are refused without a check."""
    accounts.create_user(svc.trace, SYSTEM, party_id=world["bureau"], username="bureau", password=BUREAU_PW)  # scrypt
    barrier = threading.Barrier(48)
    results: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        barrier.wait()
        got = _try(svc, "bureau", f"guess number {n}", "198.51.100.66", datetime.now(UTC))
        with lock:
            results.append(got)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(48)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    checked = results.count("wrong")
    assert len(results) == 48 and 1 <= checked <= accounts.FREE_TRIES and results.count("wait") == 48 - checked
    with read_session(svc.engine) as s:  # and the table counted exactly the checks that ran
        failures = s.scalars(select(LoginThrottle.failures).where(LoginThrottle.key.like("pair:%"))).all()
    assert failures == [checked]


def test_attempts_count_across_workers(svc, world, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two apps on one database (two gunicorn workers, or two hosts) share the counts: the
    database is the one place they are kept, so no worker gives a guesser fresh tries."""
    add_user(svc, world["grower"], "coop")
    workers = [create_app({"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                           "SECRET_KEY": "test-secret"}) for _ in range(2)]
    try:
        codes = []
        for n in range(accounts.FREE_TRIES + 2):
            c = workers[n % 2].test_client()
            page = c.get("/login")
            from tests.test_portal_support import token

            r = c.post("/login", data={"username": "coop", "password": f"wrong {n}", "csrf_token": token(text(page))})
            codes.append(r.status_code)
        assert codes == [401] * accounts.FREE_TRIES + [429, 429]
    finally:
        for w in workers:
            w.extensions["trace"].engine.dispose()


def test_logout_ends_every_session_even_a_copied_cookie(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    """A session cookie used to work for 12 hours after logout. The session version checked on
    each request ends it at once: on this device, on the others, and for anyone who copied it."""
    add_user(svc, world["grower"], "coop")
    phone, laptop = Portal(app.test_client()), Portal(app.test_client())
    phone.login("coop")
    laptop.login("coop")
    stolen = phone.client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/portal/").status_code == 200  # a copied cookie works while the session lasts
    assert phone.post("/logout").status_code == 302
    for c in (thief, laptop.client, phone.client):
        r = c.get("/portal/")
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    phone.login("coop")  # logging in again starts a new session
    assert phone.get("/portal/").status_code == 200


def test_a_password_change_ends_other_sessions_and_copied_cookies(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    phone, other = Portal(app.test_client()), Portal(app.test_client())
    phone.login("coop")
    other.login("coop")
    old_cookie = phone.client.get_cookie("session").value
    phone.get("/account/password")
    r = phone.post("/account/password", {"current": PASSWORD, "new": "a fine new password", "confirm": "a fine new password"})
    assert r.status_code == 302 and phone.get("/portal/").status_code == 200
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.get("/portal/").status_code == 302 and other.client.get("/portal/").status_code == 302


def test_an_administrators_reset_ends_the_users_sessions(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    user = Portal(app.test_client())
    user.login("coop")
    accounts.reset_password(svc.engine, SYSTEM, username="coop", new="set by the administrator")
    assert user.client.get("/portal/").status_code == 302


def test_a_device_that_logged_in_before_is_not_slowed_by_others(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    """The signed device cookie from a past login: a guesser elsewhere cannot make its owner wait."""
    add_user(svc, world["bureau"], "bureau")
    office = Portal(app.test_client())
    office.login("bureau")
    assert office.client.get_cookie("trace_device", path="/login") is not None
    office.post("/logout")
    for n in range(30):  # someone guesses from elsewhere until the account itself is slowed
        _try(svc, "bureau", f"guess {n}", f"198.51.100.{n}", datetime.now(UTC))
    stranger = Portal(app.test_client())
    stranger.get("/login")
    r = stranger.client.post("/login", data={"username": "bureau", "password": PASSWORD, "csrf_token": stranger.csrf},
                             environ_base={"REMOTE_ADDR": "203.0.113.50"})
    assert r.status_code == 429  # a new device waits out the account's delay ...
    office.login("bureau")  # ... the office's browser does not
    # A forged or another user's device cookie is no device at all.
    forger = app.test_client()
    forger.set_cookie("trace_device", "eyJ1IjoiYnVyZWF1IiwiZCI6Im1pbmUifQ.forged.sig", path="/login")
    page = forger.get("/login")
    from tests.test_portal_support import token

    r = forger.post("/login", data={"username": "bureau", "password": PASSWORD, "csrf_token": token(text(page))},
                    environ_base={"REMOTE_ADDR": "203.0.113.51"})
    assert r.status_code == 429


PAGES = ["/", "/login", "/verify", "/report", "/healthz", "/log/checkpoint", "/p/" + "Z" * 20, "/static/app.css",
         "/portal/", "/portal/products", "/account/password", "/no-such-page"]


def test_security_headers_on_every_page(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    """The public pages' headers (CSP with frame-ancestors, nosniff, Referrer-Policy) on every
    page: the portal's and the login's too (they used to send none)."""
    add_user(svc, world["grower"], "coop")
    p = Portal(app.test_client())
    p.login("coop")
    for url in PAGES:
        r = p.client.get(url)
        r.close()  # a static file's stream
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval'" not in csp.replace("wasm-unsafe-eval'", ""), url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Referrer-Policy"] == "no-referrer", url
        assert "Strict-Transport-Security" not in r.headers, url  # plain http: no HSTS
    r = p.client.get("/p/" + "Z" * 20)
    csp = r.headers["Content-Security-Policy"]  # the consumer's pages run only our own monitor.js, no wasm, nothing inline
    assert "script-src 'self';" in csp and "unsafe" not in csp


def test_behind_an_https_proxy_cookies_are_secure_and_the_client_is_the_real_one(svc, world, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    config = {"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"), "SECRET_KEY": "s"}
    proxied = create_app({**config, "TRACE_PROXY_HOPS": 1})
    direct = create_app(config)
    try:
        c = proxied.test_client()
        via = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.77", "X-Forwarded-Host": "trace.example.cn"}
        page = c.get("/login", headers=via)
        assert "Secure" in page.headers["Set-Cookie"] and page.headers["Strict-Transport-Security"].startswith("max-age=")
        from tests.test_portal_support import token

        r = c.post("/login", data={"username": "coop", "password": "wrong", "csrf_token": token(text(page))},
                   headers={**via, "Referer": "https://trace.example.cn/login"})
        assert r.status_code == 401
        with read_session(svc.engine) as s:  # the failure counted under the client's network, not the proxy's
            keys = set(s.scalars(select(LoginThrottle.key)))
        assert {k for k in throttle.keys("coop", "203.0.113.77") if k.startswith("net:")} <= keys
        assert not {k for k in throttle.keys("coop", "127.0.0.1") if k.startswith("net:")} & keys
        # Without configured proxies the same headers are anyone's forgery: ignored.
        page = direct.test_client().get("/login", headers=via)
        assert "Secure" not in page.headers["Set-Cookie"] and "Strict-Transport-Security" not in page.headers
    finally:
        proxied.extensions["trace"].engine.dispose()
        direct.extensions["trace"].engine.dispose()


def test_a_network_spraying_names_is_slowed_for_every_name(svc, world) -> None:  # type: ignore[no-untyped-def]
    """Password spraying: many names from one network. That network waits, for every name;
    the same account from elsewhere does not."""
    add_user(svc, world["grower"], "coop")
    for n in range(throttle.POLICIES["net"].free):
        assert _try(svc, f"somebody-{n}", "wrong", "198.51.100.5", T0) == "wrong"
    assert _try(svc, "coop", PASSWORD, "198.51.100.5", T0) == "wait"
    assert _try(svc, "coop", PASSWORD, "203.0.113.5", T0) == "ok"
