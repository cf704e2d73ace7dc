"""The portal in a real browser (headless Chromium, phone viewport): a grower registers a harvest
and ships it; a processor receives it, packs 10 packages and downloads their labels; the QR code
of a downloaded label leads to the package's public page, which shows the whole journey."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from tests.test_portal_support import add_user


def _wait_for_download(folder: Path, suffix: str, seen: set[str], timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix) and p.name not in seen]
        if done and not any(p.name.endswith(".crdownload") for p in folder.iterdir()):
            seen.add(done[0].name)
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} was downloaded into {folder}: {sorted(p.name for p in folder.iterdir())}")


def _click_and_load(driver: Any, element: Any) -> None:
    """Click something that loads a new page, and wait until the new page is there."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_d: Any) -> bool:
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            # Stale, or (Chromium mid-navigation) "node does not belong to the document":
            # either way the old page is gone.
            return True

    WebDriverWait(driver, 20).until(replaced)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _submit(driver: Any, form_id: str) -> None:
    _click_and_load(driver, driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]"))


def _login(driver: Any, base: str, username: str) -> None:
    driver.get(base + "/login")
    driver.find_element(By.ID, "l-username").send_keys(username)
    driver.find_element(By.ID, "l-password").send_keys("correct horse battery")
    _submit(driver, "f-login")
    assert driver.current_url.endswith("/portal/"), driver.current_url


def _menu(driver: Any) -> None:
    """Open the portal's menu (issue 11: the header is one row, the links are in a menu)."""
    if not driver.find_element(By.CSS_SELECTOR, "details.menu").get_attribute("open"):
        driver.find_element(By.CSS_SELECTOR, "details.menu > summary").click()


def _logout(driver: Any) -> None:
    _menu(driver)
    _click_and_load(driver, driver.find_element(By.CSS_SELECTOR, "nav.portal-nav form button"))
    assert driver.current_url.endswith("/login")


def _flash(driver: Any) -> str:
    return driver.find_element(By.CSS_SELECTOR, "p.flash").text


def _fits_the_phone(driver: Any) -> None:
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390, "sideways scrolling on a phone"


def test_from_orchard_to_public_page(app, svc, world, live_server, browser, tmp_path, request) -> None:  # noqa: F811
    engine = request.node.callspec.params["db_url"]
    app.config["TRACE_PUBLIC_URL"] = live_server  # the QR codes must lead to this test's server
    add_user(svc, world["grower"], "grower")
    add_user(svc, world["processor"], "packer")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    seen: set[str] = set()

    # The grower registers a harvest from its plot, in Chinese.
    _login(browser, live_server, "grower")
    _click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "main a[href='/portal/harvest']"))
    Select(browser.find_element(By.ID, "h-plot")).select_by_value(str(world["plot"]))
    Select(browser.find_element(By.ID, "h-product")).select_by_value("nanchangtan-soft-pear")
    browser.find_element(By.ID, "h-quantity_kg").send_keys("1200")
    # First a date out of season: the refusal is explained next to the field and nothing is written.
    when = browser.find_element(By.ID, "h-occurred_at")
    browser.execute_script("arguments[0].value = '2025-03-01T08:00'", when)
    _submit(browser, "f-harvest")
    error = browser.find_element(By.ID, "h-occurred_at-error").text
    assert "采收期是9月、10月，3月不在采收期内" in error
    save_screenshot(browser, f"portal-harvest-refused-{engine}")
    when = browser.find_element(By.ID, "h-occurred_at")
    browser.execute_script("arguments[0].value = '2025-09-20T08:30'", when)
    _submit(browser, "f-harvest")
    assert "采收已登记，批号 PEAR-2025-" in _flash(browser)
    lot = browser.find_element(By.CSS_SELECTOR, "h1.lot-title").text.split()[0]
    assert "1,200 公斤" in browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    _fits_the_phone(browser)

    # ... and ships it to the processor.
    browser.find_element(By.CSS_SELECTOR, "#do-ship summary").click()
    Select(browser.find_element(By.ID, "ship-to_party")).select_by_value(str(world["processor"]))
    browser.find_element(By.ID, "ship-vehicle").send_keys("宁E·12345")
    _submit(browser, "f-ship")
    assert "已发往 沙坡头果品加工" in _flash(browser)
    assert "正在发往 沙坡头果品加工" in browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    save_screenshot(browser, f"portal-shipped-{engine}", full_page=True)
    _logout(browser)

    # The processor finds it waiting on its desk and receives it.
    _login(browser, live_server, "packer")
    incoming = browser.find_element(By.ID, "incoming")
    assert lot in incoming.text
    _fits_the_phone(browser)
    save_screenshot(browser, f"portal-processor-desk-{engine}")
    _click_and_load(browser, incoming.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "已接收" in _flash(browser)
    assert "沙坡头果品加工" in browser.find_element(By.CSS_SELECTOR, "dl.facts").text

    # It packs 10 packages of 2.5 kg: a wrong count first, explained next to the field.
    browser.find_element(By.CSS_SELECTOR, "#do-pack summary").click()
    browser.find_element(By.ID, "pack-count").send_keys("十")
    browser.find_element(By.ID, "pack-net_kg").send_keys("2.5")
    _submit(browser, "f-pack")
    assert "包装件数应为正整数" in browser.find_element(By.ID, "pack-count-error").text
    count = browser.find_element(By.ID, "pack-count")
    count.clear()
    count.send_keys("10")
    _submit(browser, "f-pack")
    assert "已包装 10 件" in _flash(browser)
    packs = browser.find_element(By.ID, "packages").text
    assert "10 件 × 2.5 公斤" in packs
    save_screenshot(browser, f"portal-packed-{engine}", full_page=True)

    # The labels: an A4 sheet PDF, then one label as PNG.
    browser.find_element(By.PARTIAL_LINK_TEXT, "A4").click()
    pdf = _wait_for_download(downloads, ".pdf", seen)
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 10_000
    _click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#packages a[href*='/labels?entry=']"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.labels tbody tr")
    assert len(rows) == 10
    rows[0].find_element(By.PARTIAL_LINK_TEXT, "PNG").click()
    png = _wait_for_download(downloads, ".png", seen)

    # Scan the label: its QR code is the package's public address.
    url, _pts, _ = cv2.QRCodeDetector().detectAndDecode(np.array(Image.open(png).convert("L")))
    assert url.startswith(live_server + "/p/"), url
    browser.delete_all_cookies()  # a consumer, not logged in
    browser.get(url)
    assert "正品" in browser.find_element(By.ID, "status").text
    journey = browser.find_element(By.ID, "journey")
    journey.find_element(By.TAG_NAME, "summary").click()  # the journey folds (issue 11)
    for step in ("harvest", "ship", "receive", "pack"):
        assert journey.find_elements(By.CSS_SELECTOR, f".step-{step}"), f"the journey has no {step} step"
    text = journey.text
    assert "南长滩合作社" in text and "沙坡头果品加工" in text and lot in text
    assert "宁E·12345" not in text  # a plate may be a private car: the public page leaves it out
    assert "南长滩软梨子" in browser.find_element(By.ID, "product").text
    _fits_the_phone(browser)
    save_screenshot(browser, f"portal-public-journey-{engine}", full_page=True)
