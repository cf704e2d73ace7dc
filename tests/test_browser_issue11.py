"""Issue 11 in a real browser (headless Chromium, 390 x 844 phone): the truthful package page in
every state, the start page, a compact portal header, selling by scanning package labels with
the phone's camera (Chromium's fake capture playing a video of real labels), and one event for
a form submitted twice."""
from __future__ import annotations

import json
import time
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from tests.camera import camera_chromium, camera_frame, label_picture, write_y4m  # noqa: F401
from tests.conftest import t
from tests.test_browser_portal import _click_and_load, _login, _menu, _submit
from tests.test_portal_support import add_user, log_size
from trace.db import read_session, write_session
from trace.domain.actors import SYSTEM
from trace.domain.identifiers import package_url
from trace.domain.tables.batches import Package, PackageSecret
from trace.ledger.models import MerkleNode

PEAR = "nanchangtan-soft-pear"
VIEW = 844


def _engine(request: Any) -> str:
    return request.node.callspec.params["db_url"]


def _top(driver: Any) -> None:
    driver.execute_script("window.scrollTo(0, 0)")


def _bottom(driver: Any, css: str) -> float:
    return driver.execute_script(f"return document.querySelector({css!r}).getBoundingClientRect().bottom")


def _fits_width(driver: Any) -> None:
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390, "sideways scrolling"


def _serials(svc: Any, batch_id: int) -> list[tuple[int, str]]:
    with read_session(svc.engine) as s:
        return list(s.execute(select(Package.id, PackageSecret.serial).join(PackageSecret, PackageSecret.package_id == Package.id)
                              .where(Package.batch_id == batch_id).order_by(Package.id)).all())


def _scene(tr: Any, world: dict[str, Any]) -> dict[str, Any]:
    """Packages in every state a shopper may meet."""
    a = world["actors"]
    tr.set_credit(a["bureau"], world["grower"], "red", "连续三年抽检全部合格")

    def lot(kg: int = 100, plot: str = "plot") -> Any:
        b = tr.register_harvest(a["grower"], plot_id=world[plot], product_id=PEAR, quantity_g=kg * 1000, occurred_at=t(9, 20))
        tr.inspect(a["bureau"], b.id, lab="中卫市农产品质量检测站", report_no=f"ZW-{b.id}", passed=True, occurred_at=t(9, 21),
                   results=[{"name": "毒死蜱", "value": "<0.01", "limit": "0.02", "unit": "mg/kg", "pass": True}])
        return b

    failed = lot()
    (p_failed, s_failed), = tr.pack(a["grower"], failed.id, count=1, net_g=2500, occurred_at=t(9, 22))
    tr.sell(a["grower"], failed.id, package_ids=[p_failed.id], occurred_at=t(9, 23))
    follow = tr.inspect(a["bureau"], failed.id, lab="宁夏农产品质量检测中心", report_no="NX-FOLLOW", passed=False, occurred_at=t(9, 26))
    good = lot()
    (_, s_good), = tr.pack(a["grower"], good.id, count=1, net_g=2500, occurred_at=t(9, 22))
    recalled = lot()
    (_, s_recalled), = tr.pack(a["grower"], recalled.id, count=1, net_g=2500, occurred_at=t(9, 22))
    tr.recall(a["bureau"], recalled.id, reason="抽检霉变超标", occurred_at=t(10, 2))
    plot_b = tr.register_plot(SYSTEM, party_id=world["grower"], township="香山乡", village="北长滩村", area_mu="3")
    other = tr.register_harvest(a["grower"], plot_id=plot_b, product_id=PEAR, quantity_g=50_000, occurred_at=t(9, 21))
    tr.inspect(a["bureau"], other.id, lab="中卫市农产品质量检测站", report_no="ZW-B", passed=True, occurred_at=t(9, 21, 12))
    merged = tr.merge(a["grower"], [(good.id, 50_000), (other.id, 50_000)], occurred_at=t(9, 24))
    (_, s_merged), = tr.pack(a["grower"], merged.id, count=1, net_g=2500, occurred_at=t(9, 25))
    return {"failed": s_failed, "follow": follow, "good": s_good, "recalled": s_recalled, "merged": s_merged}


def test_the_package_page_tells_the_whole_truth_on_a_phone(app, svc, tr, world, live_server, browser, request, tmp_path) -> None:  # noqa: F811
    sc = _scene(tr, world)
    engine = _engine(request)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    # Sold, then a follow-up inspection failed: the banner, and the inspection that decides it.
    browser.get(live_server + "/p/" + sc["failed"])
    status = browser.find_element(By.ID, "status")
    assert "检验不合格" in status.text and "宁夏农产品质量检测中心" in status.text and f"记录 #{sc['follow']}" in status.text
    assert status.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"
    link = status.find_element(By.CSS_SELECTOR, "a.entry-link")
    assert link.value_of_css_property("color") == "rgba(255, 255, 255, 1)"  # readable on the banner
    inspections = browser.find_elements(By.CSS_SELECTOR, "#inspections .inspection")
    assert len(inspections) == 2 and "NX-FOLLOW" in inspections[0].text and "决定上方结论" in inspections[0].text
    assert "不合格" in inspections[0].text and "合格" in inspections[1].text
    # The first screen: verdict, product, origin and the deciding inspection; the journey folds.
    _top(browser)
    for css in ("#status", "#product", "#origin", "#inspections .inspection.decides"):
        assert _bottom(browser, css) <= VIEW, f"{css} is below the first screen"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height < 3000, height
    steps = browser.find_elements(By.CSS_SELECTOR, "#journey li.step")
    assert steps and not any(s.is_displayed() for s in steps)
    _fits_width(browser)
    save_screenshot(browser, f"truth-failed-after-sale-{engine}", full_page=True)
    browser.find_element(By.CSS_SELECTOR, "#journey > summary").click()
    assert all(s.is_displayed() for s in steps) and "销售" in browser.find_element(By.ID, "journey").text

    # 12315 is a phone number to call; the red-list chip explains itself.
    assert browser.find_element(By.CSS_SELECTOR, ".report a[href^='tel:']").get_attribute("href") == "tel:12315"
    chip = browser.find_element(By.CSS_SELECTOR, "#origin a.tag.good")
    assert chip.text == "红名单"
    chip.click()
    assert browser.current_url.endswith("#credit-help")
    assert "质量信用红名单" in browser.find_element(By.ID, "credit-help").text

    # "Verify it yourself" explains itself and hands over the proof file.
    proof = browser.find_element(By.ID, "proof")
    assert "您无需相信本服务器" in proof.text
    proof.find_element(By.CSS_SELECTOR, "a.button[download]").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not [p for p in downloads.iterdir() if p.suffix == ".json"]:
        time.sleep(0.1)
    bundle = json.loads(next(p for p in downloads.iterdir() if p.suffix == ".json").read_text())
    assert sc["follow"] in [e["index"] for e in bundle["entries"]] and bundle["verifier_key"]

    # The entry behind the banner opens as a readable page with its proof, not raw JSON.
    _top(browser)
    _click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#status a.entry-link"))
    assert browser.current_url.endswith(f"/log/entries/{sc['follow']}/view")
    entry = browser.find_element(By.ID, "entry").text
    assert f"账本记录 #{sc['follow']}" in entry and "检验" in entry and "NX-FOLLOW" in entry
    assert "已包含在账本最新的签名检查点" in browser.find_element(By.ID, "entry-proof").text
    save_screenshot(browser, f"truth-entry-view-{engine}", full_page=True)

    # Recalled: red, with the reason and the recall's entry.
    browser.get(live_server + "/p/" + sc["recalled"])
    status = browser.find_element(By.ID, "status")
    assert "已召回" in status.text and "抽检霉变超标" in status.text and "请勿食用" in status.text
    assert "召回" in browser.find_element(By.ID, "recalls").text
    save_screenshot(browser, f"truth-recalled-{engine}")

    # A merged lot: each source once, told apart.
    browser.get(live_server + "/p/" + sc["merged"])
    origin = browser.find_element(By.ID, "origin").text
    assert "来源 A" in origin and "来源 B" in origin and origin.count("北长滩村") == 1
    assert "正品" in browser.find_element(By.ID, "status").text
    save_screenshot(browser, f"truth-merged-{engine}", full_page=True)

    # When the proofs do not check out, the page does not vouch for the package.
    with write_session(svc.engine) as s:
        s.execute(MerkleNode.__table__.update().values(hash=b"\x00" * 32))
    for cache in (app.extensions["trace_public_view"]._facts, app.extensions["trace_public_view"]._proofs,
                  app.extensions["trace_public_html"]):
        cache.clear()  # no write signed a new checkpoint: what was proven before would still be served
    browser.get(live_server + "/p/" + sc["good"] + "?lang=en")
    status = browser.find_element(By.ID, "status")
    assert "Could not be verified" in status.text
    assert status.value_of_css_property("background-color") == "rgba(160, 90, 0, 1)"  # --amber
    save_screenshot(browser, f"truth-unverified-{engine}")


def test_the_start_page_on_a_phone(app, svc, tr, world, live_server, browser, request) -> None:  # noqa: F811
    sc = _scene(tr, world)
    browser.get(live_server + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "查验沙坡头地理标志产品"
    assert "南长滩软梨子" in browser.find_element(By.ID, "products").text
    assert "南长滩合作社" in browser.find_element(By.ID, "credit").text  # on the red list, with its reason
    assert "连续三年抽检全部合格" in browser.find_element(By.ID, "credit").text
    assert "签名" in browser.find_element(By.ID, "checkpoint").text
    _fits_width(browser)
    save_screenshot(browser, f"home-zh-{_engine(request)}", full_page=True)
    code = browser.find_element(By.ID, "code")
    code.send_keys(sc["good"].lower())
    _click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#check button[type=submit]"))
    assert "/p/" + sc["good"] in browser.current_url and "正品" in browser.find_element(By.ID, "status").text
    browser.get(live_server + "/")
    _click_and_load(browser, browser.find_element(By.LINK_TEXT, "English"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Check a Shapotou GI product"
    _click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#portal a.button"))
    assert browser.current_url.endswith("/login")


def test_the_portal_header_is_one_row_on_a_phone(app, svc, world, live_server, browser, request) -> None:  # noqa: F811
    add_user(svc, world["grower"], "grower")
    _login(browser, live_server, "grower")
    height = browser.execute_script("return document.querySelector('header.top').getBoundingClientRect().height")
    assert height <= 64, height  # it took about 190 of 844 px
    nav = browser.find_element(By.CSS_SELECTOR, "nav.portal-nav")
    assert not nav.is_displayed()
    _menu(browser)
    assert nav.is_displayed() and "登记采收" in nav.text and "退出" in nav.text
    save_screenshot(browser, f"portal-menu-{_engine(request)}")
    _fits_width(browser)


def test_selling_by_scanning_package_labels_with_the_camera(app, svc, tr, world, live_server, camera_chromium, tmp_path, request) -> None:  # noqa: F811
    """The retailer scans the labels of the two packages a shopper takes: exactly those are sold."""
    a = world["actors"]
    b = tr.register_harvest(a["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=50_000, occurred_at=t(9, 20))
    tr.pack(a["grower"], b.id, count=3, net_g=2500, occurred_at=t(9, 21))
    tr.ship(a["grower"], b.id, to_party=world["retailer"], occurred_at=t(9, 22))
    tr.receive(a["retailer"], b.id, occurred_at=t(9, 22, 12))
    add_user(svc, world["retailer"], "shop")
    codes = _serials(svc, b.id)
    base = app.config["TRACE_PUBLIC_URL"]
    frames = [camera_frame(label_picture(package_url(base, sn, None, b.lot_code), sn)) for _, sn in (codes[0], codes[2])]
    video = write_y4m(tmp_path / "labels.y4m", [frames[0]] * 8 + [frames[1]] * 8, fps=10)
    driver = camera_chromium(video)
    _login(driver, live_server, "shop")
    driver.get(live_server + f"/portal/batch/{b.id}")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return !!document.querySelector('[data-scan].scan-ready')"))
    driver.find_element(By.CSS_SELECTOR, "#do-sell summary").click()
    driver.find_element(By.CSS_SELECTOR, "#do-sell .scan-start").click()

    def lines(d: Any) -> list[str]:
        return [x for x in d.find_element(By.ID, "sell-codes").get_property("value").split("\n") if x.strip()]

    WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: len(lines(d)) == 2, "the two labels were not both scanned")
    assert sorted(lines(driver)) == sorted(package_url(base, sn, None, b.lot_code) for _, sn in (codes[0], codes[2]))
    save_screenshot(driver, f"portal-sell-scanned-{_engine(request)}")
    size = log_size(svc)
    _submit(driver, "f-sell")
    flashes = [f.text for f in driver.find_elements(By.CSS_SELECTOR, "p.flash")]
    assert "已记录销售：2 件包装。" in flashes, (driver.current_url, [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".error, [role=alert]")])
    assert log_size(svc) == size + 1
    with read_session(svc.engine) as s:
        sold = set(s.scalars(select(Package.id).where(Package.batch_id == b.id, Package.status == "sold")))
    assert sold == {codes[0][0], codes[2][0]}
    # The package the shopper did not take still says so on its own page.
    driver.get(live_server + "/p/" + codes[1][1])
    assert "尚未售出" in driver.find_element(By.ID, "product").text


def test_a_form_submitted_twice_records_one_event(app, svc, tr, world, live_server, browser, request) -> None:  # noqa: F811
    b = tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=100_000,
                            occurred_at=t(9, 20))
    add_user(svc, world["grower"], "grower")
    _login(browser, live_server, "grower")
    browser.get(live_server + f"/portal/batch/{b.id}")
    browser.find_element(By.CSS_SELECTOR, "#do-pack summary").click()
    browser.find_element(By.ID, "pack-count").send_keys("4")
    browser.find_element(By.ID, "pack-net_kg").send_keys("2.5")
    size = log_size(svc)
    # Two submits of the same form, at once, as a double tap sends them (same fields, same token).
    statuses = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const form = document.getElementById('f-pack');
        const send = () => fetch(form.action, {method: 'POST', body: new FormData(form), redirect: 'manual'});
        Promise.all([send(), send()]).then(rs => done(rs.map(r => r.type + ':' + r.status)));""")
    assert statuses == ["opaqueredirect:0", "opaqueredirect:0"], statuses  # both answered with the redirect
    assert log_size(svc) == size + 1
    # And a real double tap on the button.
    browser.get(live_server + f"/portal/batch/{b.id}")
    browser.find_element(By.CSS_SELECTOR, "#do-pack summary").click()
    browser.find_element(By.ID, "pack-count").send_keys("2")
    browser.find_element(By.ID, "pack-net_kg").send_keys("1")
    browser.execute_script("const b = document.querySelector('#f-pack button[type=submit]'); b.click(); b.click();")
    WebDriverWait(browser, 20).until(lambda d: "/portal/batch/" in d.current_url and "#pack-" in d.current_url)
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert log_size(svc) == size + 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#packages .pack")) == 2
    assert len(_serials(svc, b.id)) == 6
    save_screenshot(browser, f"portal-double-submit-{_engine(request)}", full_page=True)

