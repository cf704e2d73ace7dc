"""The consumer's page in a real browser: headless Chromium at a 390 x 844 phone viewport."""
from __future__ import annotations

from sqlalchemy import select

from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from trace import demo
from trace.db import read_session
from trace.domain.identifiers import package_path
from trace.domain.tables.batches import Batch, Package, PackageSecret
from trace.domain.tables.catalogue import Product


def _status_code(driver) -> int:  # type: ignore[no-untyped-def]
    """The HTTP status of the page the browser shows (Navigation Timing Level 2)."""
    return int(driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus"))


def test_demo_package_page_on_a_phone(app, svc, live_server, browser, request) -> None:  # noqa: F811
    demo.load(svc.trace)
    with read_session(svc.engine) as s:
        serial, lot, gtin = s.execute(
            select(PackageSecret.serial, Batch.lot_code, Product.gtin)
            .join(Package, Package.id == PackageSecret.package_id).join(Batch, Batch.id == Package.batch_id)
            .join(Product, Product.id == Batch.product_id)
            .where(Product.id == "shapotou-apple", Package.status == "sold", Batch.recalled.is_(False))
            .order_by(Package.id).limit(1)).one()
    path = package_path(serial, gtin, lot)
    assert path.startswith("/01/")  # the demo apple has a GTIN: the GS1 Digital Link form
    browser.get(live_server + path)
    assert _status_code(browser) == 200
    status = browser.find_element("id", "status")
    assert "正品" in status.text and "首次查询" in status.text
    assert "沙坡头苹果" in browser.find_element("id", "product").text
    # Issue 11: the journey folds, so that the verdict, product, origin and inspections fit the first screen.
    assert "已包含在签名检查点中" not in browser.find_element("id", "journey").text
    browser.find_element("css selector", "#journey > summary").click()
    journey = browser.find_element("id", "journey").text
    assert "采收" in journey and "检验" in journey and "已包含在签名检查点中" in journey
    # Readable on the phone: nothing wider than the viewport, so no sideways scrolling.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    engine = request.node.callspec.params["db_url"]
    save_screenshot(browser, f"public-package-zh-{engine}")

    browser.find_element("link text", "English").click()
    status = browser.find_element("id", "status")
    assert "Genuine product" in status.text
    assert "This is the first check of this code." in status.text  # the switch showed the counter, counted nothing
    assert "Shapotou apple" in browser.find_element("id", "product").text
    browser.find_element("css selector", "#journey > summary").click()
    assert "Harvest" in browser.find_element("id", "journey").text
    assert browser.execute_script("return document.documentElement.lang") == "en"
    save_screenshot(browser, f"public-package-en-{engine}", full_page=True)

    # A package of the lot the bureau recalled: red, with the reason and what to do.
    with read_session(svc.engine) as s:
        recalled = s.scalar(select(PackageSecret.serial).join(Package, Package.id == PackageSecret.package_id)
                            .join(Batch, Batch.id == Package.batch_id).where(Batch.recalled.is_(True)).limit(1))
    browser.get(live_server + "/p/" + recalled + "?lang=zh")
    status = browser.find_element("id", "status")
    assert "已召回" in status.text and "霉变" in status.text and "请勿食用" in status.text
    assert status.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"  # --red
    save_screenshot(browser, f"public-package-recalled-{engine}")

    # An unknown code: a clear page with a 404 status and a way to report it.
    browser.get(live_server + "/p/" + "Z" * 20)
    assert _status_code(browser) == 404
    assert "未登记" in browser.find_element("id", "status").text
    assert browser.find_element("partial link text", "12315")
