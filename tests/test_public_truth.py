"""The consumer page tells the whole truth (issue 11): inspections and recalls appear whenever
they were recorded, newest and worst first, with the one that decides the banner marked; the
verdict comes from log entries proven against the signed checkpoint, and a state table that
disagrees with the log is said so; a merged lot tells its sources apart; the start page and
the readable view of an entry. Real SQLite and PostgreSQL, the real log."""
from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import text as sql

from tests.conftest import t
from trace.db import write_session
from trace.domain.actors import SYSTEM


def text_of(resp) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def _lot_with_two_packages(tr, world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A pear lot inspected once (pass), two packages, the first sold at the shop."""
    a = world["actors"]
    b = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=100_000,
                            occurred_at=t(9, 20))
    first = tr.inspect(a["bureau"], b.id, lab="中卫市农产品质量检测站", report_no="ZW-1", passed=True, occurred_at=t(9, 21))
    packed = tr.pack(a["grower"], b.id, count=2, net_g=2500, occurred_at=t(9, 22))
    tr.ship(a["grower"], b.id, to_party=world["retailer"], occurred_at=t(9, 23))
    tr.receive(a["retailer"], b.id, occurred_at=t(9, 23, 12))
    tr.sell(a["retailer"], b.id, package_ids=[packed[0][0].id], occurred_at=t(9, 24))
    return {"batch": b, "first": first, "sold": packed[0][1], "unsold": packed[1][1]}


def _forget(client) -> None:  # type: ignore[no-untyped-def]
    """Drop the public caches (facts and pages are cached per checkpoint; SQL behind the log's
    back signs none)."""
    for name in ("trace_public_view", "trace_public_html"):
        cache = client.application.extensions.get(name)
        if cache is not None:
            (cache._facts if name == "trace_public_view" else cache).clear()


def _json(client, serial: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return client.get(f"/p/{serial}", headers={"Accept": "application/json"}).json


def test_a_failed_follow_up_shows_on_a_package_sold_before_it(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    """The bug: the banner said 检验不合格 while the inspections shown were only the earlier pass."""
    j = _lot_with_two_packages(tr, world)
    follow = tr.inspect(world["actors"]["bureau"], j["batch"].id, lab="宁夏农产品质量检测中心", report_no="NX-9",
                        passed=False, occurred_at=t(9, 26))
    for serial in (j["sold"], j["unsold"]):
        data = _json(client, serial)
        assert data["status"]["code"] == "failed_inspection" and data["status"]["entries"] == [follow]
        assert data["status"]["proven"] and data["status"]["agrees"]
        assert [(i["entry"], i["passed"], i["decides"]) for i in data["inspections"]] == [(follow, False, True), (j["first"], True, False)]
        assert follow in data["entries"] and follow in [s["entry"] for s in data["journey"]]
        page = client.get(f"/p/{serial}")
        body = text_of(page)
        assert "检验不合格" in body and "NX-9" in body and "ZW-1" in body and "决定上方结论" in body
        # Whatever decides the banner is shown in it, with the entry behind it.
        banner = page.get_data(as_text=True).split('id="status"')[1].split("</section>")[0]
        assert f'href="/log/entries/{follow}/view"' in banner and "宁夏农产品质量检测中心" in banner
        bundle = client.get(f"/p/{serial}/proof").json
        assert follow in [e["index"] for e in bundle["entries"]]  # the proof file holds it too


def test_sold_and_unsold_packages_of_a_lot_show_the_same_inspections(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    """The bug: a package sold before the lot's inspection said 'no inspection yet' while an unsold one showed the pass."""
    a = world["actors"]
    b = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=100_000,
                            occurred_at=t(9, 20))
    packed = tr.pack(a["grower"], b.id, count=2, net_g=2500, occurred_at=t(9, 21))
    tr.sell(a["grower"], b.id, package_ids=[packed[0][0].id], occurred_at=t(9, 22))
    passed = tr.inspect(a["grower"], b.id, lab="自检室", report_no="S-1", passed=True, occurred_at=t(9, 23))
    sold, unsold = _json(client, packed[0][1]), _json(client, packed[1][1])
    assert [i["entry"] for i in sold["inspections"]] == [i["entry"] for i in unsold["inspections"]] == [passed]
    assert sold["status"]["code"] == unsold["status"]["code"] == "genuine" and sold["status"]["entries"] == [passed]
    assert "尚无检验记录" not in text_of(client.get(f"/p/{packed[0][1]}"))
    # ... and a package's own journey still ends at its sale, apart from inspections and recalls.
    kinds = [s["type"] for s in sold["journey"]]
    assert kinds == ["harvest", "pack", "sell", "inspect"]


def test_a_recall_after_the_sale_appears_with_its_entry(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    j = _lot_with_two_packages(tr, world)
    [recall_entry] = [tr.run("recall", world["actors"]["bureau"], {"batch": j["batch"].id, "level": "2", "reason": "抽检霉变",
                                                                    "occurred_at": t(10, 2)}).entry]
    data = _json(client, j["sold"])
    assert data["status"]["code"] == "recalled" and data["status"]["entry"] == recall_entry and data["status"]["proven"]
    assert data["recalls"] == [{"entry": recall_entry, "at": "2025-10-02T01:00:00.000Z", "reason": "抽检霉变", "level": 2,
                                "party": data["recalls"][0]["party"], "lot": j["batch"].lot_code, "batches": 1, "included": True}]
    page = client.get(f"/p/{j['sold']}").get_data(as_text=True)
    assert 'id="recalls"' in page and f'href="/log/entries/{recall_entry}/view"' in page


def test_a_split_lot_inherits_its_parents_inspection_and_sees_later_ones(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=100_000,
                            occurred_at=t(9, 20))
    passed = tr.inspect(a["bureau"], b.id, lab="检测站", report_no="P-1", passed=True, occurred_at=t(9, 21))
    [kid] = tr.split(a["grower"], b.id, [40_000], occurred_at=t(9, 22))
    (_, serial), = tr.pack(a["grower"], kid.id, count=1, net_g=2000, occurred_at=t(9, 23))
    later = tr.inspect(a["bureau"], b.id, lab="复检站", report_no="P-2", passed=False, occurred_at=t(9, 25))
    data = _json(client, serial)
    # The rules: a split lot keeps its parent's status at the split; a later failure of the parent
    # holds the parent, not the lot split off before it. The page says both.
    assert data["status"]["code"] == "genuine" and data["verdict"]["inspection"]["inherited"]
    split_entry = next(s["entry"] for s in data["journey"] if s["type"] == "split")
    assert data["status"]["entries"] == [passed, split_entry]
    assert [(i["entry"], i["own"], i["after_source"], i["decides"]) for i in data["inspections"]] == [
        (later, False, True, False), (passed, False, False, True)]
    body = text_of(client.get(f"/p/{serial}?lang=en"))
    assert "recorded after this lot was made from it" in body and f"the lots {b.lot_code} passed" in body


def test_the_page_says_when_the_state_tables_disagree_with_the_log(client, tr, world, svc) -> None:  # type: ignore[no-untyped-def]
    """The verdict does not rest on the state tables alone: set them to 'passed' behind the log's
    back and the page still says failed (from the proven entry), and that the records disagree."""
    j = _lot_with_two_packages(tr, world)
    tr.inspect(world["actors"]["bureau"], j["batch"].id, lab="检测站", report_no="F-1", passed=False, occurred_at=t(9, 26))
    with write_session(svc.engine) as s:
        s.execute(sql("UPDATE batches SET inspection = 'passed' WHERE id = :b"), {"b": j["batch"].id})
    data = _json(client, j["unsold"])
    assert data["status"]["code"] == "failed_inspection" and data["status"]["agrees"] is False
    assert "与其签名账本不一致" in text_of(client.get(f"/p/{j['unsold']}"))
    # A recall the state tables claim but the log does not hold: recalled is said anyway, with the doubt.
    with write_session(svc.engine) as s:
        s.execute(sql("UPDATE batches SET inspection = 'failed', recalled = :t WHERE id = :b"), {"b": j["batch"].id, "t": True})
    _forget(client)  # no write signed a new checkpoint: the cached facts would still be served
    data = _json(client, j["unsold"])
    assert data["status"]["code"] == "recalled" and data["status"]["agrees"] is False and data["recalls"] == []


def test_a_merged_lot_shows_each_source_once_and_tells_them_apart(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    plot_b = tr.register_plot(SYSTEM, party_id=world["grower"], township="香山乡", village="北长滩村", area_mu="3")
    b1 = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=60_000, occurred_at=t(9, 20))
    b2 = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear", quantity_g=30_000, occurred_at=t(9, 21))
    b3 = tr.register_harvest(a["grower"], plot_id=plot_b, product_id="nanchangtan-soft-pear", quantity_g=30_000, occurred_at=t(9, 22))
    merged = tr.merge(a["grower"], [(b1.id, 60_000), (b2.id, 30_000), (b3.id, 30_000)], occurred_at=t(9, 23))
    (_, serial), = tr.pack(a["grower"], merged.id, count=1, net_g=2000, occurred_at=t(9, 24))
    origins = _json(client, serial)["origins"]
    assert [(o["label"], o["plot"]["village"], o["share_permille"], [h["lot"] for h in o["harvests"]]) for o in origins] == [
        ("A", "南长滩村", 750, [b1.lot_code, b2.lot_code]), ("B", "北长滩村", 250, [b3.lot_code])]
    page = client.get(f"/p/{serial}").get_data(as_text=True)
    origin = html.unescape(re.sub(r"<[^>]+>", " ", page.split('id="origin"')[1].split("</section>")[0]))
    assert "来源 A" in origin and "来源 B" in origin and "约占本批次的 75%" in origin and "约占本批次的 25%" in origin
    assert origin.count("南长滩村") == 1 and origin.count("北长滩村") == 1  # each source's place once


def test_the_first_screen_and_the_links_of_a_package_page(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    j = _lot_with_two_packages(tr, world)
    page = client.get(f"/p/{j['sold']}").get_data(as_text=True)
    order = [page.index(f'id="{s}"') for s in ("status", "product", "origin", "inspections", "journey", "proof")]
    assert order == sorted(order)  # verdict, product, origin and inspection before the journey and the proof
    assert re.search(r'<details class="card fold" id="journey">', page)  # the journey folds
    assert '<a href="tel:12315">12315</a>' in page
    assert 'href="#credit-help"' not in page or 'id="credit-help"' in page
    assert 'id="credit-help"' in page and "红名单" in page
    steps = re.findall(r'<li class="step step-\w+" id="entry-(\d+)">', page)
    for index in steps:
        assert f'href="/log/entries/{index}/view"' in page  # readable views, not raw JSON
    assert "/log/entries/" + steps[0] + '"' not in page
    assert "下载证明文件" in page and "任何人都可以离线核验" in page


def test_the_readable_view_of_an_entry(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    j = _lot_with_two_packages(tr, world)
    r = client.get(f"/log/entries/{j['first']}/view")
    csp = r.headers["Content-Security-Policy"]
    assert r.status_code == 200 and "script-src 'self';" in csp and "unsafe" not in csp  # our own monitor.js only
    body = text_of(r)
    assert f"账本记录 #{j['first']}" in body and "检验" in body and "中卫市农产品质量检测站" in body and "ZW-1" in body
    assert "已包含在账本最新的签名检查点" in body and "叶哈希" in body
    page = r.get_data(as_text=True)
    assert f'href="/log/entries/{j["first"]}"' in page and f"/log/proof/inclusion?index={j['first']}" in page
    size = int(client.get("/log/checkpoint").get_data(as_text=True).split("\n")[1])
    assert client.get(f"/log/entries/{size}/view").status_code == 404
    assert client.get("/log/entries/abc/view").status_code == 400
    assert "Log entry #0" in text_of(client.get("/log/entries/0/view?lang=en"))  # the register reads too


def test_a_credit_listing_shows_on_the_page_only_while_in_force(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    lot = _lot_with_two_packages(tr, world)
    bureau = world["actors"]["bureau"]
    tr.set_credit(bureau, world["retailer"], "black", "以次充好", start="2025-01-01", end="2099-12-31")
    assert 'class="tag bad" href="#credit-help"' in client.get(f"/p/{lot['sold']}").get_data(as_text=True)
    assert _json(client, lot["sold"])["lot"]["custodian"]["credit"] == "black"
    tr.set_credit(bureau, world["retailer"], "black", "整改期满", start="2020-01-01", end="2021-01-01")  # ended long ago
    assert _json(client, lot["sold"])["lot"]["custodian"]["credit"] == "normal"
    page = client.get(f"/p/{lot['sold']}").get_data(as_text=True)
    assert 'class="tag bad" href="#credit-help"' not in page


def test_the_start_page(client, tr, world) -> None:  # type: ignore[no-untyped-def]
    tr.set_credit(world["actors"]["bureau"], world["grower2"], "red", "连续三年抽检全部合格")
    tr.set_credit(world["actors"]["bureau"], world["carrier"], "black", "伪造冷链温度记录")
    r = client.get("/")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.get_data(as_text=True)
    body = text_of(r)
    for words in ("查验沙坡头地理标志产品", "南长滩软梨子", "AGI01791", "香山乡: 北长滩村、南长滩村", "沙坡头苹果", "迎水桥镇全境",
                  "迎水桥苹果合作社", "连续三年抽检全部合格", "顺达物流", "伪造冷链温度记录", "登录工作平台"):
        assert words in body, words
    size = int(client.get("/log/checkpoint").get_data(as_text=True).split("\n")[1])
    assert f"涵盖 {size} 条记录" in body
    page = r.get_data(as_text=True)
    assert 'action="/verify"' in page and 'href="/login"' in page and '<a href="tel:12315">' in page
    assert "<script" not in page and "default-src 'none'" in r.headers["Content-Security-Policy"]
    en = text_of(client.get("/?lang=en"))
    assert "Check a Shapotou GI product" in en and "Red list" in en and "Nanchangtan soft pear" in en
    # A product without a registration number says so, rather than inventing one.
    tr.define_product(SYSTEM, id="nanchangtan-jujube", name_zh="南长滩大枣", name_en="Nanchangtan jujube",
                      harvest_months=[9, 10], yield_g_per_mu=800_000, lot_prefix="JUJ", area=[("香山乡", "南长滩村")])
    assert "not known" in text_of(client.get("/?lang=en")).split("Nanchangtan jujube")[1][:200]
