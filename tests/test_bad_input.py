"""What bad input gets: empty, oversized (10,000 characters), negative or non-numeric
quantities, impossible dates, unknown ids, control characters, in every field of every form.

Each gets a clear message (in the language of the page: the cases alternate between Chinese
and English) and the log and the state tables are exactly as before, compared row by row.

HTML and SQL fragments in a text field are not bad input: "Customer's complaint; mould found" is
a legal recall reason. They are stored as data, exactly, and shown escaped (test_text_is_data);
bound parameters and escaping are the defence, not refusing quotes."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import uscc
from tests.test_portal_support import Portal, add_user, entry_of, text

HAN = re.compile(r"[\u4e00-\u9fff]")
HUGE = "梨" * 10_000
MARKUP = ["<script>alert('x')</script>", "<img src=x onerror=alert(1)>"]
SQL = ["'; DROP TABLE batches; --", "1' OR '1'='1", "一级; DELETE FROM log_entries"]
CONTROL = ["a\x00b"]
TEXT_BAD = [HUGE, *CONTROL]  # for optional text fields
REQUIRED_TEXT_BAD = ["", "   ", *TEXT_BAD]
# Every field gets at least these; the full lists go to one field of each parser (it is shared).
TEXT = [HUGE, CONTROL[0]]
REQUIRED = ["", *TEXT]
QTY_BAD = ["", "-5", "0", "abc", "1e3", "NaN", "1.23456", "99999999999999999", "<b>5</b>", "5; DROP TABLE batches"]
OPT_QTY_BAD = [q for q in QTY_BAD if q not in ("", "0")]
TIME_BAD = ["2025-02-30T08:00", "2025-13-01T08:00", "2025-09-20T25:00", "0001-01-01T00:00", "9999-12-31T23:59",
            "yesterday", "2025-09-20T08:00'; --", HUGE]
ID_BAD = ["", "abc", "-1", "0", "999999", "99999999999999999999", "1 OR 1=1", "<b>1</b>"]
TIME = ["2025-02-30T08:00", "9999-12-31T23:59", "<b>2025</b>"]
QTY = ["", "-5", "abc", "<b>5</b>"]


def _case_lang(i: int) -> str:
    return "zh" if i % 2 == 0 else "en"


def _message(page: str) -> str:
    msgs = re.findall(r'role="alert"[^>]*>(.*?)</(?:p|div)>', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", m) for m in msgs)


def walk(subtests, portal: Portal, snapshot, url: str, base: dict[str, str],  # type: ignore[no-untyped-def]
         fields: dict[str, list[str]], expect_field: Callable[[str], str] | None = None) -> int:
    """Post `base` with one field replaced by each bad value; every one must be refused with a
    message in the page's language and leave everything as it was. Returns the number of cases."""
    n = 0
    for name, values in fields.items():
        for value in values:
            lang = _case_lang(n)
            n += 1
            with subtests.test(msg=f"{name}={value[:40]!r} ({lang})"):
                before = snapshot()
                sep = "&" if "?" in url else "?"
                r = portal.post(f"{url}{sep}lang={lang}", {**base, name: value})
                assert r.status_code in (400, 401, 403, 404, 409), (r.status_code, text(r)[:2000])
                page = text(r)
                msg = _message(page)
                assert msg.strip(), f"no message for {name}={value[:40]!r}"
                if lang == "zh":
                    assert HAN.search(msg), msg
                else:  # English, though a Chinese place or product name may appear inside
                    assert len(re.findall("[A-Za-z]", msg)) > 2 * len(HAN.findall(msg)), msg
                assert snapshot() == before, f"{name}={value[:40]!r} changed the log or the state"
                # What was typed comes back escaped, never as markup.
                assert "<script>alert" not in page and "<img src=x" not in page
    return n


@pytest.fixture
def scene(svc, tr, world, harvest):  # type: ignore[no-untyped-def]
    """A grower with a batch holding packages, a second batch, and one at the processor."""
    A = world["actors"]
    mine, spare, theirs = harvest(500), harvest(400), harvest(300)
    tr.pack(A["grower"], mine.id, count=3, net_g=1000)
    tr.ship(A["grower"], theirs.id, to_party=world["processor"])
    tr.receive(A["processor"], theirs.id)
    for role in ("grower", "processor", "bureau"):
        add_user(svc, world[role], role)
    add_user(svc, None, "admin", is_admin=True)
    return {"mine": mine.id, "spare": spare.id, "theirs": theirs.id,
            "harvest_entry": entry_of(svc, mine.id, "harvest"), "theirs_entry": entry_of(svc, theirs.id, "receive")}


def _login(app, username: str) -> Portal:  # type: ignore[no-untyped-def]
    p = Portal(app.test_client())
    p.login(username)
    return p


def batch_forms(world: dict[str, Any], sc: dict[str, int]) -> dict[str, tuple[dict[str, str], dict[str, list[str]]]]:
    """Every batch form: a valid base and the bad values of each of its fields."""
    me, spare = sc["mine"], sc["spare"]
    return {
        "inspect": ({"lab": "检测站", "report_no": "NX-1", "passed": "yes"},
                    {"lab": REQUIRED_TEXT_BAD, "report_no": REQUIRED, "certificate_no": TEXT,
                     "passed": ["", "maybe", "<b>yes</b>", "yes'; --"], "r0_name": TEXT, "r1_value": TEXT, "r2_limit": TEXT,
                     "r0_unit": TEXT, "occurred_at": TIME}),
        "grade": ({"grade": "一级"}, {"grade": REQUIRED_TEXT_BAD, "occurred_at": TIME_BAD}),
        "split": ({"quantities": "10, 20"}, {"quantities": [*QTY_BAD, "10, -3", "10, abc", "600"], "occurred_at": TIME}),
        "merge": ({"with": str(spare), f"qty_{me}": "10", f"qty_{spare}": "10"},
                  {"with": [*ID_BAD, str(me), str(sc["theirs"])], f"qty_{me}": QTY, f"qty_{spare}": QTY,
                   "quantity_kg": ["-5", "abc", "25"], "occurred_at": TIME}),
        "process": ({"input_kg": "10", "output_kg": "4", "form": "dried"},
                    {"input_kg": [*QTY, "501"], "output_kg": [*QTY, "11"],
                     "form": [*REQUIRED, "DRIED", "dried fruit", "干制"], "method": TEXT, "occurred_at": TIME}),
        "pack": ({"count": "2", "net_kg": "1"}, {"count": [*QTY_BAD, "5001", "1.5"], "net_kg": [*QTY, "0", "500"],
                                                  "occurred_at": TIME}),
        "store": ({"facility": "冷库", "temperature_c": "1.5"},
                  {"facility": REQUIRED, "temperature_c": ["", "abc", "-41", "41", "1.25", "1e1", "<b>1</b>", "1; --"],
                   "occurred_at": TIME}),
        "ship": ({"to_party": str(world["processor"])},
                 {"to_party": [*ID_BAD, str(world["grower"]), str(world["grower2"]), str(world["bureau"])],
                  "vehicle": TEXT, "occurred_at": TIME}),
        "sell": ({"packages": "1"}, {"packages": ["-1", "abc", "0", "4"], "loose_kg": ["-1", "abc", "498"],
                                      "occurred_at": TIME}),
        "recall": ({"level": "2", "reason": "霉变"}, {"level": ["", "4", "I", "<b>1</b>"], "reason": REQUIRED, "occurred_at": TIME}),
        "correct": ({"target": str(sc["harvest_entry"]), "field": "note", "value": "补记", "reason": "漏记"},
                    {"target": [*ID_BAD, str(sc["theirs_entry"])], "field": ["", "quantity_g", "<b>note</b>", "note'; --"],
                     "value": REQUIRED, "reason": REQUIRED, "occurred_at": TIME}),
        "receive": ({}, {"occurred_at": TIME}),
    }


@pytest.mark.parametrize("form", ["inspect", "grade", "split", "merge", "process", "pack", "store", "ship", "sell",
                                  "recall", "correct", "receive"])
def test_batch_forms(form: str, app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    base, fields = batch_forms(world, scene)[form]
    if form == "correct":  # a time correction checks its value as a time
        fields = {**fields}
        n = walk(subtests, _login(app, "grower"), snapshot, f"/portal/batch/{scene['mine']}/correct",
                 {**base, "field": "occurred_at"}, {"value": TIME})
        assert n == len(TIME)
    portal = _login(app, "grower")
    n = walk(subtests, portal, snapshot, f"/portal/batch/{scene['mine']}/{form}", base, fields)
    assert n >= len(TIME)
    # Unknown and impossible batch ids in the address.
    for bad in ("999999", "99999999999999999999"):
        with subtests.test(msg=f"batch {bad}"):
            before = snapshot()
            r = portal.post(f"/portal/batch/{bad}/{form}", base)
            assert r.status_code == 404 and snapshot() == before


def test_harvest_form(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    base = {"plot": str(world["plot"]), "product": "nanchangtan-soft-pear", "quantity_kg": "10", "occurred_at": "2025-09-20T08:00"}
    walk(subtests, _login(app, "grower"), snapshot, "/portal/harvest", base, {
        "plot": [*ID_BAD, str(world["plot2"]), str(world["plot_out"])],
        "product": [*REQUIRED_TEXT_BAD, "no-such-product", "shapotou-apple"],
        "quantity_kg": [*QTY_BAD, "20001"], "occurred_at": [*TIME_BAD, "", "2025-03-01T08:00"]})


def test_plot_form(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    base = {"township": "香山乡", "village": "南长滩村", "area_mu": "3"}
    walk(subtests, _login(app, "grower"), snapshot, "/portal/plots", base, {
        "township": REQUIRED_TEXT_BAD, "village": REQUIRED,
        "area_mu": ["", "-1", "0", "abc", "1e3", "1.234", "100001", "<b>3</b>"],
        "lat": ["91", "-91", "abc", "37.1234567", "<b>1</b>", "1; --"], "lon": ["181", "abc", "1'--"],
        "party": ["abc", "999999", "99999999999999999999", str(world["grower2"])]})


def test_party_and_credit_forms(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    base = {"kind": "retailer", "name": "新百超市二店", "uscc": uscc(600)}
    bad_uscc = uscc(601)[:-1] + ("0" if uscc(601)[-1] != "0" else "1")
    walk(subtests, _login(app, "admin"), snapshot, "/portal/parties", base, {
        "kind": ["", "farmer", "<b>grower</b>", "grower'; --"], "name": REQUIRED_TEXT_BAD,
        "uscc": [*REQUIRED, "123", bad_uscc, uscc(1)], "township": TEXT, "phone": TEXT, "address": TEXT})
    walk(subtests, _login(app, "bureau"), snapshot, f"/portal/parties/{world['grower']}/credit",
         {"status": "red", "reason": "三年全部合格"},
         {"status": ["", "purple", "<b>red</b>", "red'; --"], "reason": REQUIRED})
    for bad in ("999999", "99999999999999999999"):
        with subtests.test(msg=f"credit of party {bad}"):
            before = snapshot()
            r = _login(app, "bureau").post(f"/portal/parties/{bad}/credit", {"status": "red", "reason": "x"})
            assert r.status_code == 404 and snapshot() == before


def test_user_forms(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    admin = _login(app, "admin")
    walk(subtests, admin, snapshot, "/portal/users",
         {"form": "create", "party": str(world["grower"]), "username": "new-user", "password": "a long enough password"},
         {"party": [p for p in ID_BAD if p], "username": [*REQUIRED_TEXT_BAD, "ab", "with space", "grower", "GROWER"],
          "password": ["", "short", "1234567890", "new-user-pass", "x" * 10_000, "pass\x00word12345"]})
    walk(subtests, admin, snapshot, "/portal/users", {"form": "reset", "username": "grower", "new": "a long enough password"},
         {"username": ["", "nobody", HUGE, "grower'; --", "\x00"], "new": ["", "short", HUGE]})


def test_password_change_form(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    walk(subtests, _login(app, "processor"), snapshot, "/account/password",
         {"current": "correct horse battery", "new": "another long password", "confirm": "another long password"},
         {"new": ["", "short", HUGE, "1234567890"], "confirm": ["", "different long password"]})


def test_login_and_search_never_break(app, world, scene, snapshot, subtests) -> None:  # type: ignore[no-untyped-def]
    """Junk in the login and search boxes: a clear answer, no error page, nothing changes."""
    portal = Portal(app.test_client())
    portal.get("/login")
    for i, junk in enumerate(["", HUGE, *MARKUP, *SQL, *CONTROL, "nobody"]):
        with subtests.test(msg=f"login {junk[:30]!r}"):
            before = snapshot()
            r = portal.client.post(f"/login?lang={_case_lang(i)}", data={"username": junk, "password": junk,
                                                                        "csrf_token": portal.csrf})
            assert r.status_code == 401 and _message(text(r)).strip()
            assert snapshot() == before
    searcher = _login(app, "grower")
    for i, junk in enumerate([HUGE, *MARKUP, *SQL, *CONTROL, "APL-2025-99999", "0" * 20, "%", "_"]):
        with subtests.test(msg=f"search {junk[:30]!r}"):
            before = snapshot()
            r = searcher.get("/portal/search", query_string={"q": junk, "lang": _case_lang(i)})
            assert r.status_code in (200, 400)
            page = text(r)
            assert ("没有这个批号" in page or "no batch" in page.lower() or "No batch" in page
                    or _message(page).strip()), page[-1500:]
            assert "<script>alert" not in page and snapshot() == before


# -- text is data ------------------------------------------------------------------------------------

TEXT_FORMS = {  # a form and its text fields, with what else it needs
    "inspect": ({"report_no": "NX-1", "passed": "yes"}, ["lab"]),
    "grade": ({}, ["grade"]),
    "store": ({"temperature_c": "1.5"}, ["facility"]),
    "recall": ({"level": "3"}, ["reason"]),
}


@pytest.mark.parametrize("form", sorted(TEXT_FORMS))
def test_text_is_data(form: str, app, world, scene, svc, subtests) -> None:  # type: ignore[no-untyped-def]
    """Markup and SQL in a text field are recorded exactly as typed and shown escaped, never run."""
    from markupsafe import escape

    from tests.test_portal_support import last_event

    extra, fields = TEXT_FORMS[form]
    for field in fields:
        for value in [*MARKUP, *SQL, "Customer's complaint; mould found"]:
            with subtests.test(msg=f"{form} {field}={value[:30]!r}"):
                bid = scene["spare"] if form != "recall" else scene["mine"]
                portal = _login(app, "grower")
                r = portal.post(f"/portal/batch/{bid}/{form}", {**extra, field: value})
                assert r.status_code == 302, text(r)[-800:]
                logged = last_event(svc)["event"]
                assert logged[field] == value
                page = text(portal.get(f"/portal/batch/{bid}"))
                assert "<script>alert" not in page and "<img src=x" not in page
                assert str(escape(value)) in page  # shown as typed, escaped
                if form == "recall":
                    return  # a batch is recalled once


# -- the domain's own checks, which every caller (portal, CLI, a JSON API) goes through ----------


def test_domain_keeps_markup_as_inert_data(tr, world, harvest, svc) -> None:  # type: ignore[no-untyped-def]
    """Decision: the portal's forms refuse markup with a clear message, but the domain stores any
    text as data (a cooperative's registered name may contain any character); safety comes from
    binding parameters and escaping on output, which the public-page tests check."""
    import json

    from trace.db import read_session

    batch = harvest(10)
    idx = tr.grade(world["actors"]["grower"], batch.id, grade="<b>一级</b>'; DROP TABLE batches;--")
    with read_session(svc.engine) as s:
        assert json.loads(svc.ledger.entry(s, idx))["event"]["grade"] == "<b>一级</b>'; DROP TABLE batches;--"


def test_domain_refuses_impossible_years(tr, world, harvest) -> None:  # type: ignore[no-untyped-def]
    from trace.domain.errors import InvalidInput

    batch = harvest(10)
    with pytest.raises(InvalidInput):
        tr.grade(world["actors"]["grower"], batch.id, grade="一级", occurred_at="0001-01-01T00:00")


def test_domain_unknown_huge_batch_id(tr, world) -> None:  # type: ignore[no-untyped-def]
    from trace.domain.errors import NotFound

    with pytest.raises(NotFound):
        tr.grade(world["actors"]["grower"], 10**20, grade="一级")
    with pytest.raises(NotFound):
        tr.ship(world["actors"]["grower"], 2**31, to_party=1)
    from trace.domain.errors import InvalidInput

    with pytest.raises(InvalidInput):
        tr.register_harvest(world["actors"]["grower"], plot_id="abc", product_id="nanchangtan-soft-pear", quantity_g=1000)


def test_domain_correct_target_not_a_number(tr, world, harvest) -> None:  # type: ignore[no-untyped-def]
    from trace.domain.errors import InvalidInput

    batch = harvest(10)
    with pytest.raises(InvalidInput):
        tr.correct(world["actors"]["grower"], batch.id, target="abc", changes={"note": "x"}, reason="y")  # type: ignore[arg-type]
