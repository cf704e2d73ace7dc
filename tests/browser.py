"""Browser harness shared by the browser tests: a live server and headless Chromium.

Stable API (other tests import it; keep these names and behaviours):

* fixture ``live_server`` -> str: serves the test's ``app`` fixture with werkzeug's
  ``make_server`` on 127.0.0.1, port 0 (a free port), in a daemon thread, and yields the base URL
  such as ``http://127.0.0.1:43121`` (no trailing slash). It follows the ``app`` fixture, so it
  runs on every database engine ``app`` is parametrized with. Shut down at teardown.
* fixture ``browser`` -> selenium.webdriver.Chrome: Debian's /usr/bin/chromium driven by
  /usr/bin/chromedriver, headless, a fresh profile (``--user-data-dir`` in the test's tmp_path), a
  390 x 844 phone viewport, no background networking; quit at teardown. Override the paths with
  CHROMIUM_BINARY / CHROMEDRIVER. When Chromium or chromedriver is missing the test FAILS with a
  message saying what to install: a browser test that does not run must not look like a pass.
* ``save_screenshot(driver, name, full_page=False) -> Path``: a PNG in test-artifacts/ at the
  project root (``name`` without extension; characters other than letters, digits, ``-`` and
  ``_`` become ``_``); ``full_page=True`` captures the whole scrolled page, not only the
  viewport. CI keeps test-artifacts/ as an artifact.

Use in a test module::

    from tests.browser import browser, live_server, save_screenshot  # noqa: F401

    def test_page(app, live_server, browser):
        browser.get(live_server + "/p/...")
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
VIEWPORT = (390, 844)
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
    "--disable-features=Translate,OptimizationHints,MediaRouter", "--hide-scrollbars",
)


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test's app served over real HTTP on 127.0.0.1 at a free port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _require(path: str, package: str) -> None:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
        pytest.fail(f"{path} is missing: install Debian's {package} (apt-get install -y chromium chromium-driver), "
                    f"or point {'CHROMIUM_BINARY' if package == 'chromium' else 'CHROMEDRIVER'} at it. "
                    "Browser tests fail rather than skip so that CI cannot pass without running them.",
                    pytrace=False)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium at a 390 x 844 phone viewport with a fresh profile; quit at teardown."""
    _require(CHROMIUM, "chromium")
    _require(CHROMEDRIVER, "chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("selenium is not installed: pip install -e '.[test]'", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    options.add_argument("--lang=zh-CN")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        # --window-size sets the outer window; make the layout viewport exactly the phone's.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 2, "mobile": True})
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver: Any, name: str, full_page: bool = False) -> Path:
    """Save a PNG of the current page to test-artifacts/<name>.png and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_-]", "_", name) + ".png")
    if full_page:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
    elif not driver.save_screenshot(str(path)):
        raise AssertionError(f"the browser could not save a screenshot to {path}")
    return path
