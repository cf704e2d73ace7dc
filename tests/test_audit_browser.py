"""Every phone a monitor: the public page's script, in real Chromium, against a log that grows
honestly and then against the same server serving a forked tree."""
from __future__ import annotations

import json

from selenium.webdriver.support.ui import WebDriverWait

from tests import attacks
from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from tests.conftest import t
from trace.db import read_session


def _monitor(driver):  # type: ignore[no-untyped-def]
    """The monitor's box once the script has filled it in."""
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "var m = document.getElementById('monitor'); return m && !m.hidden && m.textContent.length > 0"))
    return driver.find_element("id", "monitor")


def _remembered(driver):  # type: ignore[no-untyped-def]
    return json.loads(driver.execute_script("return localStorage.getItem('trace.monitor.v1')") or "null")


def test_the_phone_remembers_checks_and_warns_of_a_fork(app, tr, world, harvest, svc, live_server, browser, request) -> None:  # noqa: F811
    a = world["actors"]
    b = harvest(kg=100)
    (_, serial), = tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 22))
    tr.recall(a["bureau"], harvest(kg=50).id, reason="霉变", occurred_at=t(9, 22))
    engine = request.node.callspec.params["db_url"]
    page = f"{live_server}/p/{serial}?lang=en"
    browser.get(page)
    box = _monitor(browser)
    assert "checked the public log's signature" in box.text
    first = _remembered(browser)
    with read_session(svc.engine) as s:
        latest = svc.ledger.latest_checkpoint(s)
    assert first["size"] == latest.size and first["vkey"] == svc.signer.vkey

    # The log grows honestly: the phone checks a consistency proof and remembers the newer one.
    for i in range(3):
        tr.grade(a["grower"], harvest(kg=10).id, grade=f"G{i}", occurred_at=t(9, 23))
    browser.get(page)
    box = _monitor(browser)
    assert "extends the checkpoint this phone saw" in box.text and "monitor-ok" in box.get_attribute("class")
    assert _remembered(browser)["size"] == first["size"] + 6
    save_screenshot(browser, f"monitor-ok-{engine}")

    # The operator rewrites history with the key and re-signs everything; the server serves it.
    attacks.rewrite(svc, attacks.recall_index(svc), attacks.recall_into_grade, with_key=True)
    tr.grade(a["grower"], harvest(kg=10).id, grade="H", occurred_at=t(9, 24))
    remembered = _remembered(browser)
    browser.get(page)
    box = _monitor(browser)
    assert "does not match what this phone saw" in box.text, box.text
    assert "consistency proof" in box.text and "monitor-bad" in box.get_attribute("class")
    report = box.find_element("link text", "Report this")
    assert report.get_attribute("href").startswith(live_server + "/report?code=log")
    assert _remembered(browser) == remembered  # the forged checkpoint is not remembered
    # The page itself still renders for the consumer, with the warning beside it.
    assert browser.find_element("id", "status").is_displayed()
    save_screenshot(browser, f"monitor-fork-{engine}", full_page=True)


def test_the_page_works_without_script_and_the_monitor_stays_hidden(app, tr, world, harvest, client) -> None:
    b = harvest(kg=100)
    (_, serial), = tr.pack(world["actors"]["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 22))
    resp = client.get(f"/p/{serial}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and '<section class="card monitor" id="monitor" hidden' in html
    assert 'src="/static/monitor.js"' in html and "<script>" not in html  # no inline script
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
