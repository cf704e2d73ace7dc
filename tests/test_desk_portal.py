"""The regulator's desk through its interfaces, on every engine: the portal's pages and forms,
the public report form and credit list, `flask trace back|forward`, `flask export`, and the
EPCIS documents validated against GS1's JSON Schema with format checking on."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select, text

from tests.conftest import t
from tests.test_portal_support import Portal, add_user, log_size
from trace.db import read_session, write_session
from trace.domain.commands import Trace
from trace.domain.tables.batches import Batch, PackageScan, PackageSecret
from trace.domain.tables.cases import Case, CasePhoto

# A copy of ../shared/standards/epcis (source and terms in its SOURCES.md), so a clone alone can run the tests.
SCHEMA = Path(__file__).resolve().parent / "vectors" / "epcis" / "EPCIS-JSON-Schema.json"
ROW_BAD = {"name": "毒死蜱", "value": "0.08", "limit": "0.02", "unit": "mg/kg", "pass": False}
ROW_OK = {"name": "铅 Pb", "value": "<0.02", "limit": "0.1", "unit": "mg/kg", "pass": True}


def body(r: Any) -> str:
    return r.get_data(as_text=True)


@pytest.fixture
def desk(tr, world, harvest, svc):  # type: ignore[no-untyped-def]
    """A season in miniature: a harvest officially inspected, split, packed, shipped, stored,
    sold in part; a second harvest never inspected; a third failed and in transit; logins."""
    a = world["actors"]
    b = harvest(100, when=t(9, 18))
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="JD-2025-1", passed=True, results=[ROW_OK],
               certificate_no="CC-1", occurred_at=t(9, 19))
    kid = tr.split(a["grower"], b.id, [50_000], occurred_at=t(9, 19, 12))[0]
    packed = tr.pack(a["grower"], kid.id, count=6, net_g=5000, occurred_at=t(9, 19, 13))
    tr.ship(a["grower"], kid.id, to_party=world["cold"], vehicle="宁E·12345", occurred_at=t(9, 19, 14))
    tr.receive(a["cold"], kid.id, occurred_at=t(9, 19, 16))
    stored = tr.store(a["cold"], kid.id, facility="3号冷库", temperature_c="9.5", occurred_at=t(9, 19, 17))
    tr.correct(a["cold"], kid.id, target=stored, changes={"temperature_dc": "1.5"}, reason="抄错", occurred_at=t(9, 19, 18))
    tr.store(a["cold"], kid.id, facility="3号冷库", temperature_c="12.0", occurred_at=t(9, 19, 19))
    tr.ship(a["cold"], kid.id, to_party=world["retailer"], occurred_at=t(9, 19, 20))
    tr.receive(a["retailer"], kid.id, occurred_at=t(9, 19, 22))
    tr.sell(a["retailer"], kid.id, package_ids=[p.id for p, _ in packed[:2]], occurred_at=t(9, 20, 10))
    fresh = harvest(100, when=t(9, 20))
    bad = tr.register_harvest(a["grower2"], plot_id=world["plot2"], product_id="shapotou-apple", quantity_g=13_000_000,
                              occurred_at=t(9, 20))  # 13 t of a 4.5 mu x 3 t = 13.5 t ceiling: near it
    tr.inspect(a["grower2"], bad.id, lab="站", report_no="S-9", passed=False, results=[ROW_BAD], occurred_at=t(9, 21))
    for role in ("grower", "cold", "retailer", "bureau"):
        add_user(svc, world[role], role)
    add_user(svc, None, "admin", is_admin=True)
    return {"root": b, "kid": kid, "packages": packed, "fresh": fresh, "bad": bad}


def _login(app, username: str) -> Portal:  # type: ignore[no-untyped-def]
    p = Portal(app.test_client())
    p.login(username)
    return p


# -- inspections on the portal and the public page --------------------------------------------------


def test_the_inspection_form_asks_whether_each_row_is_within_its_limit(app, world, desk, snapshot) -> None:  # type: ignore[no-untyped-def]
    grower = _login(app, "grower")
    before = snapshot()
    r = grower.post(f"/portal/batch/{desk['fresh'].id}/inspect", {"lab": "站", "report_no": "R-1", "passed": "yes",
                                                                  "r0_name": "铅 Pb", "r0_value": "0.05", "r0_limit": "0.1"})
    assert r.status_code == 400 and snapshot() == before
    assert re.search(r'id="inspect-r0_pass-error" role="alert">请填写达标', body(r)), body(r)[-3000:]
    r = grower.post(f"/portal/batch/{desk['fresh'].id}/inspect", {"lab": "站", "report_no": "R-1", "passed": "yes",
                                                                  "r0_name": "铅 Pb", "r0_value": "0.5", "r0_limit": "0.1",
                                                                  "r0_pass": "no"})
    assert r.status_code == 409 and snapshot() == before and "超出限量" in body(r)


def test_the_public_page_tells_official_sampling_from_an_own_check(app, world, desk, tr) -> None:  # type: ignore[no-untyped-def]
    tr.inspect(world["actors"]["retailer"], desk["kid"].id, lab="超市快检室", report_no="K-1", passed=True, results=[ROW_OK],
               occurred_at=t(9, 20, 11))
    serial = desk["packages"][3][1]
    page = body(app.test_client().get(f"/01/06901234567892/21/{serial}" if False else f"/p/{serial}"))
    assert "市场监管部门监督抽检" in page and "持有方自检" in page
    # Each inspection (newest first) says which kind it is, beside its laboratory.
    blocks = [b.split("</div>")[0] for b in page.split('<div class="inspection ')[1:]]
    official = [b for b in blocks if "宁夏农产品质量检测中心" in b]
    own = [b for b in blocks if "超市快检室" in b]
    assert len(official) == len(own) == 1
    assert "市场监管部门监督抽检" in official[0] and "持有方自检" not in official[0]
    assert "持有方自检" in own[0] and "市场监管部门监督抽检" not in own[0]
    assert page.index("超市快检室") < page.index("宁夏农产品质量检测中心")  # the newer first


# -- tracing ---------------------------------------------------------------------------------------------


def test_trace_back_and_forward_on_the_command_line(runner, desk, world) -> None:  # type: ignore[no-untyped-def]
    serial = desk["packages"][0][1]
    r = runner.invoke(args=["trace", "back", f"https://example.org/p/{serial}"])
    assert r.exit_code == 0, r.output
    back = json.loads(r.output)
    assert back["matched"] == "package" and back["lot"] == desk["kid"].lot_code
    assert [o["village"] for o in back["origins"]] == ["南长滩村"] and back["origins"][0]["grower"]["name"] == "南长滩合作社"
    assert [(i["kind"], i["report_no"], i["passed"]) for i in back["inspections"]] == [("official", "JD-2025-1", True)]
    assert [h["name"] for h in back["hands"]] == ["南长滩合作社", "沙坡头区市场监督管理局", "冷链仓储", "新百超市"]
    assert sum(1 for s in back["steps"] if s["kind"] == "pack") == 1
    assert "宁E" not in r.output and serial not in r.output.replace(f"https://example.org/p/{serial}", "")
    r = runner.invoke(args=["trace", "forward", desk["root"].lot_code])
    assert r.exit_code == 0, r.output
    fwd = json.loads(r.output)
    assert [b["lot"] for b in fwd["batches"]] == [desk["root"].lot_code, desk["kid"].lot_code]
    assert len(fwd["packages"]) == 6 and sum(p["status"] == "sold" for p in fwd["packages"]) == 2
    holders = {h["party"]["name"]: h for h in fwd["holders"]}
    assert holders["新百超市"]["unsold"] == 4 and holders["南长滩合作社"]["packages"] == 0
    r = runner.invoke(args=["trace", "back", "NOPE-1"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "trace.code_unknown"


def test_trace_pages_are_the_bureau_s(app, desk) -> None:  # type: ignore[no-untyped-def]
    amr = _login(app, "bureau")
    r = amr.get(f"/portal/bureau/trace/back?code={desk['root'].lot_code}")
    assert r.status_code == 200 and "监督抽检" in body(r) and "南长滩村" in body(r)
    r = amr.get(f"/portal/bureau/trace/forward?lot={desk['root'].lot_code}&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv" and body(r).startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body(r)[1:])))
    assert rows[0][:3] == ["record", "id", "lot"] and sum(1 for x in rows if x[0] == "package") == 6
    r = amr.get(f"/portal/bureau/trace/forward?lot={desk['root'].lot_code}&format=json")
    assert json.loads(body(r))["lot"] == desk["root"].lot_code
    r = amr.get("/portal/bureau/trace/back?code=nothing-like-it")
    assert r.status_code == 400 and "没有包装或批次" in body(r)
    grower = _login(app, "grower")
    for url in (f"/portal/bureau/trace/back?code={desk['root'].lot_code}", f"/portal/bureau/trace/forward?lot={desk['root'].lot_code}",
                "/portal/bureau/worklists/failed", "/portal/bureau/anomalies/late", "/portal/bureau/cases", "/portal/recalls",
                "/portal/bureau/export?kind=epcis"):
        r = grower.get(url)
        assert r.status_code == 403 and 'role="alert"' in body(r), url


# -- a recall from the forward view to its report --------------------------------------------------------


def test_a_recall_started_from_the_forward_view_reaches_every_holder(app, desk, svc, snapshot, world) -> None:  # type: ignore[no-untyped-def]
    amr = _login(app, "bureau")
    amr.get(f"/portal/bureau/trace/forward?lot={desk['root'].lot_code}")
    before = snapshot()
    r = amr.post("/portal/bureau/trace/forward/recall", {"batch": str(desk["root"].id), "lot": desk["root"].lot_code,
                                                         "reason": "抽检霉变"})
    assert r.status_code == 400 and snapshot() == before and 'id="r-level-error"' in body(r)
    r = amr.post("/portal/bureau/trace/forward/recall", {"batch": str(desk["root"].id), "lot": desk["root"].lot_code,
                                                         "level": "1", "reason": "抽检霉变"})
    assert r.status_code == 302, body(r)[-2000:]
    progress = r.headers["Location"]
    entry = int(progress.rsplit("/", 1)[1])
    page = body(amr.get(progress))
    assert "一级" in page and "新百超市" in page and "冷链仓储" not in page  # the cold store no longer holds any
    # The retailer sees it on its desk and records what it did.
    shop = _login(app, "retailer")
    desk_page = body(shop.get("/portal/"))
    assert "您持有的召回产品" in desk_page and f'/portal/recalls/{entry}/batch/{desk["kid"].id}/action' in desk_page
    size = log_size(svc)
    r = shop.post(f"/portal/recalls/{entry}/batch/{desk['kid'].id}/action", {"action": "off_sale", "packages": "4"})
    assert r.status_code == 302 and log_size(svc) == size + 1
    r = shop.post(f"/portal/recalls/{entry}/batch/{desk['kid'].id}/action", {"action": "destroyed", "packages": "9"})
    assert r.status_code == 303 and log_size(svc) == size + 1  # refused, explained on the desk
    assert "可销毁的只有4件" in body(shop.get("/portal/"))
    r = shop.post(f"/portal/recalls/{entry}/batch/{desk['kid'].id}/action", {"action": "destroyed", "packages": "4",
                                                                          "loose_kg": "20"})
    assert r.status_code == 302
    grower = _login(app, "grower")
    r = grower.post(f"/portal/recalls/{entry}/batch/{desk['root'].id}/action", {"action": "destroyed", "loose_kg": "50"})
    assert r.status_code == 302
    report = body(amr.get(f"/portal/recalls/{entry}?view=report"))
    assert 'id="completion-report"' in report and "已完成" in report and "按期" in report
    csv_report = body(amr.get(f"/portal/recalls/{entry}?format=csv"))
    assert "complete,yes" in csv_report and "新百超市,retailer,1,6,2,0,0,4,0" in csv_report
    # Every affected package's public page says so, with the level.
    page = body(app.test_client().get(f"/p/{desk['packages'][4][1]}"))
    assert "已召回" in page and "召回级别：1级" in page


# -- worklists and search ------------------------------------------------------------------------------


def test_worklists_with_filters(app, desk, world, tr) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    tr.ship(a["grower"], desk["fresh"].id, to_party=world["processor"], occurred_at=t(9, 20, 12))
    amr = _login(app, "bureau")
    page = body(amr.get("/portal/bureau/worklists/uninspected"))
    assert desk["fresh"].lot_code in page and desk["kid"].lot_code not in page
    page = body(amr.get("/portal/bureau/worklists/failed"))
    assert desk["bad"].lot_code in page and desk["fresh"].lot_code not in page
    page = body(amr.get("/portal/bureau/worklists/transit?hours=1"))
    assert desk["fresh"].lot_code in page
    page = body(amr.get("/portal/bureau/worklists/failed?product=nanchangtan-soft-pear"))
    assert desk["bad"].lot_code not in page
    page = body(amr.get("/portal/bureau/worklists/uninspected?township=迎水桥镇"))
    assert desk["fresh"].lot_code not in page
    assert amr.get("/portal/bureau/worklists/uninspected?season=1999").status_code == 400
    assert amr.get("/portal/bureau/worklists/uninspected?from=2025-13-01").status_code == 400
    assert amr.get("/portal/bureau/worklists/nothing").status_code == 404
    for q, hit in (("苹果", desk["bad"].lot_code), ("沙坡头村", desk["bad"].lot_code), ("新百", desk["kid"].lot_code),
                   (desk["kid"].lot_code[-4:], desk["kid"].lot_code), ("pear", desk["fresh"].lot_code)):
        page = body(amr.get(f"/portal/bureau/search?q={q}"))
        assert hit in page, q
    page = body(amr.get("/portal/bureau/search?q=%25"))
    assert 'id="total">0个批次' in page  # a % is a character, not a wildcard


# -- anomalies -----------------------------------------------------------------------------------------------


def test_anomaly_lists_and_their_charts(app, desk, world, tr, svc) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    # Recorded eleven days after the event, which the time rules allow only with the bureau's approval (issue 10).
    eleven_days_later = t(9, 12).astimezone(UTC)
    later = Trace(svc.engine, svc.ledger, clock=lambda: eleven_days_later)
    later.run("late.approve", a["bureau"], {"party": world["grower"], "earliest": t(9, 1), "reason": "补录"})
    late = later.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=1000,
                                  occurred_at=t(9, 1))
    tr.set_credit(a["bureau"], world["cold"], "black", "冷链造假", start="2025-09-01")
    with write_session(svc.engine) as s:
        s.add(PackageScan(package_id=desk["packages"][0][0].id, count=40, clients_after_sale=9))
        s.execute(text("UPDATE batches SET quantity_g = 10000, packed_g = 10000 WHERE id = :b"), {"b": desk["kid"].id})  # an insider
    amr = _login(app, "bureau")
    amr.post("/portal/bureau/ranges", {"product": "nanchangtan-soft-pear", "low": "0", "high": "4"})
    expect = {"ceiling": "96.2% · 13,000 / 13,500", "overpacked": desk["kid"].lot_code, "copies": desk["kid"].lot_code,
              "late": late.lot_code, "blacklisted": desk["kid"].lot_code, "cold": "12.0"}
    for kind, needle in expect.items():
        r = amr.get(f"/portal/bureau/anomalies/{kind}")
        assert r.status_code == 200 and needle in body(r), kind
        assert "<svg" in body(r) and "<rect" in body(r), kind
    cold = body(amr.get("/portal/bureau/anomalies/cold"))
    assert "9.5" not in cold  # the misread corrected to 1.5 is in range
    gaps = body(amr.get("/portal/bureau/anomalies/gaps"))
    assert desk["kid"].lot_code not in gaps
    assert amr.get("/portal/bureau/anomalies/nothing").status_code == 404


# -- consumer cases ------------------------------------------------------------------------------------------


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (2400, 1200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (37.0, 30.0, 0.0)}  # GPS
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    assert b"PhoneMaker" in out.getvalue()
    return out.getvalue()


def test_a_consumer_s_report_becomes_a_case_for_the_bureau_only(app, desk, svc) -> None:  # type: ignore[no-untyped-def]
    app.config["TRACE_REPORT_LIMIT"] = (50, 1.0)  # this test sends more than a consumer would
    client = app.test_client()
    unknown = body(client.get("/p/ABCDEFGHJKMNPQRSTVWX"))
    assert 'action="/cases"' in unknown
    size = log_size(svc)
    r = client.post("/cases", data={"code": "/p/ABCDEFGHJKMNPQRSTVWX", "kind": "copy", "place": "滨河镇",
                                    "phone": "13800000000", "photo": (io.BytesIO(_jpeg_with_gps()), "x.jpg")},
                    content_type="multipart/form-data")
    assert r.status_code == 201 and "谢谢" in body(r)
    serial = desk["packages"][2][1]
    assert 'action="/cases"' in body(client.get(f"/p/{serial}"))
    r = client.post("/cases", data={"code": f"http://127.0.0.1:5000/p/{serial}", "kind": "quality", "message": "有霉点"})
    assert r.status_code == 201
    assert log_size(svc) == size  # cases never enter the log
    with read_session(svc.engine) as s:
        first, second = s.scalars(select(Case).order_by(Case.id)).all()
        photo = s.get_one(CasePhoto, first.id)
    assert first.package_id is None and first.phone == "13800000000"
    assert second.package_id == desk["packages"][2][0].id and second.batch_id == desk["kid"].id
    assert b"PhoneMaker" not in photo.data and max(photo.width, photo.height) == 1600
    with Image.open(io.BytesIO(photo.data)) as img:
        assert not img.getexif()
    # Bad input changes nothing and says why.
    for data, needle in (({"kind": "quality", "message": ""}, "描述"), ({"kind": "nope"}, "问题类型"),
                         ({"kind": "copy", "phone": "call me"}, "电话"),
                         ({"kind": "copy", "photo": (io.BytesIO(b"GIF89a not a photo"), "x.gif")}, "JPEG")):
        r = client.post("/cases", data=data, content_type="multipart/form-data")
        assert r.status_code == 400 and needle in body(r), data
    # The bureau sees the phone and the photo; an administrator and the public do not.
    amr = _login(app, "bureau")
    page = body(amr.get(f"/portal/bureau/cases/{first.id}"))
    assert "13800000000" in page and "滨河镇" in page
    assert amr.get(f"/portal/bureau/cases/{first.id}/photo.jpg").mimetype == "image/jpeg"
    admin = _login(app, "admin")
    assert admin.get(f"/portal/bureau/cases/{first.id}").status_code == 403
    assert admin.get(f"/portal/bureau/cases/{first.id}/photo.jpg").status_code == 403
    assert "13800000000" not in body(client.get(f"/p/{serial}"))
    # Assign, answer, close.
    amr.get(f"/portal/bureau/cases/{second.id}")
    with read_session(svc.engine) as s:
        me = s.execute(text("SELECT id FROM users WHERE username = 'bureau'")).scalar_one()
    assert amr.post(f"/portal/bureau/cases/{second.id}", {"do": "assign", "assignee": str(me)}).status_code == 302
    assert amr.post(f"/portal/bureau/cases/{second.id}", {"do": "close", "answer": "已抽检，责令下架"}).status_code == 302
    page = body(amr.get(f"/portal/bureau/cases/{second.id}"))
    assert "已结案" in page and "责令下架" in page
    assert amr.post(f"/portal/bureau/cases/{second.id}", {"do": "answer", "answer": "again"}).status_code == 409


def test_reports_are_rate_limited_without_blocking_the_page(app, desk) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [client.post("/cases", data={"kind": "copy", "code": "X"}).status_code for _ in range(7)]
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429]
    assert client.get(f"/p/{desk['packages'][2][1]}").status_code == 200  # the page itself is never blocked


def test_the_public_credit_list(app, tr, world) -> None:  # type: ignore[no-untyped-def]
    tr.set_credit(world["actors"]["bureau"], world["grower2"], "red", "连续三年抽检全部合格", start="2025-01-01")
    tr.set_credit(world["actors"]["bureau"], world["cold"], "black", "伪造冷链记录", start="2025-01-01", end="2099-01-01")
    tr.set_credit(world["actors"]["bureau"], world["carrier"], "black", "已整改", start="2020-01-01", end="2021-01-01")
    page = body(app.test_client().get("/credit"))
    red, black = page.index('id="red-list"'), page.index('id="black-list"')
    assert red < page.index("迎水桥苹果合作社") < black < page.index("冷链仓储")
    assert "伪造冷链记录" in page and "2099-01-01" in page and "顺达物流" not in page  # that listing has ended
    home = body(app.test_client().get("/"))  # the start page shows the same lists
    lists = home[home.index('id="credit"'):home.index('id="checkpoint"')]
    assert "迎水桥苹果合作社" in lists and "伪造冷链记录" in lists and "顺达物流" not in lists and "已整改" not in lists


# -- exports -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator():  # type: ignore[no-untyped-def]
    from jsonschema import Draft7Validator

    schema = json.loads(SCHEMA.read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_epcis_export_is_valid_and_says_what_happened(runner, desk, world, tr, tmp_path, validator) -> None:  # type: ignore[no-untyped-def]
    tr.recall(world["actors"]["bureau"], desk["root"].id, reason="霉变", level=2, occurred_at=t(9, 22))
    out = tmp_path / "all.jsonld"
    r = runner.invoke(args=["export", "epcis", "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    errors = list(validator.iter_errors(doc))
    assert not errors, [e.message for e in errors[:5]]
    events = doc["epcisBody"]["eventList"]
    steps = {(e["type"], e.get("bizStep"), e.get("disposition")) for e in events}
    assert {("ObjectEvent", "commissioning", "active"), ("ObjectEvent", "inspecting", "conformant"),
            ("ObjectEvent", "inspecting", "non_conformant"), ("AggregationEvent", "packing", None),
            ("TransformationEvent", "repackaging", None), ("ObjectEvent", "storing", "sellable_not_accessible"),
            ("ObjectEvent", "shipping", "in_transit"), ("ObjectEvent", "receiving", "in_progress"),
            ("ObjectEvent", "retail_selling", "retail_sold"), ("ObjectEvent", "holding", "recalled")} <= steps
    harvest = next(e for e in events if e.get("bizStep") == "commissioning")
    assert harvest["action"] == "ADD" and harvest["ilmd"]["cbvmda:lotNumber"] == desk["root"].lot_code
    assert harvest["eventTime"].endswith("+08:00") and harvest["eventTimeZoneOffset"] == "+08:00"
    recall = next(e for e in events if e.get("disposition") == "recalled")
    assert recall["persistentDisposition"] == {"set": ["recalled"]} and recall["st:recallLevel"] == 2
    stores = [e for e in events if e.get("bizStep") == "storing"]
    declared = [e for e in stores if "errorDeclaration" in e]
    assert [d["sensorElementList"][0]["sensorReport"][0]["value"] for d in declared] == [9.5]
    corrective = [e for e in stores if e["eventID"] in declared[0]["errorDeclaration"]["correctiveEventIDs"]]
    assert [c["sensorElementList"][0]["sensorReport"][0]["value"] for c in corrective] == [1.5]
    assert doc["@context"][1]["st"].endswith("/ns/trace#") and "宁E" not in out.read_text()
    # A made-up step is caught, as the format checker must.
    bad = json.loads(json.dumps(doc))
    bad["epcisBody"]["eventList"][0]["bizStep"] = "made_up_step"
    assert list(validator.iter_errors(bad))


def test_export_filters(runner, desk, world, tmp_path, validator) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lot.jsonld"
    assert runner.invoke(args=["export", "epcis", "--lot", desk["kid"].lot_code, "--out", str(out)]).exit_code == 0
    doc = json.loads(out.read_text())
    assert not list(validator.iter_errors(doc))
    assert {e["st:logIndex"] for e in doc["epcisBody"]["eventList"]} and all(
        desk["kid"].lot_code in json.dumps(e) for e in doc["epcisBody"]["eventList"])
    sheet = tmp_path / "cold.csv"
    r = runner.invoke(args=["export", "csv", "--party", str(world["cold"]), "--since", "2025-09-19", "--until", "2025-09-19",
                            "--out", str(sheet)])
    assert r.exit_code == 0, r.output
    raw = sheet.read_text(encoding="utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(raw[1:])))
    assert {r["cte"] for r in rows} == {"receiving", "cold storage", "correction", "shipping"}
    assert all(r["party"] == "冷链仓储" for r in rows) and all(r["event_time"].endswith("+08:00") for r in rows)
    store = next(r for r in rows if r["cte"] == "cold storage")
    assert store["lot"] == desk["kid"].lot_code and "3号冷库" in store["place"]
    for args, needle in ((["--since", "2025-02-30"], "since"), (["--lot", "no such lot!"], "lot"),
                         (["--lot", "NOPE-2025-00001"], "NOPE")):
        r = runner.invoke(args=["export", "csv", *args, "--out", str(tmp_path / "x.csv")])
        assert r.exit_code != 0 and needle in r.output, r.output


def test_portal_export_downloads(app, desk, validator) -> None:  # type: ignore[no-untyped-def]
    amr = _login(app, "bureau")
    r = amr.get("/portal/bureau/export?kind=epcis&lot=" + desk["root"].lot_code)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert not list(validator.iter_errors(json.loads(body(r))))
    r = amr.get("/portal/bureau/export?kind=csv")
    assert body(r).startswith("\ufeff") and desk["kid"].lot_code in body(r)


def test_pages_of_the_desk_render(app, desk) -> None:  # type: ignore[no-untyped-def]
    amr = _login(app, "bureau")
    for url in ("/portal/bureau/", "/portal/bureau/export", "/portal/bureau/logins", "/portal/recalls", "/portal/bureau/cases",
                "/portal/bureau/search"):
        r = amr.get(url)
        assert r.status_code == 200 and "监管工作台" in body(r), url


def test_package_secrets_stay_out_of_exports(runner, desk, tmp_path, svc) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "all.jsonld"
    runner.invoke(args=["export", "epcis", "--out", str(out)])
    with read_session(svc.engine) as s:
        serials = list(s.scalars(select(PackageSecret.serial)))
        assert s.scalar(select(Batch.id).limit(1))
    text_ = out.read_text()
    assert serials and not any(sn in text_ for sn in serials)
