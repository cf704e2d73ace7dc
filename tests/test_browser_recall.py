"""A recall in a real browser (headless Chromium, phone viewport), from start to completion
report: the bureau traces a harvest forward and recalls it at level I; the retailer and the
grower each find the recalled stock on their desk and record what they did; the bureau's report
then says the recall is complete and on time, and the package's public page says it is recalled."""
from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from tests.test_browser_portal import _click_and_load, _login, _submit
from tests.test_desk_portal import desk  # noqa: F401


def _logout(driver: Any, base: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login")


def _record(driver: Any, base: str, batch_id: int, action: str, packages: str = "", loose_kg: str = "") -> None:
    driver.get(base + "/portal/")
    card = driver.find_element(By.CSS_SELECTOR, f"#recall-tasks [id$='-{batch_id}']")
    Select(card.find_element(By.NAME, "action")).select_by_value(action)
    field = card.find_element(By.NAME, "packages")
    field.clear()
    if packages:
        field.send_keys(packages)
    if loose_kg:
        card.find_element(By.NAME, "loose_kg").send_keys(loose_kg)
    _click_and_load(driver, card.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "已记录" in driver.page_source, [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".flash")]


def test_a_recall_from_the_forward_view_to_its_completion_report(app, desk, live_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, d = live_server, browser
    _login(d, base, "bureau")
    d.get(f"{base}/portal/bureau/trace/forward?lot={desk['root'].lot_code}")
    assert "新百超市" in d.page_source
    Select(d.find_element(By.ID, "r-level")).select_by_value("1")
    d.find_element(By.ID, "r-reason").send_keys("抽检霉变超标")
    _submit(d, "f-recall")
    assert "/portal/recalls/" in d.current_url and "一级" in d.find_element(By.ID, "level").text
    progress = d.current_url
    assert "进行中" in d.find_element(By.ID, "recall-state").text
    save_screenshot(d, "recall-progress", full_page=True)
    # The holders act from their desks.
    _logout(d, base)
    _login(d, base, "retailer")
    assert "您持有的召回产品" in d.find_element(By.ID, "recall-tasks").text
    _record(d, base, desk["kid"].id, "off_sale", packages="4", loose_kg="20")
    _record(d, base, desk["kid"].id, "destroyed", packages="4", loose_kg="20")
    save_screenshot(d, "recall-holder-desk", full_page=True)
    _logout(d, base)
    _login(d, base, "grower")
    _record(d, base, desk["root"].id, "destroyed", loose_kg="50")
    # The bureau's completion report.
    _logout(d, base)
    _login(d, base, "bureau")
    d.get(progress)
    _click_and_load(d, d.find_element(By.ID, "report"))
    report = d.find_element(By.ID, "completion-report").text
    assert "召回完成情况报告" in report and "已完成" in report and "按期" in report
    assert "新百超市" in report
    save_screenshot(d, "recall-completion-report", full_page=True)
    # And the package's public page says so.
    d.get(f"{base}/p/{desk['packages'][5][1]}")
    assert "已召回" in d.find_element(By.ID, "status").text
