"""Who may do what, walked through HTTP: every role x every action, allowed and refused.

Each role logs in through the login form and posts the batch page's forms, including direct
POSTs the page never offers (other parties' batch ids, actions outside the role). A refusal
must change nothing (the log's size and every table's rows are compared), an allowed action
must append exactly one entry of its kind, recorded for the acting party. The portal's pages
must offer exactly the forms the domain then accepts."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import uscc
from tests.test_portal_support import (
    ROLES,
    Portal,
    add_user,
    build_scenario,
    entry_of,
    last_event,
    log_size,
    role_users,
    text,
)

BATCH_ACTIONS = ("inspect", "grade", "split", "merge", "process", "pack", "store", "ship", "sell", "recall", "correct")
HOLDERS = ("grower", "processor", "cold", "carrier", "retailer")
# What each role may do to a batch it holds (the own column of the matrix).
OWN: dict[str, set[str]] = {
    "grower": set(BATCH_ACTIONS),
    "processor": set(BATCH_ACTIONS),
    "cold": set(BATCH_ACTIONS) - {"process"},
    "carrier": set(BATCH_ACTIONS) - {"process"},
    "retailer": set(BATCH_ACTIONS) - {"process"},
}
# ... and to a batch someone else holds (the other column): only the bureau, and only these.
OTHER: dict[str, set[str]] = {r: set() for r in ROLES} | {"bureau": {"inspect", "recall", "correct"}}


def payload(action: str, sc: Any, batch: int, role: str, partner: int | None = None) -> dict[str, Any]:
    """A valid form for an action; only who may send it varies."""
    w = sc.ids
    if action == "correct":
        return {"target": str(sc.split_entries[batch]), "field": "note", "value": "补记", "reason": "漏记"}
    return {
        "inspect": {"lab": "中卫市农产品质量检测站", "report_no": "NX-2025-1", "passed": "yes"},
        "grade": {"grade": "一级"},
        "split": {"quantities": "1"},
        "merge": {"with": str(partner), f"qty_{batch}": "1", f"qty_{partner}": "1"},
        "process": {"input_kg": "2", "output_kg": "1", "form": "dried", "method": "晾晒"},
        "pack": {"count": "2", "net_kg": "1"},
        "store": {"facility": "3号冷库", "temperature_c": "1.5"},
        "ship": {"to_party": str(w["carrier"] if role == "retailer" else w["retailer"]), "vehicle": "宁E·12345"},
        "sell": {"loose_kg": "1"},
        "recall": {"level": "3", "reason": "抽检霉变"},
    }[action]


@pytest.fixture
def scenario(svc, tr, world):  # type: ignore[no-untyped-def]
    """The world, a dozen batches held by each handling role, a shipment in transit, a login per role."""
    sc = build_scenario(tr, world)
    sc.split_entries = {b: entry_of(svc, b, "split") for bs in sc.own.values() for b in bs}  # type: ignore[attr-defined]
    role_users(svc, world)
    return sc


def _offered(html: str) -> set[str]:
    return set(re.findall(r'<details id="do-([a-z]+)"', html))


def _check(subtests, svc, snapshot, portal: Portal, label: str, method: str, url: str, data: dict | None,  # type: ignore[no-untyped-def]
           allowed: bool, kind: str | None, party: int | None, refused_status: tuple[int, ...] = (403,)) -> None:
    with subtests.test(msg=label):
        before = snapshot()
        size = log_size(svc)
        r = portal.post(url, data) if method == "POST" else portal.get(url)
        if allowed:
            assert r.status_code in (200, 302), f"{label}: refused with {r.status_code}: {text(r)[:1500]}"
            if kind is not None:
                assert log_size(svc) == size + 1, f"{label}: expected one new entry"
                rec = last_event(svc)
                assert rec["event"]["type"] == kind
                assert rec["party"] == party
        else:
            assert r.status_code in refused_status, f"{label}: expected {refused_status}, got {r.status_code}: {text(r)[:1500]}"
            assert snapshot() == before, f"{label}: a refused request changed the log or the state"
            if r.mimetype == "text/html" and r.status_code != 405:
                assert 'role="alert"' in text(r), f"{label}: the refusal is not explained"


@pytest.mark.parametrize("role", ROLES)
def test_matrix(role: str, subtests, svc, snapshot, scenario, client) -> None:  # type: ignore[no-untyped-def]
    """One role through every action on its own batches, others' batches and the admin pages."""
    sc = scenario
    w = sc.ids
    me = w.get(role) if role != "admin" else None
    portal = Portal(client)
    portal.login(role)
    other_holder = "grower" if role == "processor" else "processor"
    others = list(sc.own[other_holder][:-1])  # the last one holds the processor's packages
    own = list(sc.own.get(role, []))

    # Refusals on someone else's batch come first: they must leave everything as it was.
    for action in BATCH_ACTIONS:
        if action in OTHER[role]:
            continue
        target = others[0]
        partner = own[-1] if own else others[1]
        _check(subtests, svc, snapshot, portal, f"{role} {action} someone else's batch", "POST",
               f"/portal/batch/{target}/{action}", payload(action, sc, target, role, partner), False, None, None,
               refused_status=(403,))
    # Receiving what was not shipped to you, or shipping what you do not hold.
    if role != "processor":
        _check(subtests, svc, snapshot, portal, f"{role} receives a shipment meant for the processor", "POST",
               f"/portal/batch/{sc.transit}/receive", {}, False, None, None)
    if own:
        _check(subtests, svc, snapshot, portal, f"{role} receives its own batch that nobody shipped", "POST",
               f"/portal/batch/{own[0]}/receive", {}, False, None, None)
    # Unknown batches, in range and out of the database's range.
    for bad in (999_999, 2**31 + 5, 10**15):
        _check(subtests, svc, snapshot, portal, f"{role} grades unknown batch {bad}", "POST",
               f"/portal/batch/{bad}/grade", {"grade": "一级"}, False, None, None, refused_status=(404,))
    # Nobody edits or deletes a log entry: there is no such route, whatever the method.
    for method, url in (("DELETE", f"/portal/batch/{others[0]}"), ("PUT", "/log/entries/0"), ("DELETE", "/log/entries/0"),
                        ("POST", f"/portal/batch/{others[0]}/delete"), ("POST", "/log/entries/0")):
        with subtests.test(msg=f"{role} {method} {url}"):
            before = snapshot()
            r = portal.client.open(url, method=method, data={"csrf_token": portal.csrf})
            assert r.status_code in (404, 405), (method, url, r.status_code)
            assert snapshot() == before

    # The page offers exactly what the domain accepts.
    if own:
        with subtests.test(msg=f"{role} is offered the forms it may use on its own batch"):
            r = portal.get(f"/portal/batch/{own[0]}")
            assert r.status_code == 200
            assert _offered(text(r)) == OWN[role]
    with subtests.test(msg=f"{role} views someone else's batch"):
        r = portal.get(f"/portal/batch/{others[0]}")
        if role in ("bureau", "admin"):
            assert r.status_code == 200
            assert _offered(text(r)) == OTHER[role]
        else:
            assert r.status_code == 403 and not _offered(text(r))

    # Allowed on its own batches (one fresh batch per action), refused where the rule says so.
    for i, action in enumerate(BATCH_ACTIONS):
        if not own:
            break
        batch, partner = own[i], own[-2]
        allowed = action in OWN[role]
        _check(subtests, svc, snapshot, portal, f"{role} {action} its own batch", "POST", f"/portal/batch/{batch}/{action}",
               payload(action, sc, batch, role, partner), allowed, action, me)
    # The bureau on batches it does not hold.
    for i, action in enumerate(sorted(OTHER[role])):
        batch = others[i]
        _check(subtests, svc, snapshot, portal, f"{role} {action} someone else's batch", "POST",
               f"/portal/batch/{batch}/{action}", payload(action, sc, batch, role), True, action, me)
    if role == "processor":
        _check(subtests, svc, snapshot, portal, "processor receives its shipment", "POST",
               f"/portal/batch/{sc.transit}/receive", {}, True, "receive", me)

    # Harvests: growers only, and only from their own plots (a direct POST naming another's plot).
    harvest = {"plot": str(w["plot"]), "product": "nanchangtan-soft-pear", "quantity_kg": "10", "occurred_at": "2025-09-25T08:00"}
    if role == "grower":
        _check(subtests, svc, snapshot, portal, "grower harvests from grower2's plot", "POST", "/portal/harvest",
               {**harvest, "plot": str(w["plot2"]), "product": "shapotou-apple"}, False, None, None)
    _check(subtests, svc, snapshot, portal, f"{role} registers a harvest from the grower's plot", "POST", "/portal/harvest",
           harvest, role == "grower", "harvest", me)

    # Plots: a grower registers its own, an administrator any grower's.
    plot = {"township": "香山乡", "village": "南长滩村", "area_mu": "3"}
    _check(subtests, svc, snapshot, portal, f"{role} registers a plot for grower2", "POST", "/portal/plots",
           {**plot, "party": str(w["grower2"])}, role == "admin", "plot.register", me)
    if role == "grower":
        _check(subtests, svc, snapshot, portal, "grower registers its own plot", "POST", "/portal/plots", plot, True,
               "plot.register", me)

    # The credit list: regulators only (administrators: see test_admin_cannot_set_credit).
    if role != "admin":
        _check(subtests, svc, snapshot, portal, f"{role} puts grower2 on the red list", "POST",
               f"/portal/parties/{w['grower2']}/credit", {"status": "red", "reason": "三年抽检全部合格"},
               role == "bureau", "party.credit", me)
    # Registering parties: regulators and administrators.
    _check(subtests, svc, snapshot, portal, f"{role} registers a party", "POST", "/portal/parties",
           {"kind": "retailer", "name": "新开超市", "uscc": uscc(500)}, role in ("bureau", "admin"), "party.register", me)
    # Logins: administrators only. Not in the log, so counted in the users table.
    with subtests.test(msg=f"{role} creates a user"):
        before = snapshot()
        r = portal.post("/portal/users", {"form": "create", "party": str(w["retailer"]), "username": f"new-{role}",
                                          "password": "a new long password"})
        if role == "admin":
            assert r.status_code == 302 and "new-admin" in text(portal.get("/portal/users"))
        else:
            assert r.status_code == 403 and snapshot() == before
    for page, who in (("/portal/parties", ("bureau", "admin")), ("/portal/users", ("admin",))):
        with subtests.test(msg=f"{role} opens {page}"):
            assert portal.get(page).status_code == (200 if role in who else 403)

    # Package codes are secrets of the party that packed them.
    pb, pe = sc.pack
    for url in (f"/portal/batch/{pb}/labels?entry={pe}", f"/portal/batch/{pb}/labels.pdf?entry={pe}"):
        with subtests.test(msg=f"{role} opens {url}"):
            r = portal.get(url)
            assert r.status_code == (200 if role == "processor" else 403)
            if role != "processor":
                assert "serial" not in text(r).lower() or r.status_code == 403


def test_grower_cannot_act_for_another_grower(svc, tr, world, client, snapshot) -> None:  # type: ignore[no-untyped-def]
    """Two growers: the second sees nothing of the first's batch and can do nothing to it."""
    sc = build_scenario(tr, world, roles=("grower",), pieces=2)
    add_user(svc, world["grower2"], "grower2")
    portal = Portal(client)
    portal.login("grower2")
    before = snapshot()
    assert portal.get(f"/portal/batch/{sc.own['grower'][0]}").status_code == 403
    for action in BATCH_ACTIONS:
        r = portal.act(sc.own["grower"][0], action, payload(action, sc, sc.own["grower"][0], "grower2", sc.own["grower"][1])
                       if action != "correct" else {"target": "1", "field": "note", "value": "x", "reason": "y"})
        assert r.status_code == 403, (action, r.status_code)
    assert snapshot() == before


def test_admin_cannot_set_credit(svc, tr, world, client, snapshot) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, None, "admin", is_admin=True)
    portal = Portal(client)
    portal.login("admin")
    before = snapshot()
    r = portal.post(f"/portal/parties/{world['grower2']}/credit", {"status": "black", "reason": "管理员越权"})
    assert r.status_code == 403
    assert snapshot() == before


def test_anonymous_gets_the_login_page(client, svc, world, snapshot) -> None:  # type: ignore[no-untyped-def]
    """Without a session every portal page and form sends you to log in, and writes nothing."""
    before = snapshot()
    for method, url in (("GET", "/portal/"), ("GET", "/portal/batch/1"), ("GET", "/portal/harvest"),
                        ("GET", "/portal/users"), ("GET", "/portal/batch/1/labels.pdf?entry=1")):
        r = client.open(url, method=method)
        assert r.status_code == 302 and "/login" in r.headers["Location"], url
    # A form posted with a valid token but no login is sent to log in too.
    portal = Portal(client)
    portal.get("/login")
    r = portal.post(f"/portal/batch/{world['plot']}/grade", {"grade": "一级"})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert snapshot() == before


STATES = ("fresh", "failed_inspection", "in_transit", "recalled", "used_up", "all_packed", "black_listed")


@pytest.mark.parametrize("state", STATES)
def test_offered_forms_are_exactly_what_the_domain_accepts(state: str, svc, tr, world, client, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    """In every state a batch can be in, the page offers a form if and only if the domain then
    accepts it: an offered form that fails, or a refused action the page offered, is a bug."""
    from tests.conftest import t

    A = world["actors"]
    batches = []
    for _ in range(len(BATCH_ACTIONS) + 1):
        b = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                                quantity_g=100_000, occurred_at=t(9, 20))
        if state == "failed_inspection":
            tr.inspect(A["bureau"], b.id, lab="检测站", report_no="R1", passed=False, occurred_at=t(9, 21))
        elif state == "in_transit":
            tr.ship(A["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 21))
        elif state == "recalled":
            tr.recall(A["bureau"], b.id, reason="霉变", occurred_at=t(9, 21))
        elif state == "used_up":
            tr.split(A["grower"], b.id, [100_000], occurred_at=t(9, 21))
        elif state == "all_packed":
            tr.pack(A["grower"], b.id, count=4, net_g=25_000, occurred_at=t(9, 21))
        batches.append(b.id)
    if state == "black_listed":
        tr.set_credit(A["bureau"], world["grower"], "black", "伪造产地证明")
    sc = type("S", (), {"ids": world, "split_entries": {b: entry_of(svc, b, "harvest") for b in batches}})()
    add_user(svc, world["grower"], "grower")
    portal = Portal(client)
    portal.login("grower")
    for i, action in enumerate(BATCH_ACTIONS):
        batch, partner = batches[i], batches[-1]
        with subtests.test(msg=f"{state}: {action}"):
            offered = action in _offered(text(portal.get(f"/portal/batch/{batch}")))
            data = payload(action, sc, batch, "grower", partner)
            if action == "sell" and state == "all_packed":
                data = {"packages": "1"}
            before, size = snapshot(), log_size(svc)
            r = portal.act(batch, action, data)
            accepted = r.status_code == 302
            assert accepted == offered, (f"{state}: {action} is {'offered' if offered else 'not offered'} but the domain "
                                         f"{'accepted' if accepted else 'refused'} it: {text(r)[:800]}")
            if accepted:
                assert log_size(svc) == size + 1
            else:
                assert snapshot() == before and 'role="alert"' in text(r)
