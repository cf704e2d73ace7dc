"""Finding a font that draws Chinese, so a label never shows tofu boxes.

Order of search (the first font that really draws Chinese wins):

1. ``TRACE_LABELS_FONT`` (a path; ``TRACE_LABELS_FONT_INDEX`` picks the face of a collection);
2. a font file dropped into ``trace/labels/fonts/``;
3. the PyPI package ``noto-cjk-sans-otc`` (Noto Sans CJK, SIL OFL 1.1), a project dependency,
   so a plain ``pip install`` brings it and no root is needed;
4. fonts of the operating system: Debian's ``fonts-noto-cjk`` / ``fonts-wqy-microhei`` /
   ``fonts-wqy-zenhei``, macOS and Windows system fonts, then whatever ``fc-list`` knows.

A font "draws Chinese" when the glyphs it renders for 地理标志产品 differ from its glyph for an
unassigned code point (its .notdef box); a font without the characters fails that test.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

PIP_PACKAGE = "noto-cjk-sans-otc"
APT_PACKAGE = "fonts-noto-cjk"
PROBE_TEXT = "地理标志产品"
NOTDEF_CHAR = "\U0010fffd"  # private use, plane 16: no font maps it

FONT_DIR = Path(__file__).with_name("fonts")

SYSTEM_FONTS = (
    # Debian/Ubuntu fonts-noto-cjk (and the -extra variant)
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    # Fedora / Arch layouts of Noto CJK
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    # Debian fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    # macOS
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    # Windows
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/simsun.ttc",
)


class LabelFontError(RuntimeError):
    """No font able to draw Chinese could be found."""


@dataclass(frozen=True)
class FontSpec:
    """A font file and the face inside it (collections hold several)."""

    path: str
    index: int
    name: str
    origin: str


def _faces(path: str) -> list[tuple[int, str]]:
    """(index, 'family style') of each face of a font file; a plain font has one."""
    faces = []
    for i in range(32):
        try:
            font = ImageFont.truetype(path, 24, index=i)
        except OSError:
            break
        family, style = font.getname()
        faces.append((i, f"{family} {style}"))
        if not path.lower().endswith((".ttc", ".otc")):
            break
    return faces


def _pick_face(path: str) -> tuple[int, str] | None:
    """The simplified-Chinese face of a collection if it has one, else its first face."""
    faces = _faces(path)
    if not faces:
        return None
    for marker in (" SC", " CN", "GB", "Simplified"):
        for i, name in faces:
            if marker in name and "Mono" not in name:
                return i, name
    return faces[0]


def draws_chinese(path: str, index: int = 0) -> bool:
    """Whether the face renders 地理标志产品 as distinct glyphs unlike its .notdef box."""
    try:
        font = ImageFont.truetype(path, 48, index=index, layout_engine=ImageFont.Layout.BASIC)
    except OSError:
        return False

    def bitmap(ch: str) -> tuple[tuple[int, int], bytes]:
        mask = font.getmask(ch)
        return mask.size, bytes(mask)

    tofu = bitmap(NOTDEF_CHAR)
    glyphs = [bitmap(c) for c in PROBE_TEXT]
    inked = all(any(g[1]) for g in glyphs)
    return inked and tofu not in glyphs and len(set(glyphs)) == len(glyphs)


def _candidates() -> list[tuple[str, int | None, str]]:
    """(path, face index or None for 'choose', origin) in order of preference."""
    out: list[tuple[str, int | None, str]] = []
    env = os.environ.get("TRACE_LABELS_FONT")
    if env:
        idx = os.environ.get("TRACE_LABELS_FONT_INDEX")
        out.append((env, int(idx) if idx else None, "TRACE_LABELS_FONT"))
    if FONT_DIR.is_dir():
        for p in sorted(FONT_DIR.iterdir()):
            if p.suffix.lower() in (".ttf", ".otf", ".ttc", ".otc"):
                out.append((str(p), None, "trace/labels/fonts"))
    try:
        import noto_cjk_sans_otc  # type: ignore[import-not-found]

        out.append((str(noto_cjk_sans_otc.FONT_PATH), None, f"pip:{PIP_PACKAGE}"))
    except ImportError:
        pass
    out.extend((p, None, "system") for p in SYSTEM_FONTS)
    return out


def _fc_list() -> list[str]:
    """Font files fontconfig says cover Chinese, if fontconfig is there."""
    exe = shutil.which("fc-list")
    if not exe:
        return []
    try:
        res = subprocess.run(
            [exe, ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split(":")[0].strip() for line in res.stdout.splitlines() if line.strip()})


def _missing_message(tried: list[str]) -> str:
    return (
        "No font that can draw Chinese was found for the labels, so they would print tofu boxes. "
        f"Install one: `pip install {PIP_PACKAGE}` (a project dependency; no root needed), or "
        f"`apt-get install {APT_PACKAGE}` (or fonts-wqy-microhei), or point TRACE_LABELS_FONT at a "
        f"CJK .ttf/.otf/.ttc file. Tried: {', '.join(tried) or 'nothing'}."
    )


@functools.lru_cache(maxsize=1)
def cjk_font() -> FontSpec:
    """The font the labels are drawn with. Raises LabelFontError naming what to install."""
    tried: list[str] = []
    for path, index, origin in _candidates():
        if not os.path.isfile(path):
            if origin != "system":
                tried.append(f"{path} (missing)")
            continue
        face = (index, "") if index is not None else _pick_face(path)
        tried.append(path)
        if face is not None and draws_chinese(path, face[0]):
            name = face[1] or " ".join(ImageFont.truetype(path, 24, index=face[0]).getname())
            return FontSpec(path, face[0], name, origin)
        if origin == "TRACE_LABELS_FONT":
            raise LabelFontError(f"TRACE_LABELS_FONT={path} does not draw Chinese. " + _missing_message(tried))
    for path in _fc_list():
        face = _pick_face(path)
        tried.append(path)
        if face is not None and draws_chinese(path, face[0]):
            return FontSpec(path, face[0], face[1], "fontconfig")
    raise LabelFontError(_missing_message(tried))


@functools.lru_cache(maxsize=256)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The CJK font at a pixel size, cached: loading a 19 MB collection is not free."""
    spec = cjk_font()
    return ImageFont.truetype(spec.path, max(1, int(size)), index=spec.index,
                              layout_engine=ImageFont.Layout.BASIC)
