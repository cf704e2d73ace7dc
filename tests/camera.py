"""A fake camera for browser tests: pictures of real QR codes as a video file Chromium plays as its
webcam, and a Chromium fixture that starts with such a camera (or with none).

* ``qr_picture(text)``: a PIL image of a QR code (the ``qrcode`` package) on white, with its quiet zone.
* ``label_picture(url, serial)``: the package label our labels code prints (trace.labels), as RGB.
* ``camera_frame(picture)``: the picture on a 640 x 480 grey-brown "counter top", slightly blurred,
  as a phone held over a package would see it.
* ``write_y4m(path, frames, fps)``: a YUV4MPEG2 file (4:2:0, 8 bit), the format Chromium's
  ``--use-file-for-fake-video-capture`` reads; Chromium loops it for as long as the page captures.
* fixture ``camera_chromium``: a function ``start(video=None, *, devices=True, allow=True,
  log_network=False) -> webdriver``. ``video`` is a .y4m (or .mjpeg) file to be the camera;
  ``devices=False`` starts Chromium's fake media with no camera at all, so ``getUserMedia``
  fails with NotFoundError even on a machine that has a webcam; ``allow=False`` leaves out
  ``--use-fake-ui-for-media-stream`` (use ``deny_camera`` to refuse the permission explicitly).
  Otherwise the browser is the one of tests/browser.py: the same flags, headless, a fresh profile,
  a 390 x 844 phone viewport; every browser started is quit at teardown.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import qrcode
from PIL import Image, ImageFilter
from qrcode.constants import ERROR_CORRECT_M

from tests.browser import CHROME_FLAGS, CHROMEDRIVER, CHROMIUM, VIEWPORT, _require

FRAME = (640, 480)


def qr_picture(text: str, box: int = 6, border: int = 4) -> Image.Image:
    """A QR code of `text` as an RGB image, `box` pixels per module, with a white quiet zone."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def label_picture(url: str, serial: str) -> Image.Image:
    """The 60 x 40 mm package label of trace.labels for `url`, as printed at 300 dpi (RGB)."""
    from trace.labels import LabelInfo, render_label

    info = LabelInfo(url=url, product_zh="沙坡头苹果", product_en="Shapotou Apple", lot_code="APL-2026-00001",
                     net_weight_g=2500, packed_on=datetime.date(2026, 9, 15),
                     packer="中卫市沙坡头果品加工有限公司", serial=serial, gi_logo_uscc=None)
    return render_label(info)


def camera_frame(picture: Image.Image, size: tuple[int, int] = FRAME, fill: float = 0.8) -> Image.Image:
    """`picture` scaled to `fill` of the frame, centred on a dull background, lightly blurred."""
    frame = Image.new("RGB", size, (122, 104, 86))
    scale = min(size[0] * fill / picture.width, size[1] * fill / picture.height)
    pic = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    frame.paste(pic, ((size[0] - pic.width) // 2, (size[1] - pic.height) // 2))
    return frame.filter(ImageFilter.GaussianBlur(0.7))


def write_y4m(path: Path, frames: Iterable[Image.Image], fps: int = 10) -> Path:
    """Write `frames` (RGB images of one even size) as a YUV4MPEG2 4:2:0 video; returns `path`."""
    frames = list(frames)
    if not frames:
        raise ValueError("a video needs at least one frame")
    width, height = frames[0].size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs an even width and height")
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            if frame.size != (width, height):
                raise ValueError("all frames must have the same size")
            y, cb, cr = frame.convert("YCbCr").split()
            half = (width // 2, height // 2)
            out.write(b"FRAME\n")
            out.write(y.tobytes())
            out.write(cb.resize(half, Image.Resampling.BOX).tobytes())
            out.write(cr.resize(half, Image.Resampling.BOX).tobytes())
    return path


def read_y4m_frame(path: Path, index: int = 0) -> Image.Image:
    """Frame `index` of a file written by write_y4m, back as an RGB image (for checking the writer)."""
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    fields = {f[:1]: f[1:] for f in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    plane, chroma = width * height, (width // 2) * (height // 2)
    step = len(b"FRAME\n") + plane + 2 * chroma
    start = index * step
    if body[start:start + 6] != b"FRAME\n":
        raise ValueError(f"no frame {index} in {path}")
    raw = body[start + 6:start + step]
    y = Image.frombytes("L", (width, height), raw[:plane])
    cb = Image.frombytes("L", (width // 2, height // 2), raw[plane:plane + chroma]).resize((width, height))
    cr = Image.frombytes("L", (width // 2, height // 2), raw[plane + chroma:]).resize((width, height))
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def deny_camera(driver: Any, origin: str) -> None:
    """Refuse the camera permission for `origin`, as a user who pressed "Block" would."""
    driver.execute_cdp_cmd("Browser.setPermission", {
        "origin": origin, "permission": {"name": "camera"}, "setting": "denied"})


@pytest.fixture
def camera_chromium(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start headless Chromium (tests/browser.py's flags and phone viewport) with a fake camera."""
    _require(CHROMIUM, "chromium")
    _require(CHROMEDRIVER, "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def start(video: Path | None = None, *, devices: bool = True, allow: bool = True,
              log_network: bool = False) -> Any:
        n = len(drivers)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / f'chromium-profile-{n}'}")
        options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
        options.add_argument("--lang=zh-CN")
        if devices:
            options.add_argument("--use-fake-device-for-media-stream")
            if video is not None:
                options.add_argument(f"--use-file-for-fake-video-capture={video}")
        else:
            options.add_argument("--use-fake-device-for-media-stream=device-count=0")
        if allow:
            options.add_argument("--use-fake-ui-for-media-stream")
        if log_network:
            options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / f"chromedriver-{n}.log"))
        driver = webdriver.Chrome(options=options, service=service)
        drivers.append(driver)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 2, "mobile": True})
        driver.set_page_load_timeout(30)
        return driver

    try:
        yield start
    finally:
        for driver in drivers:
            driver.quit()
