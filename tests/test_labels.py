"""Labels and certificates: decoded back with real QR decoders, measured on the pixels."""
from __future__ import annotations

import dataclasses
import datetime
import io
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageFont

from trace import labels
from trace.labels import (
    CertificateInfo,
    LabelFontError,
    LabelInfo,
    _fonts,
    certificate_png,
    label_png,
    render_certificate,
    render_label,
    short_serial,
    write_certificate_pdf,
    write_label_pdf,
    write_label_sheets_pdf,
)

ZBARIMG = shutil.which("zbarimg")
PDFTOPPM = shutil.which("pdftoppm")
BASE = "http://127.0.0.1:5000"
SERIAL = "K7Q2M9XR4TPD8WZC3HNB"
USCC = "91640502MA76L1XQ3B"
GS1_URL = f"{BASE}/01/06901234567892/10/APL-2026-00001/21/{SERIAL}"
SHORT_URL = f"{BASE}/p/{SERIAL}"
TOFU = "\U0010fffd"


def info(i: int = 0, *, url: str | None = None, uscc: str | None = USCC, **kw) -> LabelInfo:
    serial = SERIAL[:-4] + f"{i:04d}" if i else SERIAL
    base = dict(
        url=url or f"{BASE}/01/06901234567892/10/APL-2026-00001/21/{serial}",
        product_zh="沙坡头苹果",
        product_en="Shapotou Apple",
        lot_code="APL-2026-00001",
        net_weight_g=2500,
        packed_on=datetime.date(2026, 9, 15),
        packer="中卫市沙坡头区南长滩枣业专业合作社",
        serial=serial,
        gi_logo_uscc=uscc,
    )
    base.update(kw)
    return LabelInfo(**base)


CERT = CertificateInfo(
    url=f"{BASE}/l/APL-2026-00001",
    product_zh="南长滩大枣",
    product_en="Nanchangtan Jujube",
    lot_code="JUJ-2026-00007",
    quantity_g=1_250_500,
    origin="沙坡头区迎水桥镇南长滩村",
    party_name="中卫市沙坡头区南长滩枣业专业合作社",
    party_contact="0955-7012345",
    issued_on=datetime.date(2026, 10, 2),
)


# --------------------------------------------------------------------------- decoders


def cv2_decode(img: Image.Image) -> str:
    """OpenCV's decoder. Its classic detector misses the finder patterns of a few percent of
    codes (also of plain qrcode.make() output), which its ArUco-based detector reads: a code
    counts as read when either returns it."""
    arr = np.asarray(img.convert("L"))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(arr)
    if not text:
        text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(arr)
    return text


def zbar_decode(img: Image.Image, tmp_path: Path, name: str = "z.png") -> list[str]:
    p = tmp_path / name
    img.save(p)
    res = subprocess.run([ZBARIMG, "-q", "--raw", str(p)], capture_output=True, text=True,
                         timeout=30, check=False)
    return [line for line in res.stdout.splitlines() if line]


def assert_decodes(img: Image.Image, url: str, tmp_path: Path) -> None:
    assert cv2_decode(img) == url
    if ZBARIMG:
        assert zbar_decode(img, tmp_path) == [url]


def degrade(img: Image.Image) -> Image.Image:
    """Half the resolution, then JPEG at quality 40."""
    small = img.resize((img.width // 2, img.height // 2), Image.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=40)
    return Image.open(io.BytesIO(buf.getvalue()))


# --------------------------------------------------------------------------- text


def test_short_serial():
    assert short_serial(SERIAL) == "…4TPD-8WZC-3HNB"
    assert short_serial("4TPD8WZC3HNB") == "4TPD-8WZC-3HNB"
    assert short_serial("ABCDEF") == "ABCD-EF"
    with pytest.raises(ValueError):
        short_serial("")


def test_weights_are_formatted_from_integers():
    f = labels.format_weight
    assert f(2500) == "2.5 kg"
    assert f(2000) == "2 kg"
    assert f(2505) == "2.505 kg"
    assert f(1001) == "1.001 kg"
    assert f(999) == "999 g"
    assert f(10**15 + 1) == "1000000000000.001 kg"  # a float would have drifted here
    with pytest.raises(TypeError):
        f(2.5)
    with pytest.raises(ValueError):
        f(0)


# --------------------------------------------------------------------------- PNG labels


@pytest.mark.parametrize("url", [GS1_URL, SHORT_URL])
@pytest.mark.parametrize("uscc", [USCC, None])
def test_label_png_decodes_to_the_url(url, uscc, tmp_path):
    img = Image.open(io.BytesIO(label_png(info(url=url, uscc=uscc))))
    assert img.size == (709, 472)
    assert_decodes(img, url, tmp_path)
    assert_decodes(degrade(img), url, tmp_path)


def test_label_png_is_opaque_rgb_on_white():
    img = Image.open(io.BytesIO(label_png(info())))
    assert img.mode == "RGB" and "A" not in img.getbands()
    assert "transparency" not in img.info
    w, h = img.size
    for xy in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]:
        assert img.getpixel(xy) == (255, 255, 255)
    assert render_label(info()).mode == "RGB"
    assert render_certificate(CERT).mode == "RGB"


def symbol_geometry(img: Image.Image) -> tuple[int, int, int, int, float]:
    """(x0, y0, x1, y1, module px) of the QR symbol, measured on the pixels."""
    grey = np.asarray(img.convert("L"))
    ok, pts = cv2.QRCodeDetector().detect(grey)
    assert ok
    pts = pts.reshape(-1, 2)
    x0, y0 = (int(v) for v in pts.min(axis=0))
    x1, y1 = (int(round(v)) for v in pts.max(axis=0))
    dark = grey < 128
    # snap the detector's corners to the outermost dark pixels near them
    wy, wx = max(0, y0 - 6), max(0, x0 - 6)
    ys, xs = np.nonzero(dark[wy:y1 + 7, wx:x1 + 7])
    y0, x0, y1, x1 = wy + ys.min(), wx + xs.min(), wy + ys.max(), wx + xs.max()
    # the finder pattern's top edge is a run of 7 dark modules
    row = dark[y0 + 1, x0:]
    run = int(np.argmin(row))  # first light pixel after the start
    return int(x0), int(y0), int(x1), int(y1), run / 7


def quiet_zone_ok(img: Image.Image) -> tuple[bool, float, float]:
    x0, y0, x1, y1, m = symbol_geometry(img)
    grey = np.asarray(img.convert("L"))
    q = int(np.ceil(4 * m))
    if x0 - q < 0 or y0 - q < 0 or x1 + q >= grey.shape[1] or y1 + q >= grey.shape[0]:
        return False, m, x1 - x0 + 1
    ring = grey[y0 - q:y1 + q + 1, x0 - q:x1 + q + 1].copy()
    ring[q:-q, q:-q] = 255  # the symbol itself
    return bool((ring > 200).all()), m, x1 - x0 + 1


@pytest.mark.parametrize("url", [GS1_URL, SHORT_URL])
def test_quiet_zone_and_symbol_size(url):
    img = render_label(info(url=url))
    ok, module, side = quiet_zone_ok(img)
    assert ok, "quiet zone of 4 modules is not clear"
    assert module == int(module) and module >= 5  # whole pixels per module
    assert side / (300 / 25.4) >= 20.0  # at least 20 mm on a 60 x 40 mm label at 300 dpi


def test_quiet_zone_check_can_fail():
    img = render_label(info())
    x0, y0, x1, y1, m = symbol_geometry(img)
    spoiled = img.copy()
    spoiled.paste((0, 0, 0), (x1 + int(2 * m), y0 + 20, x1 + int(2 * m) + 3, y0 + 40))
    assert not quiet_zone_ok(spoiled)[0]


def error_correction_level(img: Image.Image) -> str:
    """Read the format information beside the top-left finder pattern (ISO/IEC 18004 7.9)."""
    x0, y0, x1, y1, m = symbol_geometry(img)
    n = round((x1 - x0 + 1) / m)
    grey = np.asarray(img.convert("L"))

    def module(r: int, c: int) -> int:
        return int(grey[int(y0 + (r + 0.5) * m), int(x0 + (c + 0.5) * m)] < 128)

    rows = [0, 1, 2, 3, 4, 5, 7, 8] + [n - 15 + i for i in range(8, 15)]
    bits = sum(module(r, 8) << i for i, r in enumerate(rows)) ^ 0b101010000010010
    return {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}[bits >> 13]


def test_error_correction_is_m_or_q():
    assert error_correction_level(render_label(info())) in ("M", "Q")
    assert error_correction_level(render_certificate(CERT)) in ("M", "Q")
    # the reader is a real one: a code made at level H reads as H
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, box_size=8)
    qr.add_data(GS1_URL)
    assert error_correction_level(qr.make_image().get_image().convert("RGB")) == "H"


# --------------------------------------------------------------------------- Chinese text


def glyph(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    im = Image.new("L", (96, 96), 0)
    from PIL import ImageDraw

    ImageDraw.Draw(im).text((8, 8), ch, font=font, fill=255)
    return im.size, im.tobytes()


def is_chinese(font: ImageFont.FreeTypeFont) -> bool:
    tofu = glyph(font, TOFU)
    gs = [glyph(font, c) for c in "地理标志产品"]
    return (all(any(g[1]) for g in gs) and tofu not in gs and len(set(gs)) == len(gs))


def test_font_draws_chinese_not_tofu():
    spec = labels.cjk_font()
    font = ImageFont.truetype(spec.path, 64, index=spec.index)
    assert is_chinese(font), f"{spec} draws tofu"
    # the check is real: a Latin-only font fails it
    assert not is_chinese(ImageFont.load_default(size=64))


def test_label_text_is_chinese_and_inked():
    img = render_label(info())
    tofu = render_label(info(product_zh=TOFU * 5))
    w, h = img.size
    region = (0, 0, w // 2, h // 5)  # product name, top left
    a, b = img.crop(region).convert("L"), tofu.crop(region).convert("L")
    ink = float((np.asarray(a) < 128).mean())
    assert 0.03 < ink < 0.6
    assert ImageChops.difference(a, b).getbbox() is not None  # not drawn as boxes
    # the words 地理标志产品: a black badge with white glyphs, bottom left
    badge = img.crop((0, int(h * 0.86), int(w * 0.33), h)).convert("L")
    dark = float((np.asarray(badge) < 128).mean())
    assert 0.3 < dark < 0.9


def test_missing_font_error_names_the_package(monkeypatch):
    monkeypatch.setattr(_fonts, "_candidates", lambda: [])
    monkeypatch.setattr(_fonts, "_fc_list", lambda: [])
    _fonts.cjk_font.cache_clear()
    try:
        with pytest.raises(LabelFontError) as e:
            _fonts.cjk_font()
        assert "noto-cjk-sans-otc" in str(e.value) and "fonts-noto-cjk" in str(e.value)
    finally:
        _fonts.cjk_font.cache_clear()


# --------------------------------------------------------------------------- GI logo user


def test_gi_logo_user_code_beside_the_gi_words():
    with_code = render_label(info(uscc=USCC))
    without = render_label(info(uscc=None))
    w, h = with_code.size
    box = ImageChops.difference(with_code, without).getbbox()
    assert box is not None
    left, top, right, bottom = box
    assert top > h * 0.8 and left > w * 0.25  # bottom row, right of the badge
    with pytest.raises(ValueError):
        render_label(info(uscc="123"))


# --------------------------------------------------------------------------- certificate


def test_certificate_png_decodes_to_the_lot_url(tmp_path):
    img = Image.open(io.BytesIO(certificate_png(CERT)))
    assert img.mode == "RGB" and img.size == (1181, 827)
    assert img.getpixel((0, 0)) == (255, 255, 255)
    assert_decodes(img, CERT.url, tmp_path)
    assert_decodes(degrade(img), CERT.url, tmp_path)
    assert quiet_zone_ok(img)[0]
    ticked = render_certificate(dataclasses.replace(CERT, basis="自行检测"))
    assert ImageChops.difference(ticked, img).getbbox() is not None
    with pytest.raises(ValueError):
        render_certificate(dataclasses.replace(CERT, basis="trust me"))


def test_certificate_pdf(tmp_path):
    buf = io.BytesIO()
    assert write_certificate_pdf([CERT] * 3, buf) == 3
    buf = io.BytesIO()
    assert write_certificate_pdf([CERT] * 9, buf, page_mm=(210, 297)) == 2  # 2 x 4 per A4
    images = pdf_images(buf.getvalue())
    assert len(images) == 9 and all(cv2_decode(im) == CERT.url for im in images[:2])


# --------------------------------------------------------------------------- PDF


def check_pdf_structure(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.")
    assert data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    assert data[startxref:startxref + 4] == b"xref"
    table = data[startxref:].split(b"trailer")[0].split(b"\n")
    first, count = (int(v) for v in table[1].split())
    for num, row in enumerate(table[3:3 + count - 1], start=1):
        off = int(row[:10])
        assert data[off:off + len(f"{num} 0 obj")] == f"{num} 0 obj".encode()


def pdf_images(data: bytes) -> list[Image.Image]:
    """The label images embedded in a PDF we wrote (no rasteriser needed)."""
    out = []
    pat = re.compile(rb"/Subtype /Image /Width (\d+) /Height (\d+) /ColorSpace /Device(\w+) "
                     rb".*?/Length (\d+) >>\nstream\n", re.S)
    for m in pat.finditer(data):
        w, h, space, length = int(m[1]), int(m[2]), m[3], int(m[4])
        samples = zlib.decompress(data[m.end():m.end() + length])
        mode = "L" if space == b"Gray" else "RGB"
        out.append(Image.frombytes(mode, (w, h), samples).convert("RGB"))
    return out


def test_sheet_pdf_pages_and_every_label_decodes():
    infos = [info(i) for i in range(1, 31)]
    buf = io.BytesIO()
    assert write_label_sheets_pdf(infos, buf) == 2
    data = buf.getvalue()
    check_pdf_structure(data)
    assert b"/Type /Pages /Kids [" in data and b"/Count 2 >>" in data
    assert data.count(b"/MediaBox [0 0 595.276 841.89]") == 2
    images = pdf_images(data)
    assert len(images) == 30
    assert [cv2_decode(im) for im in images] == [i.url for i in infos]


@pytest.mark.skipif(not PDFTOPPM, reason="pdftoppm (apt: poppler-utils) not installed")
def test_sheet_pdf_page_rasterised_decodes_every_cell(tmp_path):
    infos = [info(i) for i in range(1, 25)]
    pdf = tmp_path / "sheet.pdf"
    with open(pdf, "wb") as f:
        assert write_label_sheets_pdf(infos, f) == 1
    subprocess.run([PDFTOPPM, "-r", "300", "-gray", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    with Image.open(next(tmp_path.glob("page*.png"))) as f:
        page = f.convert("L")
    assert abs(page.width - 2480) <= 1 and page.height == 3508
    cell_w, cell_h = page.width / 3, (3508 - 2 * 0.5 * 300 / 25.4) / 8
    top = 0.5 * 300 / 25.4
    found = []
    for r in range(8):
        for c in range(3):
            box = (round(c * cell_w), round(top + r * cell_h),
                   round((c + 1) * cell_w), round(top + (r + 1) * cell_h))
            cell = page.crop(box)
            text = cv2_decode(cell)
            if ZBARIMG:
                assert zbar_decode(cell, tmp_path) == [text]
            found.append(text)
    assert found == [i.url for i in infos]


def test_thermal_pdf_one_label_per_page(tmp_path):
    buf = io.BytesIO()
    infos = [info(i) for i in range(1, 4)]
    assert write_label_pdf(infos, buf) == 3
    data = buf.getvalue()
    check_pdf_structure(data)
    assert data.count(b"/MediaBox [0 0 170.079 113.386]") == 3
    assert [cv2_decode(im) for im in pdf_images(data)] == [i.url for i in infos]
    if PDFTOPPM:
        p = tmp_path / "roll.pdf"
        p.write_bytes(data)
        subprocess.run([PDFTOPPM, "-r", "300", "-png", "-f", "2", "-l", "2", str(p),
                        str(tmp_path / "roll")], check=True, timeout=60)
        with Image.open(next(tmp_path.glob("roll*.png"))) as f:
            assert cv2_decode(f) == infos[1].url


class Sink:
    """An output stream with no tell() or seek() that only counts what it is given."""

    def __init__(self) -> None:
        self.size = 0
        self.tail = b""

    def write(self, b: bytes) -> int:
        self.size += len(b)
        self.tail = (self.tail + bytes(b))[-64:]
        return len(b)


def test_thousand_labels_stream_as_the_generator_is_consumed():
    sink = Sink()
    written_when_pulled: list[int] = []

    def gen():
        for i in range(1, 1001):
            written_when_pulled.append(sink.size)
            yield info(i)

    pages = write_label_sheets_pdf(gen(), sink, dpi=150)
    assert pages == 42  # ceil(1000 / 24)
    assert len(written_when_pulled) == 1000
    assert sink.tail.endswith(b"%%EOF\n")
    # label 25 (page 2) is asked for only after page 1 went out; label 1000 after 999 labels
    per_label = sink.size / 1100
    assert written_when_pulled[24] > 24 * per_label
    assert written_when_pulled[999] > 990 * per_label
    # and each label is written before the next is asked for, not page by page
    assert all(b > a for a, b in zip(written_when_pulled, written_when_pulled[1:], strict=False))


def test_nothing_to_print_writes_nothing():
    sink = Sink()
    with pytest.raises(ValueError):
        write_label_sheets_pdf(iter(()), sink)
    assert sink.size == 0


def test_qr_matrix_is_the_symbol_qrcode_makes():
    import qrcode

    from trace.labels.render import _fast_ok, qr_matrix

    assert _fast_ok()
    datas = [info(i).url for i in range(1, 40)] + [SHORT_URL, CERT.url]
    datas += ["A" * k for k in (1, 30, 90, 180, 400)] + ["沙坡头 " * 20]  # versions 1 to 14
    for data in datas:
        qr = qrcode.QRCode(border=0)  # what qrcode.make() does, without the border
        qr.add_data(data)
        qr.make(fit=True)
        rows = qr.get_matrix()
        n, grey = qr_matrix(data)
        assert n == len(rows)
        assert grey == bytes(0 if v else 255 for row in rows for v in row), data


def test_labels_package_imports_neither_flask_nor_sqlalchemy():
    import ast

    for path in Path(labels.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("flask", "sqlalchemy", "flask_sqlalchemy"), path


def test_labels_drawn_in_threads_are_the_same_as_drawn_one_by_one():
    from concurrent.futures import ThreadPoolExecutor

    infos = [info(i) for i in range(1, 9)]
    alone = [label_png(i) for i in infos]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(label_png, infos)) == alone
