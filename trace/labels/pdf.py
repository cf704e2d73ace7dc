"""A small PDF writer that streams: each label image is written the moment it is drawn.

A label becomes one image XObject (8-bit grey, Flate) and is placed on its page by the page's
content stream at its exact size in points.
Nothing but object offsets and page numbers is kept until the end, where the page tree, the
catalogue, the cross-reference table and the trailer are written. So a 1,000-label run holds one
label in memory, not a page and not the document, and `out` needs only `.write()`: it may be a
file, a pipe or a response stream (no seeking).
"""
from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

from PIL import Image

from .render import (
    CertificateInfo,
    LabelInfo,
    _render_certificate_l,
    _render_label_l,
    mm_to_px,
)

PT_PER_MM = 72 / 25.4
T = TypeVar("T")


def _num(v: float) -> str:
    """A PDF real: at most 3 decimals, no exponent, no trailing zeros."""
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _flate(img: Image.Image, band: int = 32) -> bytes:
    """img's samples, zlib level 6, compressed a band of rows at a time (no whole-image copy)."""
    w, h = img.size
    z = zlib.compressobj(6)
    parts = [z.compress(img.crop((0, y, w, min(h, y + band))).tobytes()) for y in range(0, h, band)]
    parts.append(z.flush())
    return b"".join(parts)


class PdfStreamWriter:
    """Writes a PDF to a binary stream object by object; call close() to finish it."""

    def __init__(self, out: BinaryIO, *, title: str | None = None) -> None:
        self._out = out
        self._pos = 0
        self._offsets: dict[int, int] = {}
        self._pages: list[int] = []
        self._next = 3  # 1: catalogue, 2: page tree
        self._title = title
        self._closed = False
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)

    def _alloc(self) -> int:
        n = self._next
        self._next += 1
        return n

    def _object(self, num: int, head: str, stream: bytes | None = None) -> None:
        self._offsets[num] = self._pos
        if stream is None:
            self._write(f"{num} 0 obj\n{head}\nendobj\n".encode("latin-1"))
        else:
            self._write(f"{num} 0 obj\n{head}\nstream\n".encode("latin-1"))
            self._write(stream)
            self._write(b"\nendstream\nendobj\n")

    def add_image(self, img: Image.Image) -> int:
        """Write a grey or RGB image as a lossless XObject now; returns its object number."""
        if img.mode not in ("L", "RGB"):
            img = img.convert("RGB")
        space = "/DeviceGray" if img.mode == "L" else "/DeviceRGB"
        data = _flate(img)
        num = self._alloc()
        head = (
            f"<< /Type /XObject /Subtype /Image /Width {img.width} /Height {img.height} "
            f"/ColorSpace {space} /BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>"
        )
        self._object(num, head, data)
        return num

    def add_page(self, width_pt: float, height_pt: float,
                 placements: list[tuple[int, float, float, float, float]]) -> None:
        """A page showing images: (object, x, y, w, h) in points from the bottom-left corner."""
        names, ops = [], []
        for i, (obj, x, y, w, h) in enumerate(placements):
            names.append(f"/Im{i} {obj} 0 R")
            ops.append(f"q {_num(w)} 0 0 {_num(h)} {_num(x)} {_num(y)} cm /Im{i} Do Q")
        content = zlib.compress("\n".join(ops).encode("latin-1"), 6)
        cnum = self._alloc()
        self._object(cnum, f"<< /Length {len(content)} /Filter /FlateDecode >>", content)
        pnum = self._alloc()
        self._object(
            pnum,
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_num(width_pt)} {_num(height_pt)}] "
            f"/Resources << /XObject << {' '.join(names)} >> >> /Contents {cnum} 0 R >>",
        )
        self._pages.append(pnum)

    def close(self) -> int:
        """Write page tree, catalogue, cross-reference table and trailer; returns the page count."""
        if self._closed:
            return len(self._pages)
        kids = " ".join(f"{p} 0 R" for p in self._pages)
        self._object(2, f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>")
        self._object(1, "<< /Type /Catalog /Pages 2 0 R >>")
        info = self._alloc()
        title = ""
        if self._title:
            title = " /Title <" + ("\ufeff" + self._title).encode("utf-16-be").hex().upper() + ">"
        self._object(info, f"<< /Producer (shapotou-trace labels){title} >>")
        xref = self._pos
        size = self._next
        rows = ["xref", f"0 {size}", "0000000000 65535 f "]
        rows += [f"{self._offsets[n]:010d} 00000 n " for n in range(1, size)]
        self._write(("\n".join(rows) + "\n").encode("latin-1"))
        self._write(
            f"trailer\n<< /Size {size} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode("latin-1")
        )
        self._closed = True
        if hasattr(self._out, "flush"):
            self._out.flush()
        return len(self._pages)


def _pairs(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    return float(value[0]), float(value[1])


def _non_empty(items: Iterable[T]) -> Iterator[T]:
    """The items, lazily, after checking there is at least one (before anything is written)."""
    it = iter(items)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("nothing to print: no labels given") from None
    return itertools.chain((first,), it)


def _write_grid(
    items: Iterable[T],
    out: BinaryIO,
    render: Callable[[T, int, int], Image.Image],
    *,
    cell_mm: tuple[float, float],
    page_mm: tuple[float, float],
    cols: int,
    rows: int,
    origin_mm: tuple[float, float],
    pitch_mm: tuple[float, float],
    dpi: int,
    title: str,
) -> int:
    """Draw each item into a cols x rows grid of cells, page after page, streaming."""
    if cols < 1 or rows < 1:
        raise ValueError("cols and rows must be at least 1")
    if cell_mm[0] <= 0 or cell_mm[1] <= 0:
        raise ValueError(f"labels do not fit: cell of {cell_mm[0]:.1f} x {cell_mm[1]:.1f} mm")
    w_px, h_px = mm_to_px(cell_mm[0], dpi), mm_to_px(cell_mm[1], dpi)
    pw, ph = page_mm[0] * PT_PER_MM, page_mm[1] * PT_PER_MM
    cw, ch = cell_mm[0] * PT_PER_MM, cell_mm[1] * PT_PER_MM
    per_page = cols * rows
    it = _non_empty(items)
    pdf = PdfStreamWriter(out, title=title)
    placed: list[tuple[int, float, float, float, float]] = []
    for item in it:
        k = len(placed)
        r, c = divmod(k, cols)
        x = (origin_mm[0] + c * pitch_mm[0]) * PT_PER_MM
        y_top = (origin_mm[1] + r * pitch_mm[1]) * PT_PER_MM
        obj = pdf.add_image(render(item, w_px, h_px))
        placed.append((obj, x, ph - y_top - ch, cw, ch))
        if len(placed) == per_page:
            pdf.add_page(pw, ph, placed)
            placed = []
    if placed:
        pdf.add_page(pw, ph, placed)
    return pdf.close()


def write_label_sheets_pdf(
    infos: Iterable[LabelInfo],
    out: BinaryIO,
    *,
    cols: int = 3,
    rows: int = 8,
    page_mm: tuple[float, float] = (210, 297),
    margin_mm: float | tuple[float, float] = (0.0, 0.5),
    gap_mm: float | tuple[float, float] = (0.0, 0.0),
    dpi: int = 300,
) -> int:
    """Labels on sheets of label stock (A4, 3 x 8 labels of 70 x 37 mm by default).

    margin_mm and gap_mm are (horizontal, vertical) or one number for both. Consumes `infos`
    lazily and writes each label as it is drawn; returns the number of pages.
    """
    mx, my = _pairs(margin_mm)
    gx, gy = _pairs(gap_mm)
    cell = ((page_mm[0] - 2 * mx - (cols - 1) * gx) / cols,
            (page_mm[1] - 2 * my - (rows - 1) * gy) / rows)
    return _write_grid(infos, out, _render_label_l, cell_mm=cell, page_mm=page_mm, cols=cols,
                       rows=rows, origin_mm=(mx, my), pitch_mm=(cell[0] + gx, cell[1] + gy),
                       dpi=dpi, title="Labels")


def write_label_pdf(infos: Iterable[LabelInfo], out: BinaryIO,
                    size_mm: tuple[float, float] = (60, 40), dpi: int = 300) -> int:
    """One label per page, the page the size of the label: for a thermal printer's roll."""
    return _write_grid(infos, out, _render_label_l, cell_mm=size_mm, page_mm=size_mm, cols=1,
                       rows=1, origin_mm=(0, 0), pitch_mm=size_mm, dpi=dpi, title="Labels")


def write_certificate_pdf(infos: Iterable[CertificateInfo], out: BinaryIO,
                          size_mm: tuple[float, float] = (100, 70), dpi: int = 300, *,
                          page_mm: tuple[float, float] | None = None) -> int:
    """Certificates of conformity: one per page of their own size, or, given page_mm (e.g.
    (210, 297)), as many as fit on each page, centred in a grid."""
    if page_mm is None:
        return _write_grid(infos, out, _render_certificate_l, cell_mm=size_mm, page_mm=size_mm,
                           cols=1, rows=1, origin_mm=(0, 0), pitch_mm=size_mm, dpi=dpi,
                           title="承诺达标合格证")
    cols, rows = int(page_mm[0] // size_mm[0]), int(page_mm[1] // size_mm[1])
    if cols < 1 or rows < 1:
        raise ValueError(f"a {size_mm} mm certificate does not fit on a {page_mm} mm page")
    origin = ((page_mm[0] - cols * size_mm[0]) / 2, (page_mm[1] - rows * size_mm[1]) / 2)
    return _write_grid(infos, out, _render_certificate_l, cell_mm=size_mm, page_mm=page_mm,
                       cols=cols, rows=rows, origin_mm=origin, pitch_mm=size_mm, dpi=dpi,
                       title="承诺达标合格证")
