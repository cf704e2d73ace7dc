"""Package labels and certificates of conformity as raster images.

Everything is painted in 8-bit grey ('L') at an integer number of pixels per QR module, then
handed out as opaque RGB. Text lines are rendered once and cached: a pack event prints the same
product, lot, weight, date and packer on every label, so only the QR code and the serial change.
"""
from __future__ import annotations

import datetime
import functools
import re
import struct
import threading
import zlib
from dataclasses import dataclass

import qrcode
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_M

from ._fonts import font

MM_PER_INCH = 25.4
QUIET_MODULES = 4  # ISO/IEC 18004 quiet zone
QR_ERROR_CORRECTION = ERROR_CORRECT_M  # 15 % of codewords recoverable
INK = 0
PAPER = 255

GI_WORDS = "地理标志产品"
GI_WORDS_EN = "GI Product"
CERT_TITLE = "承诺达标合格证"
CERT_TITLE_EN = "Certificate of Conformity (Commitment)"
PLEDGE_INTRO = "我承诺对生产销售的食用农产品："
PLEDGE_ITEMS = (
    "不使用禁用农药兽药、停用兽药和非法添加物",
    "常规农药兽药残留不超标",
    "对承诺的真实性负责",
)
CERT_BASES = ("质量安全控制", "自行检测", "委托检测")
VERIFY_WORDS = "扫码验真"
VERIFY_WORDS_EN = "Scan to verify"
CODE_GROUP = 4  # characters per group of the printed package code


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LabelInfo:
    """What one package label shows (农产品质量安全法 Art. 38: name, origin, producer, production
    date, shelf life, grade; for a GI product the GI badge only when the packer is an authorised
    user of the special logo, with its credit code). Weights are integer grams."""

    url: str
    product_zh: str
    product_en: str
    lot_code: str
    net_weight_g: int
    packed_on: datetime.date
    packer: str
    serial: str
    gi_logo_uscc: str | None = None
    origin: str = ""  # 产地: township and village
    shelf_life: str = ""  # e.g. '30 天 (0-4 ℃)'
    grade: str = ""
    gi_badge: bool = True  # the caller says whether the packer may show it


@dataclass(frozen=True)
class CertificateInfo:
    """What one 承诺达标合格证 (certificate of conformity, per batch) shows.

    ``basis`` optionally names what the pledge rests on, one of CERT_BASES
    (质量安全控制 / 自行检测 / 委托检测); when given, it is ticked on the certificate.
    """

    url: str
    product_zh: str
    product_en: str
    lot_code: str
    quantity_g: int
    origin: str
    party_name: str
    party_contact: str
    issued_on: datetime.date
    basis: str | None = None
    number: str = ""  # the certificate's own number
    replaces: str = ""  # the numbers of the certificates it replaces (after a split, merge or processing)


# --------------------------------------------------------------------------- text helpers


def format_weight(grams: int) -> str:
    """Integer grams as a label shows them, with no float ever involved: 2500 -> '2.5 kg'."""
    if isinstance(grams, bool) or not isinstance(grams, int):
        raise TypeError(f"weight must be integer grams, not {type(grams).__name__}")
    if grams <= 0:
        raise ValueError(f"weight must be positive, not {grams} g")
    if grams < 1000:
        return f"{grams} g"
    kg, rest = divmod(grams, 1000)
    frac = f"{rest:03d}".rstrip("0")
    return f"{kg}.{frac} kg" if frac else f"{kg} kg"


def short_serial(serial: str) -> str:
    """The last 12 characters of a serial in groups of 4, '…' marking what was cut.

    'K7Q2M9XR4TPD8WZC3HNB' -> '…4TPD-8WZC-3HNB'. Enough to tell packages apart by eye and to
    match a label against the full serial; the QR code carries the whole of it.
    """
    s = re.sub(r"[\s-]", "", serial)
    if not s:
        raise ValueError("empty serial")
    tail = s[-12:]
    groups = "-".join(tail[i:i + 4] for i in range(0, len(tail), 4))
    return ("…" + groups) if len(s) > 12 else groups


def printed_code(serial: str) -> str:
    """A package's whole code as a label prints it, in groups of four for reading:
    'K7Q2M9XR4TPD8WZC3HNB' -> 'K7Q2 M9XR 4TPD 8WZC 3HNB'. The page's /verify form takes it as
    printed, with or without the spaces."""
    s = re.sub(r"[\s-]", "", serial)
    if not s:
        raise ValueError("empty serial")
    return " ".join(s[i:i + CODE_GROUP] for i in range(0, len(s), CODE_GROUP))


def label_fields(info: LabelInfo) -> list[tuple[str, str]]:
    """The captioned lines of a label's left column, in order (what the label says in words)."""
    rows = [("批号 Lot", info.lot_code), ("净含量 Net wt", format_weight(info.net_weight_g)),
            ("包装日期 Packed", info.packed_on.isoformat()), ("保质期 Shelf life", info.shelf_life or "—")]
    if info.grade:
        rows.append(("等级 Grade", info.grade))
    if info.origin:
        rows.append(("产地 Origin", info.origin))
    rows.append(("生产者 Producer", info.packer))
    return rows


def _check_uscc(code: str) -> str:
    code = code.strip().upper()
    if len(code) != 18 or not code.isalnum() or not code.isascii():
        raise ValueError(f"unified social credit code must be 18 letters/digits, not {code!r}")
    return code


def mm_to_px(mm: float, dpi: int) -> int:
    return max(1, round(mm * dpi / MM_PER_INCH))


@dataclass(frozen=True)
class _Text:
    """A rendered line: ink mask plus where the mask sits relative to the line's pen position."""

    mask: Image.Image
    dx: int
    dy: int
    advance: int


def _stroke(size: int, bold: bool) -> int:
    return max(1, size // 28) if bold else 0


def _render_text(text: str, size: int, bold: bool = False) -> _Text:
    """Render one line. The pen position is the left end of the baseline."""
    f = font(size)
    stroke = _stroke(size, bold)
    left, top, right, bottom = f.getbbox(text, anchor="ls", stroke_width=stroke)
    w, h = max(1, right - left), max(1, bottom - top)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=f, fill=255, anchor="ls",
                              stroke_width=stroke, stroke_fill=255)
    return _Text(mask, left, top, _width(text, size, bold))


# Lines repeated from label to label (product, lot, packer, fixed words) are rendered once.
# Lines unique to one label (its serial) bypass the cache, so a long run does not fill memory.
_text = functools.lru_cache(maxsize=512)(_render_text)


def _width(text: str, size: int, bold: bool = False) -> int:
    return round(font(size).getlength(text)) + 2 * _stroke(size, bold)


def _draw(canvas: Image.Image, x: int, baseline: int, text: str, size: int,
          bold: bool = False, fill: int = INK, cache: bool = True) -> int:
    """Draw a line with its baseline at y=baseline; returns the x after it."""
    if not text:
        return x
    t = (_text if cache else _render_text)(text, size, bold)
    x0, y0 = x + t.dx, baseline + t.dy
    canvas.paste(fill, (x0, y0, x0 + t.mask.width, y0 + t.mask.height), t.mask)
    return x + t.advance


_TOKEN = re.compile(r"[A-Za-z0-9@._:/+()'&,%-]+\s*|\s+|.", re.S)


@functools.lru_cache(maxsize=2048)
def _wrap(text: str, size: int, width: int, bold: bool = False) -> tuple[str, ...]:
    """Greedy line breaking: any CJK character may start a line, Latin words stay whole."""
    lines: list[str] = []
    cur = ""
    for tok in _TOKEN.findall(text):
        if _width(cur + tok.rstrip(), size, bold) <= width or not cur:
            cur += tok
        else:
            lines.append(cur.rstrip())
            cur = tok.lstrip()
    if cur.strip():
        lines.append(cur.rstrip())
    return tuple(lines) or ("",)


def _ellipsize(text: str, size: int, width: int, bold: bool = False) -> str:
    if _width(text, size, bold) <= width:
        return text
    while text and _width(text + "…", size, bold) > width:
        text = text[:-1]
    return text + "…"


@functools.lru_cache(maxsize=2048)
def _fit(text: str, width: int, size: int, min_size: int, max_lines: int = 1,
         bold: bool = False) -> tuple[int, tuple[str, ...]]:
    """The size and lines to draw text in, within width and at most max_lines lines.

    First one line, shrinking the size by up to a fifth; then wrapped lines, shrinking down to
    min_size. Fails soft: at min_size the last line is cut with '…' (a label must still print).
    """
    width = max(1, width)
    s = size
    floor = max(min_size, size * 4 // 5) if max_lines > 1 else min_size
    while True:
        if _width(text, s, bold) <= width:
            return s, (text,)
        if s <= floor:
            break
        s = max(floor, s - max(1, s // 16))
    if max_lines > 1:
        s = size
        while True:
            lines = _wrap(text, s, width, bold)
            if len(lines) <= max_lines and all(_width(ln, s, bold) <= width for ln in lines):
                return s, lines
            if s <= min_size:
                break
            s = max(min_size, s - max(1, s // 16))
    lines = list(_wrap(text, min_size, width, bold))[:max_lines] if max_lines > 1 else [text]
    if max_lines > 1 and len(_wrap(text, min_size, width, bold)) > max_lines:
        lines[-1] = lines[-1] + "…"
    return min_size, tuple(_ellipsize(ln, min_size, width, bold) for ln in lines)


# --------------------------------------------------------------------------- QR code


@functools.lru_cache(maxsize=64)
def _data_cells(version: int) -> tuple[tuple[int, int], ...]:
    """The (row, col) of the data modules of a symbol version: all but the function patterns."""
    qr = qrcode.QRCode(version=version, error_correction=QR_ERROR_CORRECTION)
    n = qr.modules_count = version * 4 + 17
    qr.modules = [[None] * n for _ in range(n)]
    qr.setup_position_probe_pattern(0, 0)
    qr.setup_position_probe_pattern(n - 7, 0)
    qr.setup_position_probe_pattern(0, n - 7)
    qr.setup_position_adjust_pattern()
    qr.setup_timing_pattern()
    qr.setup_type_info(True, 0)
    if version >= 7:
        qr.setup_type_number(True)
    return tuple((r, c) for r in range(n) for c in range(n) if qr.modules[r][c] is None)


@functools.lru_cache(maxsize=512)
def _mask_cells(version: int, pattern: int) -> tuple[tuple[int, int], ...]:
    """The data modules that mask `pattern` inverts."""
    f = qrcode.util.mask_func(pattern)
    return tuple((r, c) for r, c in _data_cells(version) if f(r, c))


def _matrix_fast(data: str) -> list[list[bool]]:
    """qrcode's own symbol for data, made with 2 data placements instead of 9.

    qrcode.make() places the data afresh for each of the 8 masks to score them. Here the data
    is placed once, the 8 masked variants are derived by flipping the modules each mask
    inverts, scored with qrcode's own util.lost_point, and the winner is placed by qrcode. The
    result is the same matrix (the tests and _fast_ok() check that); ~30 % less time.
    """
    qr = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, border=0)
    qr.add_data(data)
    qr.best_fit()
    v = qr.version
    qr.makeImpl(True, 0)  # as best_mask_pattern() scores: format modules left light
    raw = qr.modules
    for r, c in _mask_cells(v, 0):
        raw[r][c] = not raw[r][c]
    best, best_score = 0, None
    for k in range(8):
        masked = [row[:] for row in raw]
        for r, c in _mask_cells(v, k):
            masked[r][c] = not masked[r][c]
        score = qrcode.util.lost_point(masked)
        if best_score is None or score < best_score:
            best, best_score = k, score
    qr.makeImpl(False, best)
    return qr.modules


def _matrix_plain(data: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


@functools.lru_cache(maxsize=1)
def _fast_ok() -> bool:
    """Whether this qrcode version's internals still give the same symbols by the fast path."""
    try:
        return all(_matrix_fast(p) == _matrix_plain(p)
                   for p in ("http://127.0.0.1:5000/p/K7Q2M9XR4TPD8WZC3HNB", "x" * 200))
    except Exception:  # noqa: BLE001 - internals moved: use the plain path
        return False


@functools.lru_cache(maxsize=64)
def qr_matrix(data: str) -> tuple[int, bytes]:
    """(modules per side, grey bytes row by row: 0 dark, 255 light) of the QR code for data.

    Same symbol as qrcode.make(): error correction M, smallest version, mixed-mode segments,
    qrcode's choice of mask.
    """
    rows = _matrix_fast(data) if _fast_ok() else _matrix_plain(data)
    n = len(rows)
    return n, bytes(INK if v else PAPER for row in rows for v in row)


def _paste_qr(canvas: Image.Image, data: str, x: int, y: int, side: int) -> tuple[int, int, int]:
    """Paint the QR code of data, quiet zone included, in the side x side square at (x, y).

    The module size is the largest whole number of pixels that fits; the symbol is centred.
    Returns (modules, module px, symbol px). The square is cleared to paper first.
    """
    n, grey = qr_matrix(data)
    module = side // (n + 2 * QUIET_MODULES)
    if module < 1:
        raise ValueError(f"{side} px cannot hold a {n}-module QR code and its quiet zone")
    symbol = Image.frombytes("L", (n, n), grey).resize((n * module, n * module), Image.NEAREST)
    canvas.paste(PAPER, (x, y, x + side, y + side))
    off = (side - n * module) // 2
    canvas.paste(symbol, (x + off, y + off))
    return n, module, n * module


# --------------------------------------------------------------------------- package label


@functools.lru_cache(maxsize=32)
def _blank(w: int, h: int) -> Image.Image:
    return Image.new("L", (w, h), PAPER)


# FreeType faces are shared (cached) and not safe to use from two threads at once; a threaded
# server (flask run) may draw two labels at the same time.
_FT_LOCK = threading.RLock()


def _render_label_l(info: LabelInfo, w: int, h: int) -> Image.Image:
    """The label in grey, w x h pixels."""
    with _FT_LOCK:
        return _paint_label(info, w, h)


def _paint_label(info: LabelInfo, w: int, h: int) -> Image.Image:
    uscc = _check_uscc(info.gi_logo_uscc) if info.gi_logo_uscc and info.gi_badge else None
    canvas = _blank(w, h).copy()
    pad = max(2, round(min(w, h) * 0.035))
    iw, ih = w - 2 * pad, h - 2 * pad
    x0, y0, x1, y1 = pad, pad, w - pad, h - pad

    # bottom row: the words 地理标志产品 in a black badge (authorised packers only) and beside it
    # the GI logo user's code; the words 扫码验真 at the right end
    gi_size = max(6, round(ih * 0.068))
    badge_h = round(gi_size * 1.42)
    badge_top = y1 - badge_h
    # QR with its quiet zone: top right, as big as a whole module size allows; the whole package
    # code under it in two lines of groups of four
    ser_size = max(6, round(ih * 0.052))
    code = printed_code(info.serial).split(" ")
    half = (len(code) + 1) // 2
    code_lines = [" ".join(code[:half]), " ".join(code[half:])]
    qr_side = min(badge_top - y0 - round(ser_size * 2.5), round(iw * 0.5))
    qr_x = x1 - qr_side
    _paste_qr(canvas, info.url, qr_x, y0, qr_side)
    y = y0 + qr_side
    for line in code_lines:
        s, (ln,) = _fit.__wrapped__(line, qr_side, ser_size, max(6, ser_size * 2 // 3))
        y += round(s * 1.15)
        _draw(canvas, qr_x + (qr_side - _width(ln, s)) // 2, y, ln, s, cache=False)

    # left column, top down
    col_w = qr_x - x0 - max(2, pad // 3)
    y = y0
    zh_size = max(8, round(ih * 0.135))
    s, (line,) = _fit(info.product_zh, col_w, zh_size, max(6, zh_size * 3 // 5), bold=True)
    y += round(s * 0.90)
    _draw(canvas, x0, y, line, s, bold=True)
    en_size = max(6, round(ih * 0.07))
    s, lines = _fit(info.product_en, col_w, en_size, max(6, en_size * 3 // 4), max_lines=2)
    for line in lines:
        y += round(s * 1.18)
        _draw(canvas, x0, y, line, s)
    y += round(ih * 0.035)

    cap = max(6, round(ih * 0.052))
    val = max(6, round(ih * 0.066))
    line_h = round(val * 1.28)

    def field(caption: str, value: str, max_lines: int = 1) -> None:
        nonlocal y
        cw = _width(caption, cap) + round(cap * 0.45)
        s, lines = _fit(value, col_w - cw, val, max(6, val * 2 // 3), max_lines)
        for i, ln in enumerate(lines):
            y += line_h if i == 0 else round(s * 1.2)
            if i == 0:
                _draw(canvas, x0, y, caption, cap)
            _draw(canvas, x0 + cw, y, ln, s)

    rows = label_fields(info)
    room = badge_top - round(ih * 0.02) - y
    line_h = min(line_h, max(6, room // (len(rows) + 1)))  # a second line for the producer's name
    val = min(val, round(line_h / 1.22))
    for caption, value in rows[:-1]:
        field(caption, value)
    field(*rows[-1], max_lines=2)

    # bottom row
    base = badge_top + round(badge_h * 0.5 + gi_size * 0.38)
    vs = max(6, round(gi_size * 0.9))
    words = f"{VERIFY_WORDS} {VERIFY_WORDS_EN}"
    ws, (wline,) = _fit(words, round(iw * 0.42), vs, max(6, vs // 2))
    wx = x1 - _width(wline, ws)
    _draw(canvas, wx, base, wline, ws)
    if not info.gi_badge:
        return canvas
    gw = _width(GI_WORDS, gi_size)
    bpad = round(gi_size * 0.35)
    ImageDraw.Draw(canvas).rounded_rectangle(
        (x0, badge_top, x0 + gw + 2 * bpad, y1), radius=max(1, badge_h // 6), fill=INK)
    _draw(canvas, x0 + bpad, base, GI_WORDS, gi_size, fill=PAPER)
    tx = x0 + gw + 2 * bpad + round(gi_size * 0.4)
    room = wx - tx - round(gi_size * 0.4)
    if uscc:
        s, (line,) = _fit(uscc, room, gi_size, max(6, gi_size // 2))
    else:
        s, (line,) = _fit(GI_WORDS_EN, room, gi_size, max(6, gi_size // 2))
    _draw(canvas, tx, base, line, s)
    return canvas


def label_size_px(size_mm: tuple[float, float] = (60, 40), dpi: int = 300) -> tuple[int, int]:
    return mm_to_px(size_mm[0], dpi), mm_to_px(size_mm[1], dpi)


def render_label(info: LabelInfo, size_mm: tuple[float, float] = (60, 40),
                 dpi: int = 300) -> Image.Image:
    """One package label as an opaque RGB image (60 x 40 mm at 300 dpi is 709 x 472 px)."""
    return _render_label_l(info, *label_size_px(size_mm, dpi)).convert("RGB")


_BAND = 32  # rows encoded at a time


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_rgb(img: Image.Image, dpi: int) -> bytes:
    """img as an RGB PNG (colour type 2, no alpha) with its dpi in a pHYs chunk.

    Written by hand, row filter 'None', zlib level 1, in bands of 32 rows: for black-on-white
    labels that is twice as fast as Pillow's encoder (whose adaptive row filters cost more than
    they save here), and no buffer of the whole image is made besides the image itself, so a
    run of labels does not churn megabytes of fresh memory per label.
    """
    w, h = img.size
    z = zlib.compressobj(1)
    parts = []
    for y in range(0, h, _BAND):
        n = min(h, y + _BAND) - y
        band = img.crop((0, y, w, y + n))
        band = band if band.mode == "RGB" else band.convert("RGB")
        # each row prefixed by its filter type byte (0): the band's RGB bytes, seen as a grey
        # image 3w wide, pasted one column to the right in a zeroed grey image 3w + 1 wide
        rows = Image.new("L", (3 * w + 1, n), 0)
        rows.paste(Image.frombytes("L", (3 * w, n), band.tobytes()), (1, 0))
        parts.append(z.compress(rows.tobytes()))
    parts.append(z.flush())
    ppm = round(dpi / 0.0254)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)),
        _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
        _chunk(b"IDAT", b"".join(parts)),
        _chunk(b"IEND", b""),
    ))


def label_png(info: LabelInfo, size_mm: tuple[float, float] = (60, 40), dpi: int = 300) -> bytes:
    """One package label as PNG bytes (RGB, no alpha, with its dpi recorded)."""
    return png_rgb(_render_label_l(info, *label_size_px(size_mm, dpi)), dpi)


# --------------------------------------------------------------------------- certificate


def _tick_box(canvas: Image.Image, x: int, baseline: int, size: int, ticked: bool) -> int:
    """A square check box sitting on the baseline, ticked or not; returns the x after it."""
    d = ImageDraw.Draw(canvas)
    side = round(size * 0.78)
    top = baseline - round(size * 0.80)
    lw = max(1, size // 14)
    d.rectangle((x, top, x + side, top + side), outline=INK, width=lw)
    if ticked:
        pts = [(x + side * 0.18, top + side * 0.52), (x + side * 0.42, top + side * 0.78),
               (x + side * 0.86, top + side * 0.20)]
        d.line([(round(a), round(b)) for a, b in pts], fill=INK, width=max(2, size // 8),
               joint="curve")
    return x + side + round(size * 0.25)


def _render_certificate_l(info: CertificateInfo, w: int, h: int) -> Image.Image:
    """The certificate in grey, w x h pixels."""
    with _FT_LOCK:
        return _paint_certificate(info, w, h)


def _paint_certificate(info: CertificateInfo, w: int, h: int) -> Image.Image:
    if info.basis is not None and info.basis not in CERT_BASES:
        raise ValueError(f"basis must be one of {CERT_BASES}, not {info.basis!r}")
    canvas = _blank(w, h).copy()
    d = ImageDraw.Draw(canvas)
    pad = max(3, round(min(w, h) * 0.04))
    x0, y0, x1, y1 = pad, pad, w - pad, h - pad
    iw, ih = x1 - x0, y1 - y0
    frame = max(1, round(min(w, h) * 0.004))
    d.rectangle((pad // 2, pad // 2, w - 1 - pad // 2, h - 1 - pad // 2), outline=INK, width=frame)

    # title
    t_size = max(10, round(ih * 0.085))
    s, (title,) = _fit(CERT_TITLE, iw, t_size, t_size // 2, bold=True)
    y = y0 + round(s * 0.9)
    _draw(canvas, x0 + (iw - _width(title, s, True)) // 2, y, title, s, bold=True)
    sub = max(6, round(ih * 0.034))
    s2, (subt,) = _fit(CERT_TITLE_EN, iw, sub, max(6, sub // 2))
    y += round(s2 * 1.5)
    _draw(canvas, x0 + (iw - _width(subt, s2)) // 2, y, subt, s2)
    y += round(s2 * 0.6)
    d.line((x0, y, x1, y), fill=INK, width=frame)
    y += round(ih * 0.02)

    # pledge block at the bottom, full width
    p_size = max(6, round(ih * 0.043))
    p_line = round(p_size * 1.42)
    n_pledge_lines = 1 + len(PLEDGE_ITEMS) + (1 if info.basis else 0)
    pledge_top = y1 - n_pledge_lines * p_line

    # QR, right of the fields
    fields_top = y
    qr_side = min(pledge_top - fields_top - round(ih * 0.07), round(iw * 0.36))
    qr_x = x1 - qr_side
    _paste_qr(canvas, info.url, qr_x, fields_top, qr_side)
    cap_size = max(6, round(ih * 0.03))
    s, (scan,) = _fit("扫码查验 Scan to verify", qr_side, cap_size, max(6, cap_size // 2))
    _draw(canvas, qr_x + (qr_side - _width(scan, s)) // 2, fields_top + qr_side + round(s * 0.9),
          scan, s)

    # fields
    col_w = qr_x - x0 - round(iw * 0.02)
    cap = max(6, round(ih * 0.034))
    val = max(6, round(ih * 0.043))
    rows = [
        ("产品名称 Product", f"{info.product_zh} {info.product_en}", 2),
        ("数量(重量) Quantity", format_weight(info.quantity_g), 1),
        ("批号 Lot", info.lot_code, 1),
        *((("编号 No.", info.number, 1),) if info.number else ()),
        *((("原合格证 Replaces", info.replaces, 1),) if info.replaces else ()),
        ("产地 Origin", info.origin, 2),
        ("生产者 Producer", info.party_name, 2),
        ("联系方式 Contact", info.party_contact, 1),
        ("开具日期 Date", info.issued_on.isoformat(), 1),
    ]
    cw = max(_width(c, cap) for c, _, _ in rows) + round(cap * 0.6)
    room = pledge_top - fields_top - round(ih * 0.02)
    line_h = min(round(val * 1.36), room // (len(rows) + 3))
    y = fields_top
    for caption, value, max_lines in rows:
        s, lines = _fit(value, col_w - cw, val, max(6, val * 2 // 3), max_lines)
        for i, ln in enumerate(lines):
            y += line_h if i == 0 else round(s * 1.15)
            if i == 0:
                _draw(canvas, x0, y, caption, cap)
            _draw(canvas, x0 + cw, y, ln, s)

    # pledge
    y = pledge_top
    d.line((x0, y - round(p_size * 0.2), x1, y - round(p_size * 0.2)), fill=INK, width=frame)
    s, (intro,) = _fit(PLEDGE_INTRO, iw, p_size, max(6, p_size // 2))
    y += p_line
    _draw(canvas, x0, y - round(p_size * 0.25), intro, s)
    indent = x0 + round(p_size * 0.8)
    for item in PLEDGE_ITEMS:
        y += p_line
        x = _tick_box(canvas, indent, y - round(p_size * 0.25), p_size, True)
        s, (line,) = _fit(item, x1 - x, p_size, max(6, p_size // 2))
        _draw(canvas, x, y - round(p_size * 0.25), line, s)
    if info.basis:
        y += p_line
        b = y - round(p_size * 0.25)
        x = _draw(canvas, x0, b, "承诺依据：", p_size)
        for basis in CERT_BASES:
            x = _tick_box(canvas, x, b, p_size, basis == info.basis)
            x = _draw(canvas, x, b, basis, p_size) + round(p_size * 0.6)
    return canvas


def render_certificate(info: CertificateInfo, size_mm: tuple[float, float] = (100, 70),
                       dpi: int = 300) -> Image.Image:
    """One 承诺达标合格证 as an opaque RGB image (100 x 70 mm at 300 dpi is 1181 x 827 px)."""
    return _render_certificate_l(info, *label_size_px(size_mm, dpi)).convert("RGB")


def certificate_png(info: CertificateInfo, size_mm: tuple[float, float] = (100, 70),
                    dpi: int = 300) -> bytes:
    """One certificate of conformity as PNG bytes (RGB, no alpha)."""
    return png_rgb(_render_certificate_l(info, *label_size_px(size_mm, dpi)), dpi)
