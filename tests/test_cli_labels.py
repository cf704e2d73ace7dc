"""`flask --app trace packages` and `labels`: the lines other tools parse, and labels a real QR
decoder (Debian's zbarimg) reads back to exactly the package URL."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import t
from tests.test_public_page import GTIN, apple_journey, pear_package

URL_LINE = re.compile(r"^(http://127\.0\.0\.1:5000/(?:01/\d{14}/10/[A-Za-z0-9-]+/21/|p/)[0-9A-HJKMNP-TV-Z]{20})\t([A-Za-z0-9-]+)$")


def zbar(path: Path) -> list[str]:
    """Every QR code zbarimg finds in an image, as text."""
    exe = shutil.which("zbarimg")
    if exe is None:
        pytest.fail("zbarimg is missing: apt-get install -y zbar-tools", pytrace=False)
    out = subprocess.run([exe, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
                         capture_output=True, text=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line]


def test_packages_prints_url_tab_lot(runner, tr, world) -> None:
    j = apple_journey(tr, world)
    b, pear_serial = pear_package(tr, world)
    result = runner.invoke(args=["packages"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 + 2 + 1  # both apple lots and the pear
    parsed = [URL_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert parsed[0].group(1) == f"http://127.0.0.1:5000/01/{GTIN}/10/{j['lot']}/21/{j['serials'][0]}"
    assert parsed[0].group(2) == j["lot"]
    assert f"http://127.0.0.1:5000/p/{pear_serial}\t{b.lot_code}" in lines

    result = runner.invoke(args=["packages", "--lot", j["lot"]])
    assert result.exit_code == 0 and [line.split("\t")[1] for line in result.output.splitlines()] == [j["lot"]] * 3
    result = runner.invoke(args=["packages", "--limit", "2"])
    assert result.exit_code == 0 and result.output.splitlines() == lines[:2]

    result = runner.invoke(args=["packages", "--lot", "APL-2025-99999"])
    assert result.exit_code == 1 and "There is no lot APL-2025-99999" in result.output
    result = runner.invoke(args=["packages", "--lot", "a b/c"])
    assert result.exit_code == 1 and "not a valid lot code" in result.output
    result = runner.invoke(args=["packages", "--limit", "0"])
    assert result.exit_code == 2 and "--limit" in result.output


def test_packages_uses_the_public_base_url(tr, world, app) -> None:
    pear_package(tr, world)
    app.config["TRACE_PUBLIC_URL"] = "https://trace.example.cn"
    result = app.test_cli_runner().invoke(args=["packages"])
    assert result.output.startswith("https://trace.example.cn/p/")


def test_labels_writes_a_png_per_package_and_the_pdf_sheets(runner, tr, world, tmp_path: Path) -> None:
    j = apple_journey(tr, world)
    urls = [line.split("\t")[0] for line in runner.invoke(args=["packages", "--lot", j["lot"]]).output.splitlines()]
    out = tmp_path / "labels"
    result = runner.invoke(args=["labels", "--lot", j["lot"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob(f"{j['lot']}_*.png"))
    labels = [p for p in pngs if "certificate" not in p.name]
    assert [p.name for p in labels] == [f"{j['lot']}_{n}.png" for n in (1, 2, 3)]
    for png, url in zip(labels, urls, strict=True):
        with Image.open(png) as im:
            assert im.mode == "RGB" and im.size == (709, 472)  # 60 x 40 mm at 300 dpi, opaque
        assert zbar(png) == [url]
    sheets = out / f"{j['lot']}_labels_A4_3x8.pdf"
    thermal = out / f"{j['lot']}_labels_60x40mm.pdf"
    assert sheets.read_bytes().startswith(b"%PDF-") and thermal.read_bytes().startswith(b"%PDF-")
    # A page of the sheet PDF, rasterised by poppler, decodes to all three URLs.
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm is missing: apt-get install -y poppler-utils", pytrace=False)
    subprocess.run([pdftoppm, "-r", "200", "-gray", "-png", "-f", "1", "-l", "1", str(sheets), str(tmp_path / "page")],
                   check=True, timeout=60)
    page, = tmp_path.glob("page*.png")
    assert sorted(zbar(page)) == sorted(urls)
    # The certificate of conformity of the lot: its QR code opens the lot's page.
    cert = out / f"{j['lot']}_certificate.png"
    assert zbar(cert) == [f"http://127.0.0.1:5000/01/{GTIN}/10/{j['lot']}"]
    assert (out / f"{j['lot']}_certificate.pdf").read_bytes().startswith(b"%PDF-")
    assert "3 labels" in result.output and not list(out.glob("*.part"))


def test_labels_refuses_bad_lots_clearly(runner, tr, world, tmp_path: Path) -> None:
    j = apple_journey(tr, world)
    for args, message in (
        (["--lot", "APL-2025-99999"], "There is no lot APL-2025-99999"),
        (["--lot", "../etc"], "not a valid lot code"),
        (["--lot", j["batch"].lot_code], "has no packages yet"),  # the parent lot was split, not packed
    ):
        result = runner.invoke(args=["labels", *args, "--out", str(tmp_path / "x")])
        assert result.exit_code == 1 and message in result.output, result.output
    tr.recall(world["actors"]["bureau"], j["batch"].id, reason="霉变", occurred_at=t(10, 2))
    result = runner.invoke(args=["labels", "--lot", j["lot"], "--out", str(tmp_path / "y")])
    assert result.exit_code == 1 and "recalled" in result.output
    assert not os.path.exists(tmp_path / "y")
    result = runner.invoke(args=["labels", "--lot", j["lot"]])
    assert result.exit_code == 2 and "--out" in result.output
