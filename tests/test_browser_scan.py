"""The package-code scanner (templates/portal/_scan.html + static/scan.js) in real headless Chromium
at a phone's size, with Chromium's fake camera playing a video of real QR codes (tests/camera.py).

The page is a tiny Flask app built here: the project's templates and static files, Flask-Babel
on the project's catalogs, and the strict CSP the portal pages will send (script-src 'self'
'wasm-unsafe-eval', no inline script, no other origin). Chromium on Linux has no native
BarcodeDetector, so these runs decode with the vendored ZXing-C++ WebAssembly build.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from flask import Flask, render_template_string, request
from flask_babel import Babel
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import browser, live_server, save_screenshot  # noqa: F401
from tests.camera import (
    FRAME,
    camera_chromium,  # noqa: F401
    camera_frame,
    deny_camera,
    label_picture,
    qr_picture,
    read_y4m_frame,
    write_y4m,
)

ROOT = Path(__file__).resolve().parents[1]
SERIAL_A = "K7Q2M9XR4TPD8WZC3HNB"
SERIAL_B = "9VJ4T2QHXN6C8M0RZKDA"
URL_A = f"https://shapotou.example/01/06901234567892/10/APL-2026-00001/21/{SERIAL_A}"
URL_B = f"https://shapotou.example/p/{SERIAL_B}"
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE = """{% extends "base.html" %}
{% import "portal/_scan.html" as scan %}
{% block head %}<link rel="stylesheet" href="{{ url_for('static', filename='portal.css') }}">{% endblock %}
{% block body_class %}portal{% endblock %}
{% block content %}
<h1>{{ _('Record sale') }}</h1>
<form method="post" action="{{ url_for('sell') }}" id="f-sell">
  {{ scan.scan_codes("codes", _("Packages sold"), value=value, error=error) }}
  <button type="submit" class="primary">{{ _('Record sale') }}</button>
</form>
{% if two %}
<form method="post" action="{{ url_for('sell') }}" id="f-pull">
  {{ scan.scan_codes("codes", "Pull from sale", id="f-pull-codes") }}
  <button type="submit">Pull</button>
</form>
{% endif %}
{% endblock %}"""
# Runs before any script of the page (CDP), outside its CSP: records CSP violations.
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


# -- the page under test ---------------------------------------------------------------------


@pytest.fixture
def app() -> Flask:
    """A tiny app that renders the macro in a form; replaces conftest's `app` for live_server."""
    app = Flask("scan_test", root_path=str(ROOT), template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    app.config.update(SECRET_KEY="scan-test", BABEL_DEFAULT_LOCALE="zh",
                      BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "trace" / "translations"))
    app.config["csp"] = CSP
    app.config["posted"] = []

    def lang() -> str:
        return request.args.get("lang") if request.args.get("lang") in ("zh", "en") else "zh"

    Babel(app, locale_selector=lang)
    app.jinja_env.globals["current_lang"] = lang

    @app.get("/sell")
    def sell_form() -> str:
        return render_template_string(PAGE, value=request.args.get("value", ""), error=request.args.get("error"),
                                      two="two" in request.args)

    @app.post("/sell")
    def sell() -> dict[str, Any]:
        app.config["posted"].append(request.form["codes"])
        return {"codes": request.form["codes"]}

    @app.after_request
    def headers(resp: Any) -> Any:
        if app.config["csp"]:
            resp.headers["Content-Security-Policy"] = app.config["csp"]
        return resp

    return app


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fake-camera videos: one label (code A), and code A alternating with code B."""
    folder = tmp_path_factory.mktemp("camera")
    a = camera_frame(label_picture(URL_A, SERIAL_A))
    b = camera_frame(qr_picture(URL_B))
    return {
        "a": write_y4m(folder / "a.y4m", [a] * 5, fps=10),
        "ab": write_y4m(folder / "ab.y4m", [a] * 8 + [b] * 8, fps=10),
    }


# -- helpers ---------------------------------------------------------------------------------


def _open(driver: Any, url: str) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return !!document.querySelector('[data-scan].scan-ready')"))


def _widget(driver: Any) -> Any:
    return driver.find_element(By.CSS_SELECTOR, "[data-scan]")


def _count(driver: Any) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, ".scan-count").get_attribute("data-count"))


def _lines(driver: Any, field: str = "scan-codes") -> list[str]:
    value = driver.find_element(By.ID, field).get_property("value")
    return [line for line in value.split("\n") if line.strip()]


def _frames(driver: Any, css: str = "[data-scan]") -> int:
    return int(driver.find_element(By.CSS_SELECTOR, css).get_attribute("data-frames") or 0)


def _wait(driver: Any, what: Callable[[Any], Any], timeout: float = 30, msg: str = "") -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(what, message=msg or getattr(what, "__name__", ""))


def _wait_frames(driver: Any, n: int, timeout: float = 40) -> int:
    """Wait until the widget has decoded `n` more frames than now; returns the new frame count."""
    start = _frames(driver)
    _wait(driver, lambda d: _frames(d) >= start + n, timeout, f"the scanner did not decode {n} more frames")
    return _frames(driver)


def _wait_frames_of(driver: Any, css: str, n: int, timeout: float = 40) -> None:
    start = _frames(driver, css)
    _wait(driver, lambda d: _frames(d, css) >= start + n, timeout, f"{css} did not decode {n} more frames")


def _status(driver: Any) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".scan-status").text


def _csp_violations(driver: Any) -> list[str]:
    return driver.execute_script("return window.__csp")


def _press(driver: Any, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


# -- which texts are package codes -----------------------------------------------------------

CODE_CASES = [
    (URL_A, SERIAL_A),
    (URL_B, SERIAL_B),
    (f"http://127.0.0.1:5000/p/{SERIAL_B}/", SERIAL_B),
    (f"https://shapotou.example/01/06901234567892/21/{SERIAL_A}", SERIAL_A),
    (f"https://shapotou.example/p/{SERIAL_A}?src=wechat", SERIAL_A),
    (f"  {SERIAL_A.lower()}  ", SERIAL_A),
    (SERIAL_A[:-1], None),  # 19 characters
    (SERIAL_A[:-1] + "I", None),  # not Crockford base32
    (SERIAL_A[:-1] + "U", None),
    (f"https://shapotou.example/p/{SERIAL_A}/proof", None),
    (f"https://shapotou.example/01/0690123456789/21/{SERIAL_A}", None),  # 13-digit GTIN
    (f"ftp://shapotou.example/p/{SERIAL_A}", None),
    (f"javascript:alert('/p/{SERIAL_A}')", None),
    ("https://example.com/pay?id=42", None),
    ("", None),
]


def test_which_texts_count_as_package_codes(app, live_server, browser) -> None:  # noqa: F811
    """scan.js's codeKey: the serial a scanned or typed line names, the key for deduplication."""
    browser.get(live_server + "/sell")
    got = browser.execute_script("return arguments[0].map(t => window.traceScan.codeKey(t))",
                                 [text for text, _ in CODE_CASES])
    assert list(zip([t for t, _ in CODE_CASES], got, strict=True)) == CODE_CASES


# -- the fake camera itself ------------------------------------------------------------------


def test_the_fake_camera_video_holds_decodable_codes(videos: dict[str, Path]) -> None:
    """The Y4M writer: the frames read back are the size asked for and OpenCV decodes our URLs."""
    detector = cv2.QRCodeDetector()
    decoded = []
    for index in (0, 8):
        rgb = np.asarray(read_y4m_frame(videos["ab"], index))
        assert rgb.shape == (FRAME[1], FRAME[0], 3)
        text, _points, _ = detector.detectAndDecode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        decoded.append(text)
    assert decoded == [URL_A, URL_B]
    header = videos["ab"].read_bytes().split(b"\n", 1)[0]
    assert header == b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg"
    assert videos["ab"].stat().st_size == len(header) + 1 + 16 * (6 + 640 * 480 * 3 // 2)


# -- scanning --------------------------------------------------------------------------------


def test_scanning_adds_each_code_once_and_a_removed_one_stays_removed(
        app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    driver = camera_chromium(videos["a"])
    _open(driver, live_server + "/sell")
    widget = _widget(driver)
    start = driver.find_element(By.CSS_SELECTOR, ".scan-start")
    assert start.is_displayed() and start.text == "用摄像头扫码"
    assert not driver.find_element(By.CSS_SELECTOR, ".scan-count").is_displayed()

    start.click()
    _wait(driver, lambda d: _lines(d), 30, "the scanned code never reached the textarea")
    assert widget.get_attribute("data-decoder-kind") == "zxing-wasm"
    assert _lines(driver) == [URL_A]  # the full URL as scanned, so that the server parses it
    assert "已添加：" + SERIAL_A in _status(driver)
    save_screenshot(driver, "scan-one-code")
    # The same label stays in front of the camera for many more frames: still once.
    _wait_frames(driver, 25)
    assert _lines(driver) == [URL_A]
    assert _count(driver) == 1
    assert driver.find_element(By.CSS_SELECTOR, ".scan-count").text == "清单中的包装码：1 个"
    items = driver.find_elements(By.CSS_SELECTOR, ".scan-list li")
    assert [i.find_element(By.CSS_SELECTOR, ".scan-code").text for i in items] == [SERIAL_A]
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390, "sideways scrolling"

    # A mistaken scan is removed with its button, and is not scanned back while still in view.
    remove = items[0].find_element(By.CSS_SELECTOR, "button.scan-remove")
    assert remove.get_attribute("aria-label") == "删除 " + SERIAL_A
    remove.click()
    assert _lines(driver) == [] and _count(driver) == 0
    assert driver.find_elements(By.CSS_SELECTOR, ".scan-list li") == []
    _wait_frames(driver, 15)
    assert _lines(driver) == [] and _count(driver) == 0

    # Stop: the camera is released and the view goes away; typing still adds to the list.
    _press(driver, ".scan-stop")
    assert driver.execute_script("return document.querySelector('.scan-view').hidden") is True
    assert driver.execute_script("return document.querySelector('video').srcObject") is None
    assert _status(driver) == "已停止扫码。"
    frames = _frames(driver)
    time.sleep(0.6)
    assert _frames(driver) == frames, "the scanner kept decoding after stop"
    assert _csp_violations(driver) == []


def test_a_second_code_makes_two_and_the_form_submits_both(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    driver = camera_chromium(videos["ab"])
    _open(driver, live_server + "/sell?lang=en")
    start = driver.find_element(By.CSS_SELECTOR, ".scan-start")
    assert start.text == "Scan with camera"
    start.click()
    _wait(driver, lambda d: len(_lines(d)) == 2, 40, "the second code was never added")
    # The video alternates A and B; after several rounds each is still there once.
    _wait_frames(driver, 40, timeout=60)
    assert sorted(_lines(driver)) == sorted([URL_A, URL_B])
    assert _count(driver) == 2
    assert driver.find_element(By.CSS_SELECTOR, ".scan-count").text == "Package codes in the list: 2"
    assert sorted(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".scan-list .scan-code")) == sorted([SERIAL_A, SERIAL_B])
    save_screenshot(driver, "scan-two-codes")

    # Submitting stops the camera and posts the lines as scanned.
    driver.find_element(By.CSS_SELECTOR, "#f-sell button[type=submit]").click()
    _wait(driver, lambda d: app.config["posted"], 20, "the form was not submitted")
    posted = [line for line in app.config["posted"][0].splitlines() if line]
    assert sorted(posted) == sorted([URL_A, URL_B])


def test_typed_and_scanned_codes_share_one_list(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    """A serial typed by hand counts as that package: scanning its label does not add it twice."""
    driver = camera_chromium(videos["a"])
    _open(driver, live_server + "/sell")
    area = driver.find_element(By.ID, "scan-codes")
    area.send_keys(SERIAL_A.lower() + "\n" + "not-a-code\n")
    assert _count(driver) == 2
    _press(driver, ".scan-start")
    _wait_frames(driver, 20)
    assert _lines(driver) == [SERIAL_A.lower(), "not-a-code"]
    assert _count(driver) == 2
    assert SERIAL_A in _status(driver)  # "already in the list" or nothing new, never a second line
    assert "已添加" not in _status(driver)
    # Removing the unknown line removes just that line.
    items = driver.find_elements(By.CSS_SELECTOR, ".scan-list li")
    assert "scan-unknown" in items[1].get_attribute("class")
    items[1].find_element(By.CSS_SELECTOR, "button").click()
    assert _lines(driver) == [SERIAL_A.lower()]


def test_a_qr_code_that_is_not_a_package_is_not_added(app, live_server, camera_chromium, tmp_path) -> None:  # noqa: F811
    video = write_y4m(tmp_path / "other.y4m", [camera_frame(qr_picture("https://example.com/pay?id=42"))] * 3)
    driver = camera_chromium(video)
    _open(driver, live_server + "/sell?lang=en")
    _press(driver, ".scan-start")
    _wait(driver, lambda d: "Not a package code" in _status(d), 30, "no message for a foreign QR code")
    assert "https://example.com/pay?id=42" in _status(driver)
    _wait_frames(driver, 10)
    assert _lines(driver) == [] and _count(driver) == 0


def test_without_wasm_unsafe_eval_in_the_csp_the_decoder_fails_visibly(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    """What the portal's CSP must allow: without 'wasm-unsafe-eval' WebAssembly cannot compile."""
    app.config["csp"] = CSP.replace(" 'wasm-unsafe-eval'", "")
    driver = camera_chromium(videos["a"])
    _open(driver, live_server + "/sell")
    _press(driver, ".scan-start")
    _wait(driver, lambda d: _widget(d).get_attribute("data-scan-error"), 30, "no error without 'wasm-unsafe-eval'")
    assert _widget(driver).get_attribute("data-scan-error") == "decoder"
    assert _status(driver) == "二维码识别组件加载失败，请手动输入包装码。"
    assert not driver.find_element(By.CSS_SELECTOR, ".scan-view").is_displayed()
    assert any(v.startswith("script-src") for v in _csp_violations(driver)), _csp_violations(driver)
    driver.find_element(By.ID, "scan-codes").send_keys(SERIAL_A)
    assert _count(driver) == 1


# A stand-in for the browser's own BarcodeDetector, which Chromium has on Android and macOS but not
# on Linux: it answers URL_B for every picture of the camera, and counts what it was asked.
NATIVE = """window.__native = {calls: 0, formats: %s};
window.BarcodeDetector = class {
  static getSupportedFormats() { return Promise.resolve(window.__native.formats); }
  constructor(opts) { window.__native.asked = opts.formats; }
  detect(source) {
    window.__native.calls++;
    const ok = source instanceof HTMLCanvasElement && source.width > 0 && source.height > 0;
    return Promise.resolve(ok ? [{rawValue: %s, format: 'qr_code'}] : []);
  }
};"""


@pytest.mark.parametrize("formats, kind", [(["qr_code", "ean_13"], "native"), (["ean_13"], "zxing-wasm")])
def test_the_native_barcode_detector_is_preferred_when_it_reads_qr(
        app, live_server, camera_chromium, videos, formats, kind) -> None:  # noqa: F811
    driver = camera_chromium(videos["a"])
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": NATIVE % (json.dumps(formats), json.dumps(URL_B))})
    _open(driver, live_server + "/sell")
    _press(driver, ".scan-start")
    _wait(driver, lambda d: _lines(d), 30, "nothing was scanned")
    assert _widget(driver).get_attribute("data-decoder-kind") == kind
    native = driver.execute_script("return window.__native")
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    wasm_loaded = any(u.endswith("/zxing_reader.wasm") for u in loaded)
    if kind == "native":
        assert _lines(driver) == [URL_B] and native["asked"] == ["qr_code"] and native["calls"] >= 1
        assert not wasm_loaded and not any("zxing-reader.js" in u for u in loaded)
    else:
        assert _lines(driver) == [URL_A] and native["calls"] == 0 and wasm_loaded


def test_two_widgets_on_a_page_share_the_camera_one_at_a_time(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    """The batch page holds several forms (sell, receive, pull from sale): one camera, one list each."""
    driver = camera_chromium(videos["a"])
    _open(driver, live_server + "/sell?two=1")
    widgets = driver.find_elements(By.CSS_SELECTOR, "[data-scan].scan-ready")
    assert len(widgets) == 2
    assert driver.execute_script("return document.querySelectorAll('script[src$=\"/static/scan.js\"]').length") == 2
    first, second = (w.find_element(By.CSS_SELECTOR, ".scan-start") for w in widgets)
    first.click()
    _wait(driver, lambda d: _lines(d), 30, "the first widget scanned nothing")
    second.click()
    _wait(driver, lambda d: _lines(d, "f-pull-codes"), 30, "the second widget scanned nothing")
    assert not widgets[0].find_element(By.CSS_SELECTOR, ".scan-view").is_displayed()  # it gave up the camera
    assert widgets[1].find_element(By.CSS_SELECTOR, ".scan-view").is_displayed()
    assert _lines(driver) == [URL_A] and _lines(driver, "f-pull-codes") == [URL_A]
    frames = _frames(driver)
    _wait_frames_of(driver, "#f-pull [data-scan]", 10)
    assert _frames(driver) == frames, "the stopped widget kept decoding"


# -- no camera -------------------------------------------------------------------------------


def test_without_a_camera_the_message_shows_and_typing_works(app, live_server, camera_chromium) -> None:  # noqa: F811
    driver = camera_chromium(devices=False)
    _open(driver, live_server + "/sell")
    _press(driver, ".scan-start")
    _wait(driver, lambda d: _widget(d).get_attribute("data-scan-error"), 20, "no error for a missing camera")
    assert _widget(driver).get_attribute("data-scan-error") == "noCamera"
    status = driver.find_element(By.CSS_SELECTOR, ".scan-status")
    assert status.text == "未找到摄像头，请手动输入包装码。" and status.is_displayed()
    assert not driver.find_element(By.CSS_SELECTOR, ".scan-view").is_displayed()
    # The textarea has the focus and takes typed codes; the list follows.
    assert driver.switch_to.active_element.get_attribute("id") == "scan-codes"
    driver.switch_to.active_element.send_keys(SERIAL_B + "\n" + URL_A + "\n" + SERIAL_B + "\n")
    assert _count(driver) == 2
    assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".scan-list .scan-code")] == [SERIAL_B, SERIAL_A]
    save_screenshot(driver, "scan-no-camera")


def test_a_refused_permission_says_so_and_typing_works(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    driver = camera_chromium(videos["a"], allow=False)
    deny_camera(driver, live_server)
    _open(driver, live_server + "/sell?lang=en")
    _press(driver, ".scan-start")
    _wait(driver, lambda d: _widget(d).get_attribute("data-scan-error"), 20, "no error for a refused permission")
    assert _widget(driver).get_attribute("data-scan-error") == "denied"
    assert _status(driver).startswith("Camera permission was refused.")
    driver.find_element(By.ID, "scan-codes").send_keys(URL_B)
    assert _count(driver) == 1


# -- without script, and what the page loads ------------------------------------------------


def test_without_script_the_textarea_is_all_there_is(app, live_server, camera_chromium) -> None:  # noqa: F811
    driver = camera_chromium()
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    driver.get(live_server + "/sell?value=" + SERIAL_A)
    area = driver.find_element(By.ID, "scan-codes")
    assert area.get_property("value") == SERIAL_A
    assert area.is_displayed()
    for css in (".scan-start", ".scan-stop", ".scan-count", ".scan-list", ".scan-view"):
        assert not driver.find_element(By.CSS_SELECTOR, css).is_displayed(), css
    assert driver.find_element(By.CSS_SELECTOR, "#scan-codes-hint").text.startswith("每行一个包装码")
    area.send_keys("\n" + SERIAL_B)
    driver.find_element(By.CSS_SELECTOR, "#f-sell button[type=submit]").click()
    _wait(driver, lambda d: app.config["posted"], 20, "the form was not submitted")
    assert app.config["posted"][0].split() == [SERIAL_A, SERIAL_B]


def test_the_page_reaches_nothing_but_its_own_server(app, live_server, camera_chromium, videos) -> None:  # noqa: F811
    """Every request the browser makes goes to the test server; the decoder comes from /static."""
    app.config["csp"] = ""  # no CSP here: a request elsewhere would be made, and seen, not blocked
    driver = camera_chromium(videos["a"], log_network=True)
    _open(driver, live_server + "/sell")
    _press(driver, ".scan-start")
    try:
        _wait(driver, lambda d: _lines(d) and _frames(d) > 5, 30)
    except TimeoutException:
        pass  # the network log below says why, then the last assertion fails
    page_requests, http_requests = [], []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            params = msg["params"]
            url = params["request"]["url"]
            if params.get("documentURL", "").startswith(live_server + "/"):
                page_requests.append(url)
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                http_requests.append(url)
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert page_requests and resources, "the network log is empty"
    # What the page asked for, and whatever any part of the browser sent over the network.
    elsewhere = [u for u in page_requests + resources + http_requests
                 if not (u.startswith(live_server + "/") or u.startswith(("data:", "blob:")))]
    assert elsewhere == []
    requests = page_requests + resources
    paths = {re.sub(r"^https?://[^/]+", "", u) for u in requests}
    assert {"/static/scan.js", "/static/scan.css", "/static/vendor/zxing-wasm/zxing-reader.js",
            "/static/vendor/zxing-wasm/zxing_reader.wasm"} <= paths
    assert _lines(driver) == [URL_A]


def test_the_vendored_decoder_is_served_whole_and_licensed(app) -> None:
    client = app.test_client()
    with client.get("/static/vendor/zxing-wasm/zxing-reader.js") as r:
        assert r.status_code == 200 and r.mimetype == "text/javascript"
        glue = r.get_data(as_text=True)
    with client.get("/static/vendor/zxing-wasm/zxing_reader.wasm") as r:
        assert r.status_code == 200
        assert r.mimetype == "application/wasm"  # WebAssembly.instantiateStreaming needs it
        wasm = r.get_data()
    assert wasm[:4] == b"\0asm"
    # The glue names the SHA-256 of the .wasm it was built with: the vendored pair must match.
    expected = re.search(r"ZXING_WASM_SHA256=`([0-9a-f]{64})`", glue).group(1)
    assert hashlib.sha256(wasm).hexdigest() == expected
    lock = json.loads((ROOT / "tools" / "npm" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/zxing-wasm"]["version"]
    assert json.loads((ROOT / "tools" / "npm" / "package.json").read_text())["dependencies"]["zxing-wasm"] == locked
    assert f"zxing-wasm {locked}" in (ROOT / "static" / "vendor" / "zxing-wasm" / "README.md").read_text()
    assert f"zxing-wasm@{locked}/dist" in glue  # the glue of that very version
    licences = ROOT / "static" / "vendor" / "zxing-wasm"
    assert "MIT License" in (licences / "LICENSE").read_text()
    assert "Apache License" in (licences / "LICENSE.zxing-cpp").read_text()
    for glue_text in (glue, (ROOT / "static" / "scan.js").read_text()):
        assert "eval(" not in glue_text and "new Function" not in glue_text


def test_the_macro_escapes_and_translates(app) -> None:
    with app.test_request_context("/sell?lang=en"):
        html = render_template_string(
            '{% import "portal/_scan.html" as scan %}'
            '{{ scan.scan_codes("codes", label, value=value, required=True, id="f-sell-codes", error=error) }}',
            label='Codes <b>"sold"</b>', value='</textarea><script>alert(1)</script>', error="<i>bad</i>")
    assert "<script>alert" not in html and "&lt;/textarea&gt;&lt;script&gt;" in html
    assert "<b>" not in html and "&lt;b&gt;&#34;sold&#34;&lt;/b&gt;" in html
    assert "<i>bad</i>" not in html and 'aria-invalid="true"' in html and " required" in html
    assert 'id="f-sell-codes"' in html and 'name="codes"' in html
    assert 'data-t-start="Scan with camera"' in html
    assert "data-t-denied=\"Camera permission was refused. Allow the camera in the browser&#39;s settings" in html
    assert re.search(r'<script src="/static/scan.js" defer></script>', html)
    with app.test_request_context("/sell"):
        zh = render_template_string('{% import "portal/_scan.html" as scan %}{{ scan.scan_codes("codes", "x") }}')
    assert 'data-t-count="清单中的包装码：{n} 个"' in zh
    assert 'data-t-added="已添加：{code}"' in zh
