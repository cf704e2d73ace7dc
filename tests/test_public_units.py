"""Units of the public pages that need no database: codes, URLs, scan marks, rate limits,
formatting, and the Chinese catalog of the public pages."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from trace.domain.errors import InvalidInput
from trace.domain.identifiers import (
    check_lot,
    gtin_check_digit,
    lot_path,
    new_serial,
    normalize_gtin,
    normalize_serial,
    package_path,
    package_url,
)
from trace.domain.scans import client_mark
from trace.web.public_limits import LookupLimiter, TokenBuckets, client_address
from trace.web.public_pages import weight

ROOT = Path(__file__).resolve().parents[1]


def test_serials_normalise_like_crockford_base32() -> None:
    s = new_serial()
    assert normalize_serial(s) == s
    assert normalize_serial(s.lower()) == s
    assert normalize_serial("-".join(s[i:i + 4] for i in range(0, 20, 4))) == s
    assert normalize_serial("0O1IL" + "A" * 15) == "00111" + "A" * 15  # look-alikes as Crockford reads them
    for bad in ("", "A" * 19, "A" * 21, "U" * 20, "A" * 19 + "!", "沙" * 20, None):
        with pytest.raises(InvalidInput) as err:
            normalize_serial(bad)  # type: ignore[arg-type]
        assert err.value.field == "serial" and err.value.zh and err.value.en


def test_gtins_are_padded_and_check_digits_verified() -> None:
    assert normalize_gtin("06901234567892") == "06901234567892"
    assert normalize_gtin("6901234567892") == "06901234567892"  # GTIN-13
    body = "9638507"
    assert normalize_gtin(body + gtin_check_digit(body)) == "000000" + body + gtin_check_digit(body)  # GTIN-8
    for bad in ("06901234567891", "123", "0690123456789X", "１２３４５６７８９０１２３４", "１２３４５６７８９０１２３１", "0" * 15):
        with pytest.raises(InvalidInput) as err:
            normalize_gtin(bad)
        assert err.value.field == "gtin"


def test_lots_keep_to_uri_safe_characters() -> None:
    assert check_lot("APL-2025-00042") == "APL-2025-00042"
    for bad in ("", "a b", "a/b", "a.b", "x" * 21, "批号", "%41"):
        with pytest.raises(InvalidInput):
            check_lot(bad)


def test_urls_follow_gs1_digital_link_when_there_is_a_gtin() -> None:
    s = "0123456789ABCDEFGHJK"
    assert package_path(s, "06901234567892", "APL-2025-00001") == f"/01/06901234567892/10/APL-2025-00001/21/{s}"
    assert package_path(s, None, "PEAR-2025-00001") == f"/p/{s}"
    assert package_url("https://t.example/", s, None, "X") == f"https://t.example/p/{s}"
    assert lot_path("APL-1", "06901234567892") == "/01/06901234567892/10/APL-1"
    assert lot_path("PEAR-1", None) == "/lot/PEAR-1"


def test_client_marks_are_coarse_salted_and_daily() -> None:
    day = datetime(2025, 10, 1, 4, tzinfo=UTC)
    key = b"k" * 32
    m = client_mark(key, "203.0.113.5", day)
    assert re.fullmatch(r"[0-9a-f]{4}", m)
    assert client_mark(key, "203.0.113.200", day) == m  # the same /24
    assert client_mark(key, "2001:db8:1:2::1", day) == client_mark(key, "2001:db8:1:ffff::9", day)  # the same /48
    others = {client_mark(key, f"198.51.{n}.1", day) for n in range(50)}
    assert len(others) > 40  # distinct networks mostly differ (16 bits: rare collisions are fine)
    assert client_mark(key, "203.0.113.5", day + timedelta(days=1)) != m or client_mark(key, "203.0.113.5", day + timedelta(days=2)) != m
    assert client_mark(b"other key" * 4, "203.0.113.5", day) != m or client_mark(b"third" * 7, "203.0.113.5", day) != m
    assert client_mark(key, "not an address", day)  # never an exception


def test_token_buckets_refill_and_forget() -> None:
    now = [0.0]
    b = TokenBuckets(3, 1.0, clock=lambda: now[0], max_clients=10)
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a") == pytest.approx(1.0)
    assert b.take("b") == 0.0  # per client
    now[0] = 1.5
    assert b.take("a") == 0.0 and b.take("a") > 0
    for n in range(50):  # a flood of addresses stays bounded
        b.take(f"flood-{n}")
    assert len(b._state) <= 10
    with pytest.raises(ValueError):
        TokenBuckets(0, 1)


def test_lookup_limiter_blocks_after_misses_until_refilled() -> None:
    now = [0.0]
    lim = LookupLimiter((100, 10.0), (2, 1 / 60), clock=lambda: now[0])
    assert lim.check("x") == 0
    lim.miss("x")
    lim.miss("x")
    assert lim.check("x") == 60 and lim.check("y") == 0
    now[0] = 61
    assert lim.check("x") == 0
    assert LookupLimiter(None, None).check("x") == 0  # both can be switched off


def test_client_address_trusts_only_the_configured_proxies() -> None:
    assert client_address("10.0.0.1", "1.2.3.4", 0) == "10.0.0.1"
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"  # the forged first hop is ignored
    assert client_address("10.0.0.1", "1.2.3.4, 10.0.0.2", 2) == "1.2.3.4"
    assert client_address("10.0.0.1", "", 1) == "10.0.0.1"
    assert client_address(None, None, 0) == "unknown"


def test_weights_without_floats() -> None:
    assert [weight(g) for g in (None, 500, 1000, 2500, 5125, 1_234_567, 12_000_000, 12_500_000)] == [
        "", "500 g", "1 kg", "2.5 kg", "5.125 kg", "1,234.567 kg", "12 t", "12.5 t"]


def _msgids(text: str) -> set[str]:
    ids = set()
    for m in re.finditer(r'''_\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+|'(?:[^'\\]|\\.)*')''', text):
        ids.add("".join(eval(x) for x in re.findall(r'''"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*\'''', m.group(1))))  # noqa: S307
    return ids


def test_every_public_string_has_chinese_with_the_same_placeholders() -> None:
    with (ROOT / "trace/translations/zh/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = {m.id: m.string for m in read_po(f) if m.id}
    sources = [*sorted((ROOT / "templates/public").glob("*.html")), ROOT / "trace/web/public_pages.py"]
    wanted = set().union(*(_msgids(p.read_text(encoding="utf-8")) for p in sources))
    assert len(wanted) > 80
    missing = sorted(w for w in wanted if not catalog.get(w))
    assert not missing, missing
    for msgid in wanted:
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", catalog[msgid])), msgid
        assert re.search(r"[\u4e00-\u9fff]", catalog[msgid]) or msgid in ("English",), msgid


def test_browser_harness_fails_rather_than_skips_without_chromium() -> None:
    from tests.browser import _require

    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium chromium-driver"):
        _require("/nonexistent/chromium", "chromium")
    _require("/bin/sh", "chromium")  # present: no failure
