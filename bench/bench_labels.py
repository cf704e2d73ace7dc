"""Benchmark of the labels module (a script that prints figures, not a test).

    .venv/bin/python bench/bench_labels.py [N_PNG=300] [N_PDF=1000]

1. N package labels as PNG (label_png) against bare `qrcode.make(url).save(BytesIO)` of the same
   URLs in the same run: rates and their ratio (target: labels >= 50 % of the bare rate).
2. A PDF of N_PDF labels on A4 sheets (3 x 8), written to a file: time, size, and peak memory
   (ru_maxrss of a fresh subprocess, and tracemalloc's peak of Python allocations in another),
   against the same for one page (24 labels) and against the size of one A4 page as an image.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # our package `trace`, not the standard library's module

import qrcode  # noqa: E402

from trace.labels import (  # noqa: E402
    LabelInfo,
    cjk_font,
    label_png,
    write_label_sheets_pdf,
)
from trace.labels.render import qr_matrix  # noqa: E402

BASE = "http://127.0.0.1:5000"
CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def serial(i: int) -> str:
    return "".join(CHARS[(i * 7919 + k * 104729) % 32] for k in range(16)) + f"{i:04d}"[-4:]


def infos(n: int, start: int = 0):
    """One pack event: same product, lot, weight, date, packer; a fresh serial each."""
    for i in range(start, start + n):
        s = serial(i)
        yield LabelInfo(
            url=f"{BASE}/01/06901234567892/10/APL-2026-00001/21/{s}",
            product_zh="沙坡头苹果",
            product_en="Shapotou Apple",
            lot_code="APL-2026-00001",
            net_weight_g=2500,
            packed_on=datetime.date(2026, 9, 15),
            packer="中卫市沙坡头区南长滩枣业专业合作社",
            serial=s,
            gi_logo_uscc="91640502MA76L1XQ3B",
        )


def _proc_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process in KiB, on Linux."""
    try:
        with open("/proc/self/status") as f:
            return {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in f)
                    if k in ("VmRSS", "VmHWM")}
    except OSError:
        return {}


def child(n: int, use_tracemalloc: bool) -> None:
    """Runs in a fresh interpreter: write an n-label sheet PDF, print figures as JSON."""
    import tracemalloc

    cjk_font()
    label_png(next(infos(1, start=10**6)))  # fonts loaded, caches warm
    before = _proc_status()
    try:  # Linux: reset the peak-RSS mark, so the peak below is the writing's own
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        peak_reset = True
    except OSError:
        peak_reset = False
    if use_tracemalloc:
        tracemalloc.start()
    fd, path = tempfile.mkstemp(suffix=".pdf")
    t = time.perf_counter()
    with os.fdopen(fd, "wb") as f:
        pages = write_label_sheets_pdf(infos(n), f)
    dt = time.perf_counter() - t
    peak_py = tracemalloc.get_traced_memory()[1] if use_tracemalloc else None
    size = os.path.getsize(path)
    os.unlink(path)
    after = _proc_status()
    print(json.dumps({
        "labels": n, "pages": pages, "seconds": dt, "bytes": size,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kb": before.get("VmRSS"),
        "peak_during_kb": after.get("VmHWM") if peak_reset else None,
        "tracemalloc_peak": peak_py,
    }))


def run_child(n: int, use_tracemalloc: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n)] + (["--tracemalloc"] if use_tracemalloc else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def rate(fn, items) -> float:
    t = time.perf_counter()
    for it in items:
        fn(it)
    return len(items) / (time.perf_counter() - t)


def bare(url: str) -> None:
    qrcode.make(url).save(io.BytesIO())


def main() -> None:
    n_png = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    n_pdf = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    spec = cjk_font()
    print(f"font: {spec.name} ({spec.origin}) {spec.path}")

    # warm up both paths once (font loading, imports) on URLs not timed below
    t = time.perf_counter()
    png = label_png(next(infos(1, start=10**6)))
    print(f"first label, cold: {(time.perf_counter() - t) * 1000:.1f} ms, {len(png)} bytes PNG")
    bare(f"{BASE}/p/WARMUP")

    labels = list(infos(n_png))
    urls = [i.url for i in labels]
    bare_rates, label_rates = [], []
    for _ in range(3):  # interleaved rounds; the label cache of QR matrices is emptied each time
        bare_rates.append(rate(bare, urls))
        qr_matrix.cache_clear()
        label_rates.append(rate(label_png, labels))
    b, lab = statistics.median(bare_rates), statistics.median(label_rates)
    print(f"\n{n_png} URLs, median of 3 rounds")
    print(f"  bare qrcode.make(url).save(BytesIO): {b:7.1f} /s  ({1000 / b:.2f} ms each)")
    print(f"  label_png (60x40 mm, 300 dpi, RGB):  {lab:7.1f} /s  ({1000 / lab:.2f} ms each)")
    print(f"  ratio labels / bare: {lab / b:.2f}  (target >= 0.50)")

    print("\nA4 sheet PDF (3 x 8 labels, 300 dpi), each in a fresh subprocess")
    one = run_child(24)
    many = run_child(n_pdf)
    for r in (one, many):
        line = (f"  {r['labels']:5d} labels, {r['pages']:3d} page(s): {r['seconds']:6.2f} s "
                f"({r['labels'] / r['seconds']:.0f} labels/s), {r['bytes'] / 2**20:6.2f} MiB; "
                f"process peak RSS {r['maxrss_kb'] / 1024:.1f} MiB")
        if r["peak_during_kb"] is not None:
            line += (f"; while writing: peak {r['peak_during_kb'] / 1024:.1f} MiB = "
                     f"{(r['peak_during_kb'] - r['rss_before_kb']) / 1024:+.1f} MiB over the "
                     f"{r['rss_before_kb'] / 1024:.1f} MiB before")
        print(line)
    tm_one, tm_many = run_child(24, True), run_child(n_pdf, True)
    print(f"  tracemalloc peak of Python allocations while writing: "
          f"{tm_one['tracemalloc_peak'] / 2**20:.2f} MiB for 1 page, "
          f"{tm_many['tracemalloc_peak'] / 2**20:.2f} MiB for {tm_many['pages']} pages")
    page_px = (round(210 / 25.4 * 300), round(297 / 25.4 * 300))
    print(f"  for scale: one A4 page held as a 300 dpi image is {page_px[0]} x {page_px[1]} px = "
          f"{page_px[0] * page_px[1] / 2**20:.1f} MiB grey / {3 * page_px[0] * page_px[1] / 2**20:.1f}"
          f" MiB RGB; the whole {many['labels']}-label PDF is {many['bytes'] / 2**20:.1f} MiB")

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), "--tracemalloc" in sys.argv)
    else:
        main()
