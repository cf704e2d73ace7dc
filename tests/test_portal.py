"""The portal at work, through HTTP: dashboards, harvests and their refusals in plain words, the
batch page with its history and lineage, every form on a journey from plot to shelf, labels,
search, the administrator's and the regulator's pages, and the Chinese/English switch."""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from PIL import Image

from tests.conftest import t, uscc
from tests.test_portal_support import Portal, add_user, entry_of, last_event, log_size, text
from trace.db import read_session
from trace.domain.tables.batches import Package, PackageSecret

ROOT = Path(__file__).resolve().parents[1]
PEAR = "nanchangtan-soft-pear"


@pytest.fixture
def logins(svc, world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A login per party of the world, named after its role, and an administrator."""
    for role in ("grower", "grower2", "processor", "cold", "carrier", "retailer", "bureau"):
        add_user(svc, world[role], role)
    add_user(svc, None, "admin", is_admin=True)
    return {}


def as_(app: Any, username: str, lang: str = "zh") -> Portal:
    """A fresh browser-like client logged in as `username`."""
    p = Portal(app.test_client())
    p.get(f"/login?lang={lang}")
    p.login(username)
    return p


def harvest_form(world: dict[str, Any], **kw: str) -> dict[str, str]:
    return {"plot": str(world["plot"]), "product": PEAR, "quantity_kg": "800", "occurred_at": "2025-09-20T08:30", **kw}


# -- harvest -----------------------------------------------------------------------------------


def test_grower_registers_a_harvest(app, svc, world, logins) -> None:  # type: ignore[no-untyped-def]
    grower = as_(app, "grower")
    page = text(grower.get("/portal/harvest"))
    assert "南长滩村" in page and "景庄村" in page and "沙坡头村" not in page  # only its own plots
    size = log_size(svc)
    r = grower.post("/portal/harvest", harvest_form(world, quantity_kg="800.5"))
    assert r.status_code == 302
    rec = last_event(svc)
    assert log_size(svc) == size + 1 and rec["event"]["type"] == "harvest"
    assert rec["event"]["quantity_g"] == 800_500 and rec["event"]["occurred_at"] == "2025-09-20T00:30:00.000Z"
    page = text(grower.get(r.headers["Location"]))
    lot = rec["event"]["batch"]["lot"]
    assert f"采收已登记，批号 {lot}。" in page and "800.5 公斤" in page


@pytest.mark.parametrize(("lang", "form", "field", "words"), [
    ("zh", {"plot": "plot_out"}, "plot", "地块位于香山乡景庄村，不在南长滩软梨子的地理标志保护范围内。"),
    ("en", {"plot": "plot_out"}, "plot", "is outside the protected area of Nanchangtan soft pear"),
    ("zh", {"occurred_at": "2025-03-01T08:00"}, "occurred_at", "南长滩软梨子的采收期是9月、10月，3月不在采收期内。"),
    ("en", {"occurred_at": "2025-03-01T08:00"}, "occurred_at", "is harvested in months"),
    ("zh", {"quantity_kg": "25000"}, "quantity_kg", "超出产量上限：该地块10亩，本季最多 20000 公斤"),
    ("en", {"quantity_kg": "25000"}, "quantity_kg", "Over the yield ceiling: the 10 mu plot may yield at most 20000 kg"),
    ("zh", {"product": "shapotou-apple"}, "plot", "不在沙坡头苹果的地理标志保护范围内"),
    ("zh", {"plot": "plot2", "product": "shapotou-apple"}, "plot", "这不是本单位的地块。"),
    ("en", {"plot": "plot2", "product": "shapotou-apple"}, "plot", "This plot does not belong to your party."),
    ("zh", {"occurred_at": "2099-09-20T08:00"}, "occurred_at", "事件时间不能晚于现在。"),
])
def test_harvest_refusals_are_explained_next_to_the_field(app, world, logins, snapshot, lang, form, field, words) -> None:  # type: ignore[no-untyped-def]
    grower = as_(app, "grower", lang)
    data = harvest_form(world, **{k: str(world[v]) if k == "plot" else v for k, v in form.items()})
    before = snapshot()
    r = grower.post("/portal/harvest", data)
    assert r.status_code in (403, 409)
    page = text(r)
    m = re.search(rf'<p class="error" id="h-{field}-error" role="alert">([^<]*)</p>', page)
    assert m, f"no error next to {field}"
    assert words in m.group(1).replace("&#39;", "'")
    assert 'aria-invalid="true"' in page
    assert snapshot() == before
    # What was typed is kept, so the grower corrects one field rather than retyping all.
    assert 'value="' + data["quantity_kg"] + '"' in page


def test_harvest_yield_ceiling_counts_the_whole_season(app, svc, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    harvest(15_000)
    grower = as_(app, "grower", "en")
    r = grower.post("/portal/harvest", harvest_form(world, quantity_kg="6000"))
    assert r.status_code == 409 and "15000 kg are registered and this harvest is 6000 kg" in text(r)
    assert grower.post("/portal/harvest", harvest_form(world, quantity_kg="5000")).status_code == 302


# -- a whole journey through the forms -------------------------------------------------------------


def _batch_from(location: str) -> int:
    m = re.search(r"/portal/batch/(\d+)", location)
    assert m, location
    return int(m.group(1))


def test_a_journey_through_every_form(app, svc, world, logins) -> None:  # type: ignore[no-untyped-def]
    grower, proc, cold, retail, bureau = (as_(app, u) for u in ("grower", "processor", "cold", "retailer", "bureau"))

    def step(who: Portal, batch: int, action: str, data: dict[str, str], kind: str | None = None) -> Any:
        size = log_size(svc)
        r = who.act(batch, action, data)
        assert r.status_code == 302, f"{action}: {r.status_code} {text(r)[:2000]}"
        assert log_size(svc) == size + 1
        rec = last_event(svc)
        assert rec["event"]["type"] == (kind or action)
        return r

    r = grower.post("/portal/harvest", harvest_form(world, quantity_kg="1000"))
    b = _batch_from(r.headers["Location"])
    lot_b = last_event(svc)["event"]["batch"]["lot"]
    step(grower, b, "inspect", {"lab": "中卫市农产品质量检测站", "report_no": "NX-2025-0042", "passed": "yes",
                                "certificate_no": "CC2025001", "r0_name": "毒死蜱", "r0_value": "<0.01", "r0_limit": "0.02",
                                "r0_unit": "mg/kg", "r0_pass": "yes", "occurred_at": "2025-09-21T09:00"})
    assert last_event(svc)["event"]["results"] == [{"name": "毒死蜱", "value": "<0.01", "limit": "0.02", "unit": "mg/kg", "pass": True}]
    step(grower, b, "grade", {"grade": "特级", "occurred_at": "2025-09-21T10:00"})
    r = step(grower, b, "split", {"quantities": "600，300", "occurred_at": "2025-09-21T11:00"})
    kids = [c["id"] for c in last_event(svc)["event"]["children"]]
    assert [c["quantity_g"] for c in last_event(svc)["event"]["children"]] == [600_000, 300_000]
    step(grower, kids[0], "ship", {"to_party": str(world["processor"]), "vehicle": "宁E·12345", "occurred_at": "2025-09-22T08:00"})
    # The processor sees it arrive on its desk and receives it from there.
    desk = text(proc.get("/portal/"))
    assert "待接收" in desk and f'/portal/batch/{kids[0]}/receive' in desk
    step(proc, kids[0], "receive", {"occurred_at": "2025-09-22T12:00"})
    r = step(proc, kids[0], "process", {"input_kg": "100", "output_kg": "38", "form": "dried", "method": "自然晾晒",
                                         "occurred_at": "2025-09-23T08:00"})
    dried = _batch_from(r.headers["Location"])
    assert dried != kids[0]
    r = step(proc, kids[0], "pack", {"count": "10", "net_kg": "2.5", "occurred_at": "2025-09-24T08:00"})
    assert "#pack-" in r.headers["Location"]
    page = text(proc.get(f"/portal/batch/{kids[0]}"))
    assert "已包装 10 件，请在下方打印标签。" in page
    pack_entry = entry_of(svc, kids[0], "pack")
    assert f'id="pack-{pack_entry}"' in page and "labels.pdf?entry=" in page
    step(proc, kids[0], "store", {"facility": "加工厂冷库", "temperature_c": "1.5", "occurred_at": "2025-09-24T10:00"})
    step(proc, kids[0], "ship", {"to_party": str(world["cold"]), "occurred_at": "2025-09-24T12:00"})
    step(cold, kids[0], "receive", {})
    step(cold, kids[0], "store", {"facility": "迎水桥冷库 3 号库", "temperature_c": "0.5"})
    step(cold, kids[0], "ship", {"to_party": str(world["retailer"]), "vehicle": "宁E·54321"})
    step(retail, kids[0], "receive", {})
    step(retail, kids[0], "sell", {"packages": "3", "loose_kg": "10"})
    ev = last_event(svc)["event"]
    assert len(ev["packages"]) == 3 and ev["loose_g"] == 10_000
    step(retail, kids[0], "sell", {})  # empty: every unsold package
    assert len(last_event(svc)["event"]["packages"]) == 7
    # The grower corrects its grade; the bureau recalls the harvest and everything made from it.
    grade_entry = entry_of(svc, b, "grade")
    step(grower, b, "correct", {"target": str(grade_entry), "field": "grade", "value": "一级", "reason": "复核后降级"})
    r = step(bureau, b, "recall", {"level": "2", "reason": "抽检霉变超标"})
    assert set(last_event(svc)["event"]["affected"]) == {b, *kids, dried}
    # The whole history and lineage are on the batch pages.
    page = text(proc.get(f"/portal/batch/{kids[0]}"))
    for words in ("接收", "加工", "包装", "冷藏", "发运", "销售", "召回", "抽检霉变超标", "已召回", "10 件 × 2.5 公斤"):
        assert words in page, words
    assert f'href="/portal/batch/{dried}"' in page  # its child
    assert f"由被召回的批次 {lot_b} 制成" in page
    page = text(grower.get(f"/portal/batch/{b}"))
    assert f'href="/portal/batch/{kids[0]}"' in page and f'href="/portal/batch/{kids[1]}"' in page
    assert "已被更正" in page and "复核后降级" in page
    page = text(proc.get(f"/portal/batch/{dried}"))
    assert "干制" in page and f'href="/portal/batch/{kids[0]}"' in page  # its parent
    # Recalls reach the desks of those who handled the fruit, not of others: one line per recall,
    # naming the recalled lot and which of the reader's own batches it reached.
    recalls = text(proc.get("/portal/")).split('id="recalls"')[1].split("</section>")[0]
    assert "抽检霉变超标" in recalls and "共涉及 4 个批次" in recalls and recalls.count("<li>") == 1
    assert f'/portal/batch/{b}"' in recalls and "涉及本单位的批次" in recalls
    assert f'/portal/batch/{kids[0]}"' in recalls and f'/portal/batch/{dried}"' in recalls
    assert f'/portal/batch/{kids[1]}"' not in recalls  # the grower kept that one
    assert "抽检霉变超标" in text(retail.get("/portal/"))
    assert "抽检霉变超标" not in text(as_(app, "carrier").get("/portal/"))


def test_merge_two_batches(app, svc, tr, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    a, b = harvest(100), harvest(200)
    grower = as_(app, "grower")
    page = text(grower.get(f"/portal/batch/{a.id}"))
    assert f'name="with" value="{b.id}"' in page
    r = grower.act(a.id, "merge", {"with": str(b.id), f"qty_{a.id}": "100", f"qty_{b.id}": "150"})
    assert r.status_code == 302
    ev = last_event(svc)["event"]
    assert ev["type"] == "merge" and ev["child"]["quantity_g"] == 250_000
    child = _batch_from(r.headers["Location"])
    page = text(grower.get(f"/portal/batch/{child}"))
    assert f'href="/portal/batch/{a.id}"' in page and f'href="/portal/batch/{b.id}"' in page


# -- labels -----------------------------------------------------------------------------------------


def test_pack_then_download_labels_as_pdf_and_png(app, svc, tr, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np

    batch = harvest(100)
    grower = as_(app, "grower")
    assert grower.act(batch.id, "pack", {"count": "4", "net_kg": "2.5"}).status_code == 302
    entry = entry_of(svc, batch.id, "pack")
    for layout, pages in (("sheet", 1), ("roll", 4)):
        r = grower.get(f"/portal/batch/{batch.id}/labels.pdf?entry={entry}&layout={layout}")
        assert r.status_code == 200 and r.mimetype == "application/pdf"
        assert r.data.startswith(b"%PDF-") and r.data.rstrip().endswith(b"%%EOF")
        assert len(re.findall(rb"/Type\s*/Page\b", r.data)) == pages
        assert "attachment" in r.headers["Content-Disposition"] and r.headers["Cache-Control"] == "private, no-store"
    r = grower.get(f"/portal/batch/{batch.id}/labels?entry={entry}")
    assert r.headers["Cache-Control"] == "private, no-store"
    listing = text(r)
    with read_session(svc.engine) as s:
        rows = s.execute(
            PackageSecret.__table__.select().join(Package.__table__, Package.id == PackageSecret.package_id)
            .where(Package.batch_id == batch.id)).all()
    assert len(rows) == 4 and all(serial in listing for _, serial in rows)
    pid, serial = rows[0]
    r = grower.get(f"/portal/batch/{batch.id}/labels/{pid}.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.headers["Cache-Control"] == "private, no-store"
    img = np.array(Image.open(io.BytesIO(r.data)).convert("L"))
    url, _points, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert url == f"{app.config['TRACE_PUBLIC_URL']}/p/{serial}"  # the pear has no GTIN: the short form


def test_no_labels_for_a_recalled_or_failed_batch(app, svc, tr, world, logins, harvest, snapshot) -> None:  # type: ignore[no-untyped-def]
    batch = harvest(100)
    grower = as_(app, "grower", "en")
    grower.act(batch.id, "pack", {"count": "2", "net_kg": "1"})
    entry = entry_of(svc, batch.id, "pack")
    tr.recall(world["actors"]["bureau"], batch.id, reason="霉变")
    r = grower.get(f"/portal/batch/{batch.id}/labels.pdf?entry={entry}")
    assert r.status_code == 409 and "no labels are printed" in text(r)


# -- search -------------------------------------------------------------------------------------------


def test_search_by_lot_serial_short_serial_and_scanned_url(app, svc, tr, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    batch = harvest(100)
    (pkg, serial), *_ = tr.pack(world["actors"]["grower"], batch.id, count=2, net_g=1000)
    grower = as_(app, "grower")
    for q in (batch.lot_code, batch.lot_code.lower(), serial, serial.lower(), f"{serial[:4]}-{serial[4:]}", serial[-12:],
              f"…{serial[-12:-8]}-{serial[-8:-4]}-{serial[-4:]}", f"http://127.0.0.1:5000/p/{serial}"):
        r = grower.get(f"/portal/search?q={q}")
        assert r.status_code == 302 and f"/portal/batch/{batch.id}" in r.headers["Location"], q
    r = grower.get("/portal/search?q=PEAR-2025")
    assert r.status_code == 302  # one lot contains it: straight there
    r = grower.get("/portal/search?q=APL-2025-99999")
    assert r.status_code == 200 and "本单位的记录中没有这个批号或包装码。" in text(r)
    # Another party's lot is not found, as if it did not exist.
    other = as_(app, "carrier")
    assert "没有这个批号" in text(other.get(f"/portal/search?q={batch.lot_code}"))
    assert "没有这个批号" in text(other.get(f"/portal/search?q={serial}"))
    assert as_(app, "bureau").get(f"/portal/search?q={serial}").status_code == 302


# -- dashboards --------------------------------------------------------------------------------------


def test_dashboard_shows_custody_incoming_outgoing_and_recent(app, svc, tr, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    A = world["actors"]
    kept, sent = harvest(100), harvest(200)
    tr.ship(A["grower"], sent.id, to_party=world["processor"], occurred_at=t(9, 21))
    desk = text(as_(app, "grower").get("/portal/"))
    custody = desk.split('id="custody"')[1].split("</section>")[0]
    outgoing = desk.split('id="outgoing"')[1].split("</section>")[0]
    assert kept.lot_code in custody and sent.lot_code not in custody and sent.lot_code in outgoing
    assert "发运" in desk.split('id="recent"')[1]
    desk = text(as_(app, "processor").get("/portal/"))
    incoming = desk.split('id="incoming"')[1].split("</section>")[0]
    assert sent.lot_code in incoming and kept.lot_code not in desk
    desk = text(as_(app, "bureau").get("/portal/"))
    assert kept.lot_code in desk  # the bureau sees every recent event
    desk = text(as_(app, "admin").get("/portal/"))
    assert "/portal/users" in desk and "/portal/parties" in desk


# -- administration and the credit list ---------------------------------------------------------------


def test_admin_creates_a_party_a_user_and_a_plot_in_the_ui(app, svc, world, logins) -> None:  # type: ignore[no-untyped-def]
    admin = as_(app, "admin")
    r = admin.post("/portal/parties", {"kind": "grower", "name": "红泉村合作社", "uscc": uscc(321), "township": "香山乡",
                                       "phone": "0955-7000000", "address": "香山乡红泉村", "gi_logo": "yes"})
    assert r.status_code == 302
    party = last_event(svc)["event"]["party"]
    assert (party["name"], party["kind"], party["gi_logo"]) == ("红泉村合作社", "grower", True)
    assert "0955" not in str(last_event(svc))  # contact details stay out of the public log
    r = admin.post("/portal/users", {"form": "create", "party": str(party["id"]), "username": "hongquan",
                                     "password": "红泉村的软梨子最甜了"})
    assert r.status_code == 302
    r = admin.post("/portal/plots", {"party": str(party["id"]), "township": "香山乡", "village": "红泉村", "area_mu": "6.5"})
    assert r.status_code == 302 and last_event(svc)["event"]["plot"]["area_centimu"] == 650
    page = text(admin.get("/portal/users"))
    assert "hongquan" in page and "种植户/合作社" in page
    newcomer = Portal(app.test_client())
    newcomer.get("/login")
    newcomer.login("hongquan", "红泉村的软梨子最甜了")
    assert "红泉村合作社" in text(newcomer.get("/portal/")) and "登记采收" in text(newcomer.get("/portal/"))
    # A reset sets a new password and lifts a lock.
    r = admin.post("/portal/users", {"form": "reset", "username": "hongquan", "new": "another long password"})
    assert r.status_code == 302
    Portal(app.test_client()).login("hongquan", "another long password")


def test_regulator_sets_credit_status(app, svc, world, logins) -> None:  # type: ignore[no-untyped-def]
    bureau = as_(app, "bureau")
    page = text(bureau.get("/portal/parties"))
    assert f'id="f-credit-{world["grower2"]}"' in page
    r = bureau.post(f"/portal/parties/{world['grower2']}/credit", {"status": "black", "reason": "伪造产地证明"})
    assert r.status_code == 302
    ev = last_event(svc)["event"]
    assert (ev["type"], ev["party_id"], ev["status"]) == ("party.credit", world["grower2"], "black")
    assert "伪造产地证明" in text(bureau.get("/portal/parties"))
    desk = text(as_(app, "grower2").get("/portal/"))
    assert "黑名单" in desk
    # A black-listed grower cannot register a harvest: said in plain words.
    r = as_(app, "grower2").post("/portal/harvest", {"plot": str(world["plot2"]), "product": "shapotou-apple",
                                                      "quantity_kg": "10", "occurred_at": "2025-09-20T08:00"})
    assert r.status_code == 409 and "黑名单" in text(r)
    page = text(as_(app, "admin").get("/portal/parties"))
    assert "f-credit-" not in page  # administrators keep the register, regulators the credit list


# -- languages and pages ----------------------------------------------------------------------------------


def test_chinese_first_english_on_request_and_remembered(app, world, logins) -> None:  # type: ignore[no-untyped-def]
    p = Portal(app.test_client())
    r = p.get("/login")
    assert '<html lang="zh-CN">' in text(r) and "登录追溯工作平台" in text(r)
    r = p.get("/login?lang=en")
    assert "Log in to the traceability portal" in text(r)
    p.login("grower")
    page = text(p.get("/portal/"))
    assert "In your custody" in page and "本单位保管的批次" not in page  # kept across the login
    page = text(p.get("/portal/?lang=zh"))
    assert "本单位保管的批次" in page


def test_every_portal_string_is_translated() -> None:
    """Each msgid of the portal's templates and views has a Chinese translation in the catalogue."""
    parts = {}
    with (ROOT / "trace" / "translations" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        for m in read_po(f, locale="zh"):
            if m.id and m.string:
                parts[m.id if isinstance(m.id, str) else m.id[0]] = m.string
    method_map = [("trace/web/portal/**.py", "python"), ("trace/web/auth.py", "python"),
                  ("templates/portal/**.html", "jinja2"), ("templates/auth/**.html", "jinja2")]
    found = []
    for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(ROOT), method_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}):
        found.append(message if isinstance(message, str) else message[0])
    assert len(found) > 150
    missing = sorted({m for m in found if m not in parts})
    assert not missing, missing


def test_get_of_a_form_address_goes_back_to_the_batch(app, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    """After a refused post the page's address is the form's; switching language there must work."""
    batch = harvest(100)
    grower = as_(app, "grower")
    r = grower.act(batch.id, "grade", {"grade": ""})
    assert r.status_code == 400
    r = grower.get(f"/portal/batch/{batch.id}/grade?lang=en")
    assert r.status_code == 302 and r.headers["Location"] == f"/portal/batch/{batch.id}?lang=en"
    assert "Record what you did" in text(grower.get(r.headers["Location"]))


def test_pages_are_made_for_phones(app, world, logins, harvest) -> None:  # type: ignore[no-untyped-def]
    batch = harvest(100)
    grower = as_(app, "grower")
    page = text(grower.get(f"/portal/batch/{batch.id}"))
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "/static/portal.css" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from a CDN
    css = (ROOT / "static" / "portal.css").read_text()
    assert "@media" in css and "font-size: 16px" in css and "@import" not in css and "url(" not in css
