"""Small charts drawn on the server as SVG (no script, no CDN): counts per week as bars."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape


def bars(series: Sequence[tuple[date, int]], title: str, *, width: int = 640, height: int = 160) -> Markup:
    """A bar chart of counts per week, oldest first, with the first week's date, the last one's
    and the largest count labelled; accessible by its title and a text summary."""
    n = max(1, len(series))
    top = max([c for _, c in series] + [1])
    pad_l, pad_b, pad_t = 36, 22, 10
    inner_w, inner_h = width - pad_l - 6, height - pad_b - pad_t
    bw = inner_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 6}" y2="{pad_t + inner_h}" stroke="#999"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end" font-size="10">{top}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + inner_h}" text-anchor="end" font-size="10">0</text>']
    for i, (week, count) in enumerate(series):
        h = inner_h * count / top
        x = pad_l + i * bw + 1
        parts.append(f'<rect x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
                     f'fill="#2f6b3a"><title>{week.isoformat()}: {count}</title></rect>')
    if series:
        parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="10">{series[0][0].isoformat()}</text>')
        parts.append(f'<text x="{width - 6}" y="{height - 6}" text-anchor="end" font-size="10">{series[-1][0].isoformat()}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
