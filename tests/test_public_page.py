"""The verification page a consumer sees: URL forms, status, journey, scans, privacy, escaping,
JSON, linkset, lot pages, rate limits. Real database (SQLite and PostgreSQL), real log."""
from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.conftest import t, uscc
from trace import create_app
from trace.db import read_session, write_session
from trace.domain import accounts
from trace.domain.actors import SYSTEM, Actor
from trace.domain.tables.batches import Batch, PackageScan
from trace.ledger.store import Ledger

GTIN = "06901234567892"  # the world fixture's apple
RESULTS = [{"name": "毒死蜱 chlorpyrifos", "value": "<0.01", "limit": "0.02", "unit": "mg/kg", "pass": True}]


def apple_journey(tr, world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An apple lot from plot to shop: harvest, inspection, grading, transport, a split, packing,
    cold storage, transport, receipt and the sale of one package."""
    a = world["actors"]
    b = tr.register_harvest(a["grower2"], plot_id=world["plot2"], product_id="shapotou-apple", quantity_g=1_000_000, occurred_at=t(9, 20))
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="NX-2025-0042", passed=True, results=RESULTS,
               certificate_no="CC-7", occurred_at=t(9, 21))
    tr.grade(a["grower2"], b.id, grade="一级", occurred_at=t(9, 21, 12))
    tr.ship(a["grower2"], b.id, to_party=world["processor"], vehicle="宁E·12345", occurred_at=t(9, 22))
    tr.receive(a["processor"], b.id, occurred_at=t(9, 22, 15))
    kids = tr.split(a["processor"], b.id, [400_000, 300_000], occurred_at=t(9, 23))
    packed = tr.pack(a["processor"], kids[0].id, count=3, net_g=5000, occurred_at=t(9, 24))
    other = tr.pack(a["processor"], kids[1].id, count=2, net_g=2500, occurred_at=t(9, 24, 11))
    tr.ship(a["processor"], kids[0].id, to_party=world["cold"], occurred_at=t(9, 25))
    tr.receive(a["cold"], kids[0].id, occurred_at=t(9, 25, 12))
    tr.store(a["cold"], kids[0].id, facility="迎水桥冷库3号库", temperature_c="1.5", occurred_at=t(9, 25, 13))
    tr.ship(a["cold"], kids[0].id, to_party=world["retailer"], occurred_at=t(9, 28))
    tr.receive(a["retailer"], kids[0].id, occurred_at=t(9, 28, 15))
    tr.sell(a["retailer"], kids[0].id, package_ids=[packed[0][0].id], occurred_at=t(9, 29))
    return {"batch": b, "kids": kids, "serials": [sn for _, sn in packed], "packages": [p for p, _ in packed],
            "other_serials": [sn for _, sn in other], "lot": kids[0].lot_code}


def pear_package(tr, world) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    """A pear package (the pear has no GTIN: its URL is /p/{serial})."""
    a = world["actors"]
    b = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=100_000, occurred_at=t(9, 20))
    tr.inspect(a["grower"], b.id, lab="中卫市农产品质量检测站", report_no="ZW-1", passed=True, occurred_at=t(9, 21))
    (pkg, serial), = tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 22))
    return b, serial


def dl(j: dict[str, Any], n: int = 0) -> str:
    return f"/01/{GTIN}/10/{j['lot']}/21/{j['serials'][n]}"


def text_of(resp) -> str:  # type: ignore[no-untyped-def]
    """The visible text of a page, tags stripped and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


# -- URL forms -----------------------------------------------------------------------------------


def test_both_url_forms_reach_the_same_package(client, tr, world) -> None:
    j = apple_journey(tr, world)
    serial = j["serials"][0]
    for url in (dl(j), f"/p/{serial}", f"/01/{GTIN}/21/{serial}", f"/p/{serial.lower()}",
                f"/01/{GTIN[1:]}/10/{j['lot']}/21/{serial}"):  # GTIN-13 padded to 14, as GS1 resolvers do
        resp = client.get(url)
        assert resp.status_code == 200, url
        page = resp.get_data(as_text=True)
        assert f'<link rel="canonical" href="http://127.0.0.1:5000{dl(j)}">' in page, url
        assert "沙坡头苹果" in page and j["lot"] in page
    b, pear_serial = pear_package(tr, world)
    assert client.get(f"/p/{pear_serial}").status_code == 200
    # A serial under the wrong GTIN or lot is not this package: a copied code on another box.
    assert client.get(f"/01/{GTIN}/10/{b.lot_code}/21/{pear_serial}").status_code == 404
    assert client.get(f"/01/{GTIN}/10/{j['kids'][1].lot_code}/21/{serial}").status_code == 404
    assert client.get(f"/01/09501101020917/10/{j['lot']}/21/{serial}").status_code == 404  # valid GTIN, other product


@pytest.mark.parametrize("path", [
    "/p/ABC", "/p/" + "A" * 300, "/p/%00%01", "/p/ILOU-ILOU-ILOU-ILOU-ILOU!", "/p/沙坡头苹果沙坡头苹果沙坡头苹果沙坡头苹果",
    "/01/06901234567891/10/APL-2025-00001/21/" + "A" * 20,  # bad check digit
    "/01/123/10/APL/21/" + "A" * 20, "/01/06901234567892/10/" + "x" * 21 + "/21/" + "A" * 20,
    "/01/06901234567892/10/a%20b/21/" + "A" * 20, "/01/06901234567892/10/%3Cscript%3E", "/01/06901234567892",
    "/01/06901234567892/99/x", "/01/", "/lot/%20", "/p/", "/p/" + "A" * 20 + "/", "/p/a/b/c", "/lot/x/y", "/lot/" + "x" * 500, "/p/x/proof", "/lot/a.b/proof",
])
def test_malformed_codes_get_a_clear_400_page(client, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 400, (path, resp.status_code)
    if not path.endswith("proof"):
        assert "无效" in text_of(resp) or "不是" in text_of(resp)
        assert "<script" not in resp.get_data(as_text=True).lower()
    json_resp = client.get(path, headers={"Accept": "application/json"})
    assert json_resp.status_code == 400 and json_resp.json["status"] == "invalid"


def test_unknown_code_is_a_clear_404_with_a_report_link(client, tr, world) -> None:
    apple_journey(tr, world)
    for url in ("/p/" + "7" * 20, f"/01/{GTIN}/10/APL-2025-99999/21/" + "7" * 20, "/lot/APL-2025-99999", f"/01/{GTIN}/10/APL-2025-99999"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        page = text_of(resp)
        assert "此码未登记" in page and "可能是假冒产品" in page
        assert "12315" in page and 'href="https://www.12315.cn/"' in resp.get_data(as_text=True)
    resp = client.get("/p/" + "7" * 20 + "?lang=en")
    assert "This code is not registered: the package may be counterfeit." in text_of(resp)
    resp = client.get("/p/" + "7" * 20, headers={"Accept": "application/json"})
    assert resp.status_code == 404 and resp.json["status"] == "unknown" and resp.json["report_url"]


# -- what the page shows -------------------------------------------------------------------------


def test_page_shows_status_product_origin_inspection_and_the_whole_journey(client, tr, world) -> None:
    j = apple_journey(tr, world)
    resp = client.get(dl(j))
    assert resp.status_code == 200
    page = text_of(resp)
    assert "正品" in page and "这是该码的首次查询" in page
    # product and origin
    for fact in ("沙坡头苹果", "Shapotou apple", "地理标志产品", "迎水桥镇沙坡头村", "迎水桥苹果合作社", "4.5 亩", "2025-09-20",
                 "5 kg", "2025-09-29"):  # net weight, sale date
        assert fact in page, fact
    # inspection with lab and report number, and its results
    assert "宁夏农产品质量检测中心" in page and "NX-2025-0042" in page and "CC-7" in page and "毒死蜱" in page
    # the journey, step by step, each with time, place and party
    steps = re.findall(r'<li class="step step-(\w+)" id="entry-(\d+)">', resp.get_data(as_text=True))
    kinds = [k for k, _ in steps]
    assert kinds == ["harvest", "inspect", "grade", "ship", "receive", "split", "pack", "ship", "receive", "store",
                     "ship", "receive", "sell"]
    assert "迎水桥冷库3号库" in page and "1.5 °C" in page and "2025-09-25 13:00" in page and "冷链仓储" in page
    # every step names its log entry and was proven against the signed checkpoint
    assert page.count("已包含在签名检查点中") == len(steps)
    for _, idx in steps:
        assert f"#{idx}" in page
    # not the journey: the sibling lot's packing, the vehicle plate
    assert "包装为 2 件" not in page and "宁E·12345" not in page


def test_english_switch(client, tr, world) -> None:
    j = apple_journey(tr, world)
    page = text_of(client.get(dl(j) + "?lang=en"))
    assert "Genuine product" in page and "Harvest" in page and "Cold storage" in page and "Shapotou apple" in page
    # the choice is remembered for the next page
    assert "Journey" in text_of(client.get(f"/lot/{j['lot']}"))


def test_recalled_package_says_why_when_and_what_to_do(client, tr, world) -> None:
    j = apple_journey(tr, world)
    tr.recall(world["actors"]["bureau"], j["batch"].id, reason="抽检霉变超标 mould found", occurred_at=t(10, 2))
    resp = client.get(dl(j))
    page = text_of(resp)
    assert 'class="status status-recalled"' in resp.get_data(as_text=True)
    assert "已召回" in page and "2025-10-02" in page and "抽检霉变超标 mould found" in page and "请勿食用" in page
    assert resp.json is None
    data = client.get(dl(j), headers={"Accept": "application/json"}).json
    assert data["status"]["code"] == "recalled" and data["status"]["reason"] == "抽检霉变超标 mould found"
    # the recall is a step of the journey too, even though it came after the sale
    assert data["journey"][-1]["type"] == "recall"


def test_failed_inspection_is_a_warning(client, tr, world) -> None:
    j = apple_journey(tr, world)
    tr.inspect(world["actors"]["bureau"], j["kids"][0].id, lab="复检实验室", report_no="R-2", passed=False, occurred_at=t(9, 28, 16))
    page = text_of(client.get(dl(j)))
    assert "检验不合格" in page and "请勿食用" in page


def test_split_merge_and_processing_appear_in_the_lineage(client, tr, world) -> None:
    a = world["actors"]
    b1 = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=100_000, occurred_at=t(9, 20))
    plot_b = tr.register_plot(SYSTEM, party_id=world["grower"], township="香山乡", village="北长滩村", area_mu="3")
    b2 = tr.register_harvest(a["grower"], plot_id=plot_b, product_id="nanchangtan-soft-pear", quantity_g=50_000, occurred_at=t(9, 21))
    merged = tr.merge(a["grower"], [(b1.id, 80_000), (b2.id, 50_000)], occurred_at=t(9, 22))
    dried = tr.process(a["grower"], merged.id, input_g=100_000, output_g=40_000, form="dried", method="晾晒", occurred_at=t(9, 23))
    (_, serial), = tr.pack(a["grower"], dried.id, count=1, net_g=1000, occurred_at=t(9, 24))
    tr.pack(a["grower"], b1.id, count=1, net_g=5000, occurred_at=t(9, 25))  # b1's own later packing: not this journey
    data = client.get(f"/p/{serial}", headers={"Accept": "application/json"}).json
    kinds = [s["type"] for s in data["journey"]]
    assert kinds == ["harvest", "harvest", "merge", "process", "pack"]
    assert {o["plot"]["village"] for o in data["origins"]} == {"南长滩村", "北长滩村"}
    process = data["journey"][3]["details"]
    assert process["form"] == "dried" and process["into"]["lot"] == dried.lot_code and process["input_g"] == 100_000
    page = text_of(client.get(f"/p/{serial}"))
    assert "合批" in page and "干制" in page and "晾晒" in page


def test_a_correction_shows_the_corrected_value_and_the_correction(client, tr, world) -> None:
    j = apple_journey(tr, world)
    resp = client.get(dl(j), headers={"Accept": "application/json"}).json
    inspect_entry = resp["inspections"][0]["entry"]
    tr.correct(world["actors"]["bureau"], j["batch"].id, target=inspect_entry, changes={"report_no": "NX-2025-0043"},
               reason="报告编号录入错误", occurred_at=t(9, 30))
    data = client.get(dl(j), headers={"Accept": "application/json"}).json
    assert data["inspections"][0]["report_no"] == "NX-2025-0043"
    step = next(s for s in data["journey"] if s["entry"] == inspect_entry)
    assert step["corrected_by"] and data["journey"][-1]["type"] == "correct"
    assert "报告编号录入错误" in text_of(client.get(dl(j)))


# -- scans ------------------------------------------------------------------------------------------


def test_scans_are_counted_with_the_first_time_and_nothing_identifying(client, tr, world, svc) -> None:
    j = apple_journey(tr, world)
    url = dl(j, 1)  # an unsold package
    assert "这是该码的首次查询" in text_of(client.get(url))
    # switching language is not another scan, but shows the counter
    assert "This is the first check of this code." in text_of(client.get(url + "?lang=en"))
    client.head(url)  # nor is a HEAD
    page = text_of(client.get(url))
    assert re.search(r"This code has been checked 2 times, first on \d{4}-\d\d-\d\d", page), page  # English now
    data = client.get(url, headers={"Accept": "application/json"}).json
    assert data["scans"]["count"] == 3 and data["scans"]["first_at"].endswith("Z")
    with read_session(svc.engine) as s:
        row = s.get(PackageScan, j["packages"][1].id)
    assert row.count == 3 and row.clients_after_sale == 0 and row.client_marks == ""  # unsold: no marks at all
    assert "127.0.0.1" not in repr(row.__dict__)


def test_many_clients_after_sale_flag_a_suspected_copy(client, tr, world, svc) -> None:
    j = apple_journey(tr, world)
    url = dl(j, 0)  # the sold package
    for n in range(4):
        page = text_of(client.get(url, environ_base={"REMOTE_ADDR": f"10.0.{n}.7"}))
        assert "疑似仿冒" not in page
    # the same /24 network again is not a new client
    assert "疑似仿冒" not in text_of(client.get(url, environ_base={"REMOTE_ADDR": "10.0.3.99"}))
    resp = client.get(url, environ_base={"REMOTE_ADDR": "10.0.4.7"})
    page = text_of(resp)
    assert "疑似仿冒" in page and "举报可疑产品" in page
    assert 'class="status status-suspected_copy"' in resp.get_data(as_text=True)
    with read_session(svc.engine) as s:
        row = s.get(PackageScan, j["packages"][0].id)
    assert row.count == 6 and row.clients_after_sale == 5
    marks = [m for m in row.client_marks.split(",") if m]
    assert len(marks) == 5 and all(re.fullmatch(r"[0-9a-f]{4}", m) for m in marks)  # 16 bits each, nothing more
    # the package that was not sold is not flagged however often it is scanned
    for n in range(6):
        client.get(dl(j, 1), environ_base={"REMOTE_ADDR": f"10.9.{n}.1"})
    assert "疑似仿冒" not in text_of(client.get(dl(j, 1)))


def test_copy_threshold_is_configurable(tr, world, app) -> None:
    j = apple_journey(tr, world)
    app.config["TRACE_COPY_CLIENTS"] = 2
    c = app.test_client()
    c.get(dl(j), environ_base={"REMOTE_ADDR": "192.0.2.1"})
    data = c.get(dl(j), environ_base={"REMOTE_ADDR": "198.51.100.1"}, headers={"Accept": "application/json"}).json
    assert data["status"]["code"] == "suspected_copy" and data["scans"]["suspected_copy"] is True


# -- privacy and escaping ---------------------------------------------------------------------------


def test_page_shows_nothing_private(client, tr, world, svc) -> None:
    a = world["actors"]
    pid = tr.register_party(SYSTEM, kind="grower", name="香山合作社", uscc=uscc(40), township="香山乡",
                            phone="13912345678", address="香山乡南长滩村 8 号")
    plot = tr.register_plot(SYSTEM, party_id=pid, township="香山乡", village="南长滩村", area_mu="2", lat="37.123456", lon="104.654321")
    login = accounts.create_user(tr, SYSTEM, party_id=pid, username="secret-login-name", password="x",
                                 password_hash="x")
    grower = login.actor
    b = tr.register_harvest(grower, plot_id=plot, product_id="nanchangtan-soft-pear", quantity_g=10_000, occurred_at=t(9, 20))
    tr.ship(grower, b.id, to_party=world["carrier"], vehicle="宁E·98765", occurred_at=t(9, 20, 12))
    tr.receive(a["carrier"], b.id, occurred_at=t(9, 20, 13))
    (_, serial), = tr.pack(a["carrier"], b.id, count=1, net_g=2000, occurred_at=t(9, 21))
    private = ("13912345678", "南长滩村 8 号", "secret-login-name", "37.123456", "104.654321", "37123456", "104654321",
               "98765", "password", f'"user":{login.id}')
    for headers in ({}, {"Accept": "application/json"}):
        body = client.get(f"/p/{serial}", headers=headers).get_data(as_text=True)
        for word in private:
            assert word not in body, word
    # Nor in the public log itself: entries carry the login's pseudonym and commitments.
    size = int(client.get("/log/checkpoint").get_data(as_text=True).split("\n")[1])
    entries = [client.get(f"/log/entries/{i}").get_data(as_text=True) for i in range(size)]
    for word in private:
        assert not any(word in e for e in entries), word
    assert any(login.pseudonym in e for e in entries)
    data = client.get(f"/p/{serial}", headers={"Accept": "application/json"}).json
    assert '"user"' not in str(data) and "user" not in {k for s in data["journey"] for k in s}


@pytest.mark.parametrize("field", ["party", "lab", "reason", "facility"])
def test_everything_a_party_typed_is_escaped(client, tr, world, field: str) -> None:
    evil = "<script>alert(1)</script>"
    a = world["actors"]
    name = evil if field == "party" else "正常合作社"
    pid = tr.register_party(SYSTEM, kind="grower", name=name, uscc=uscc(41), township="香山乡")
    plot = tr.register_plot(SYSTEM, party_id=pid, township="香山乡", village="南长滩村", area_mu="2")
    g = Actor(None, pid)
    b = tr.register_harvest(g, plot_id=plot, product_id="nanchangtan-soft-pear", quantity_g=10_000, occurred_at=t(9, 20))
    tr.inspect(g, b.id, lab=evil if field == "lab" else "实验室", report_no="R1", passed=True, occurred_at=t(9, 20, 10))
    tr.store(g, b.id, facility=evil if field == "facility" else "库", temperature_c="2", occurred_at=t(9, 20, 11))
    (_, serial), = tr.pack(g, b.id, count=1, net_g=2000, occurred_at=t(9, 21))
    if field == "reason":
        tr.recall(a["bureau"], b.id, reason=evil, occurred_at=t(9, 22))
    for url in (f"/p/{serial}", f"/lot/{b.lot_code}", f"/p/{serial}?lang=en"):
        body = client.get(url).get_data(as_text=True)
        # the one script is our own phone monitor (static/monitor.js); nothing typed becomes one
        assert body.lower().count("<script") == 1 and '<script src="/static/monitor.js" defer></script>' in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url


def test_security_headers_keep_the_secret_url_to_itself(client, tr, world) -> None:
    j = apple_journey(tr, world)
    resp = client.get(dl(j))
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "unsafe" not in csp  # only our own file
    assert resp.headers["Cache-Control"] == "no-store"  # the counter changes on every scan
    assert 'rel="linkset"' in resp.headers["Link"]


# -- JSON and linkset --------------------------------------------------------------------------------


def test_json_has_the_same_facts_as_the_page(client, tr, world) -> None:
    j = apple_journey(tr, world)
    page = client.get(dl(j)).get_data(as_text=True)
    resp = client.get(dl(j), headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.json
    assert data["status"]["code"] == "genuine"
    assert data["product"]["name_zh"] == "沙坡头苹果" and data["product"]["gtin"] == GTIN
    assert data["package"]["net_g"] == 5000 and data["package"]["status"] == "sold"
    assert [str(s["entry"]) for s in data["journey"]] == re.findall(r'id="entry-(\d+)"', page)
    assert all(s["included"] for s in data["journey"]) and data["checkpoint"]["verified"]
    assert data["origins"][0]["plot"]["village"] == "沙坡头村"
    assert data["inspections"][0]["report_no"] == "NX-2025-0042"
    assert data["links"]["self"] == "http://127.0.0.1:5000" + dl(j)
    assert data["scans"]["count"] == 2  # the HTML view above and this one


def test_linkset_in_gs1_shape(client, tr, world) -> None:
    j = apple_journey(tr, world)
    for kwargs in ({"headers": {"Accept": "application/linkset+json"}}, {"query_string": {"linkType": "linkset"}}):
        resp = client.get(dl(j), **kwargs)
        assert resp.status_code == 200 and resp.mimetype == "application/linkset+json"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        import json

        ctx = json.loads(resp.data)["linkset"][0]
        assert ctx["anchor"] == "http://127.0.0.1:5000" + dl(j)
        for rel in ("pip", "certificationInfo", "recallStatus", "defaultLink", "traceability"):
            targets = ctx["https://gs1.org/voc/" + rel]
            assert targets and all(t["href"].startswith("http://127.0.0.1:5000/") for t in targets), rel
        assert {"zh", "en"} <= {lang for t in ctx["https://gs1.org/voc/pip"] for lang in t.get("hreflang", [])}
        assert "NX-2025-0042" in ctx["https://gs1.org/voc/certificationInfo"][0]["title"]
        assert ctx["https://gs1.org/voc/recallStatus"][0]["title"] == "not recalled"
    with read_session(client.application.extensions["trace"].engine) as s:
        assert s.get(PackageScan, j["packages"][0].id) is None  # a linkset is not a scan
    tr.recall(world["actors"]["bureau"], j["batch"].id, reason="霉变", occurred_at=t(10, 2))
    ctx = client.get(dl(j) + "?linkType=linkset").json["linkset"][0]
    assert ctx["https://gs1.org/voc/recallStatus"][0]["title"].startswith("RECALLED")
    resp = client.get(dl(j) + "?linkType=gs1:certificationInfo")
    assert resp.status_code == 307 and resp.headers["Location"].endswith(dl(j) + "#inspections")
    lot_ctx = client.get(f"/01/{GTIN}/10/{j['lot']}", headers={"Accept": "application/linkset+json"}).json["linkset"][0]
    assert lot_ctx["anchor"] == f"http://127.0.0.1:5000/01/{GTIN}/10/{j['lot']}"


# -- lot pages ------------------------------------------------------------------------------------------


def test_lot_pages_by_digital_link_and_by_code(client, tr, world) -> None:
    j = apple_journey(tr, world)
    resp = client.get(f"/01/{GTIN}/10/{j['lot']}")
    assert resp.status_code == 200
    page = text_of(resp)
    assert "已登记批次" in page and j["lot"] in page and "包装为 3 件" in page and "新百超市" in page
    assert "售出 1 件" in page  # a lot page shows the lot's sales; a package's page only its own
    assert client.get(f"/lot/{j['lot']}").status_code == 200
    b, _ = pear_package(tr, world)
    assert client.get(f"/lot/{b.lot_code}").status_code == 200
    assert client.get(f"/01/{GTIN}/10/{b.lot_code}").status_code == 404  # the pear lot is not under the apple's GTIN
    data = client.get(f"/lot/{j['lot']}", headers={"Accept": "application/json"}).json
    assert data["kind"] == "lot" and data["lot"]["code"] == j["lot"] and "package" not in data and data["scans"] is None


# -- limits ---------------------------------------------------------------------------------------------


def test_unknown_codes_are_rate_limited_per_client(tr, world, db_url, tmp_path) -> None:
    j = apple_journey(tr, world)
    app = create_app({"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                      "SECRET_KEY": "test-secret", "TRACE_MISS_LIMIT": (3, 1 / 3600)})
    c = app.test_client()
    me, other = {"REMOTE_ADDR": "203.0.113.5"}, {"REMOTE_ADDR": "203.0.113.6"}
    for n in range(3):
        assert c.get(f"/p/{'8' * 19}{n}", environ_base=me).status_code == 404
    # now even a valid code is refused to this client, so guessing learns nothing
    resp = c.get(dl(j), environ_base=me)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "查询过于频繁" in text_of(resp)
    assert c.get(dl(j), environ_base=me, headers={"Accept": "application/json"}).json["status"] == "rate_limited"
    assert c.get(dl(j), environ_base=other).status_code == 200  # per client
    app.extensions["trace"].engine.dispose()


def test_all_lookups_are_rate_limited_generously(tr, world, db_url, tmp_path) -> None:
    j = apple_journey(tr, world)
    app = create_app({"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                      "SECRET_KEY": "test-secret", "TRACE_LOOKUP_LIMIT": (5, 0.001)})
    c = app.test_client()
    codes = [c.get(dl(j)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    app.extensions["trace"].engine.dispose()


# -- cost per request --------------------------------------------------------------------------------


def test_a_repeat_scan_costs_one_statement(client, tr, world, svc, monkeypatch) -> None:
    from sqlalchemy.engine import Engine

    from trace.domain import scans as consumer

    j = apple_journey(tr, world)
    client.get(dl(j))  # fills the caches
    statements: list[str] = []
    scans: list[int] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            statements.append(statement)

    real = consumer.ScanCounter.count
    monkeypatch.setattr(consumer.ScanCounter, "count", lambda *a, **k: scans.append(1) or real(*a, **k))
    event.listen(Engine, "before_cursor_execute", count)  # every engine
    try:
        assert client.get(dl(j)).status_code == 200
        # Nothing but the scan's upsert (run on the DBAPI connection), which also tells that
        # nothing was written since the cached journey was checked.
        assert statements == [] and scans == [1]
        with read_session(svc.engine) as s:
            assert s.get(PackageScan, j["packages"][0].id).count == 2
        tr.grade(world["actors"]["retailer"], j["kids"][0].id, grade="特级", occurred_at=t(9, 29, 12))
        statements.clear()
        assert "特级" in text_of(client.get(dl(j)))  # a write since: the page looks again
        assert len(statements) > 1
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def test_a_new_checkpoint_refreshes_the_cached_journey(client, tr, world) -> None:
    j = apple_journey(tr, world)
    assert "已召回" not in text_of(client.get(dl(j)))
    tr.recall(world["actors"]["bureau"], j["batch"].id, reason="霉变", occurred_at=t(10, 2))
    assert "已召回" in text_of(client.get(dl(j)))


def test_tampered_merkle_node_shows_unproven_steps(client, tr, world, svc) -> None:
    j = apple_journey(tr, world)
    from trace.ledger.models import MerkleNode

    with write_session(svc.engine) as s:
        s.execute(MerkleNode.__table__.update().values(hash=b"\x00" * 32))
    data = client.get(dl(j), headers={"Accept": "application/json"}).json
    assert not data["all_included"] and not any(s["included"] for s in data["journey"])
    assert "未能证明包含在检查点中" in text_of(client.get(dl(j)))


def test_bad_checkpoint_signature_is_a_503_page_not_a_500(client, tr, world, svc) -> None:
    j = apple_journey(tr, world)
    from trace.ledger.models import Checkpoint

    with write_session(svc.engine) as s:
        size = Ledger.size(s)
        cp = s.get(Checkpoint, size)
        cp.note = cp.note.replace(cp.note.splitlines()[1], str(size + 1), 1)
    resp = client.get(dl(j))
    assert resp.status_code == 503 and "暂时无法验证" in text_of(resp)


def test_other_public_pages(client, tr, world) -> None:
    j = apple_journey(tr, world)
    assert client.get("/healthz").data == b"ok\n"
    assert client.get("/verify").status_code == 200
    resp = client.get("/verify", query_string={"code": j["serials"][0].lower()})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/p/{j['serials'][0]}")
    resp = client.get("/verify", query_string={"code": "<b>nope</b>"})
    assert resp.status_code == 400 and "<b>nope" not in resp.get_data(as_text=True)
    page = text_of(client.get("/report", query_string={"code": "ABC"}))
    assert "12315" in page and "ABC" in page
    with read_session(client.application.extensions["trace"].engine) as s:
        assert s.scalar(select(Batch.recalled).where(Batch.lot_code == j["lot"])) is False


def test_concurrent_scans_are_all_counted(app, tr, world, svc) -> None:
    import threading

    j = apple_journey(tr, world)
    errors: list[BaseException] = []

    def scan(n: int) -> None:
        c = app.test_client()
        try:
            for _ in range(10):
                assert c.get(dl(j), environ_base={"REMOTE_ADDR": f"10.{n}.0.1"}).status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    with read_session(svc.engine) as s:
        row = s.get(PackageScan, j["packages"][0].id)
    assert row.count == 80 and row.clients_after_sale == 8
