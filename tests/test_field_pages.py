"""The field end through HTTP: what the consumer's page says of the plot's season, the product's
registration, certificates, certifications, late entries and the GI badge (and never of people);
the printed package code verifies; the portal's farming records, certificates (true bases only,
PDF and PNG read back by a real QR decoder), the bureau's registers, persons, and dates on every
form."""
from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import t
from tests.test_portal_support import Portal, add_user, last_event, log_size, text
from trace.db import read_session
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.identifiers import id_check_char, normalize_serial
from trace.domain.queries.labels import label_infos
from trace.labels import label_fields, printed_code
from trace.labels.render import VERIFY_WORDS

PEAR = "nanchangtan-soft-pear"


@pytest.fixture
def logins(svc, world) -> None:  # type: ignore[no-untyped-def]
    """A login per party of the world, named after its role, and an administrator."""
    for role in ("grower", "grower2", "processor", "cold", "carrier", "retailer", "bureau"):
        add_user(svc, world[role], role)
    add_user(svc, None, "admin", is_admin=True)


def as_(app: Any, username: str, lang: str = "zh") -> Portal:
    p = Portal(app.test_client())
    p.get(f"/login?lang={lang}")
    p.login(username)
    return p


def page_of(client: Any, url: str) -> str:
    return client.get(url).get_data(as_text=True)


def qr(png: bytes) -> str:
    arr = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    found, _, _ = cv2.QRCodeDetector().detectAndDecode(arr)
    return found or cv2.QRCodeDetectorAruco().detectAndDecode(arr)[0]


def season(tr: Trace, w: dict[str, Any]) -> dict[str, Any]:
    """A pear plot's season, a harvest with its certificate, a package packed by the grower."""
    a = w["actors"]
    tr.run("pesticide.define", SYSTEM, {"reg_no": "PD20080123", "name": "吡虫啉", "active_ingredient": "imidacloprid 10%",
                                        "intervals": [[PEAR, 14]]})
    tr.run("farm.spray", a["grower"], {"plot": w["plot"], "product": PEAR, "pesticide": "PD20080123", "dose": "3000倍液",
                                       "area_mu": "10", "target": "梨木虱", "operator": "王小强", "occurred_at": t(9, 1)})
    tr.run("farm.fertilise", a["grower"], {"plot": w["plot"], "name": "腐熟羊粪", "amount_g_per_mu": 1_500_000, "area_mu": "10",
                                           "occurred_at": t(4, 2)})
    tr.run("certification.add", a["grower"], {"party": w["grower"], "scheme": "green_food", "number": "LB-2025-0001",
                                              "issuer": "中国绿色食品发展中心", "scope": "梨", "valid_from": "2024-01-01",
                                              "valid_until": "2026-12-31"})
    b = tr.register_harvest(a["grower"], plot_id=w["plot"], product_id=PEAR, quantity_g=100_000, occurred_at=t(9, 20))
    tr.run("certificate.issue", a["grower"], {"batch": b.id, "basis": "control", "occurred_at": t(9, 20, 12)})
    (pkg, serial), = tr.pack(a["grower"], b.id, count=1, net_g=2500, shelf_life_days=60, occurred_at=t(9, 21))
    return {"batch": b, "serial": serial, "package": pkg}


# -- the consumer's page ------------------------------------------------------------------------------


def test_the_page_gives_the_plots_season_certificates_and_registration(client, tr, world, svc) -> None:
    s = season(tr, world)
    page = page_of(client, f"/p/{s['serial']}")
    for fact in ("吡虫啉", "PD20080123", "2025-09-01", ">19<", "最后一次施药距采收 19 天", "腐熟羊粪", "每亩 1,500 kg",
                 "LB-2025-0001", "承诺达标合格证", "HG2025-000001", "质量安全控制", "AGI01791"):
        assert fact in page, fact
    assert page.count("未查到") >= 3  # the registration's type, holder, date and specification are not known here
    assert "王小强" not in page  # nobody who worked the plot is named
    data = client.get(f"/p/{s['serial']}", headers={"Accept": "application/json"}).json
    assert data["field"]["seasons"][0]["last_spray_days"] == 19 and data["field"]["certificates"][0]["basis"] == "control"
    assert "王小强" not in json.dumps(data, ensure_ascii=False)


def test_the_gi_badge_shows_for_an_authorised_packer_only(client, tr, world) -> None:
    s = season(tr, world)
    badge = '<span class="tag gi">地理标志产品</span>'
    page = page_of(client, f"/p/{s['serial']}")
    assert badge not in page and "包装者不是地理标志专用标志的合法使用人" in page
    tr.run("gi.authorise", world["actors"]["bureau"], {"party": world["grower"], "product": PEAR, "announcement": "公告 2025-1",
                                                       "valid_from": "2025-01-01"})
    (_pkg, serial), = tr.pack(world["actors"]["grower"], s["batch"].id, count=1, net_g=2500, occurred_at=t(9, 22))
    assert badge in page_of(client, f"/p/{serial}")
    assert badge not in page_of(client, f"/p/{s['serial']}")  # packed before the authorisation


def test_a_late_entry_is_marked_on_the_page(client, tr, world, svc) -> None:
    s = season(tr, world)
    later = Trace(svc.engine, svc.ledger, clock=lambda: datetime(2025, 9, 24, 2, tzinfo=UTC))  # two days after
    later.store(world["actors"]["grower"], s["batch"].id, facility="地窖", temperature_c="2", occurred_at=t(9, 22))
    page = client.get(f"/p/{s['serial']}").get_data(as_text=True)
    steps = re.findall(r'<li class="step step-(\w+)" id="entry-\d+">\s*<p class="when">.*?</h3>', page, re.S)
    assert len(steps) >= 3
    marked = re.findall(r'<li class="step step-(\w+)" id="entry-\d+">(?:(?!</li>).)*?补录', page, re.S)
    assert marked == ["store"]


def test_a_household_is_never_named_on_the_page(client, tr, world) -> None:
    body = "64050219680315271"
    person = tr.run("party.register", SYSTEM, {"kind": "grower", "form": "person", "name": "马建国",
                                               "id_number": body + id_check_char(body)}).event.party.id
    plot = tr.register_plot(SYSTEM, party_id=person, township="香山乡", village="南长滩村", area_mu="6")
    b = tr.register_harvest(Actor(None, person), plot_id=plot, product_id=PEAR, quantity_g=50_000, occurred_at=t(9, 20))
    page = page_of(client, f"/lot/{b.lot_code}")
    assert "个体农户" in page and "马**" not in page and "马建国" not in page and body not in page


def test_the_printed_package_code_verifies(client, tr, world, svc) -> None:
    s = season(tr, world)
    with read_session(svc.engine) as db:
        (label,) = label_infos(db, "http://127.0.0.1:5000", s["batch"].lot_code)
    words = dict(label_fields(label))
    assert words["产地 Origin"] == "香山乡南长滩村" and words["保质期 Shelf life"] == "60 天 days"
    assert words["生产者 Producer"] == "南长滩合作社" and words["包装日期 Packed"] == "2025-09-21" and VERIFY_WORDS == "扫码验真"
    code = printed_code(label.serial)
    assert re.fullmatch(r"([0-9A-Z]{4} ){4}[0-9A-Z]{4}", code) and normalize_serial(code) == s["serial"]
    for typed in (code, code.replace(" ", ""), code.lower(), code.replace(" ", "-")):
        r = client.get("/verify", query_string={"code": typed})
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/p/{s['serial']}"), typed
        assert client.get(r.headers["Location"]).status_code == 200


# -- the portal -----------------------------------------------------------------------------------------


def test_a_grower_keeps_its_plots_records_in_the_portal(app, svc, world, logins, tr) -> None:
    tr.run("pesticide.define", SYSTEM, {"reg_no": "PD20080123", "name": "吡虫啉", "active_ingredient": "imidacloprid",
                                        "intervals": [[PEAR, 14]]})
    grower = as_(app, "grower")
    page = text(grower.get(f"/portal/plots/{world['plot']}"))
    assert "吡虫啉" in page and 'id="f-spray"' in page
    size = log_size(svc)
    r = grower.post(f"/portal/plots/{world['plot']}/spray", {"product": PEAR, "pesticide": "PD20080123", "dose": "3000倍液",
                                                             "area_mu": "10", "operator": "王小强", "occurred_at": "2025-09-10T08:00"})
    assert r.status_code == 302 and log_size(svc) == size + 1 and last_event(svc)["event"]["type"] == "farm.spray"
    page = text(grower.get(f"/portal/plots/{world['plot']}"))
    assert "王小强" in page  # the grower sees its operator; the log and the public never do
    r = grower.post(f"/portal/plots/{world['plot']}/fertilise", {"name": "有机肥", "amount_kg_per_mu": "abc", "area_mu": "1"})
    assert r.status_code == 400 and log_size(svc) == size + 1
    # the harvest form says why a harvest is refused, and writes nothing
    r = grower.post("/portal/harvest", {"plot": str(world["plot"]), "product": PEAR, "quantity_kg": "100",
                                        "occurred_at": "2025-09-20T08:00"})
    assert r.status_code == 409 and log_size(svc) == size + 1
    assert "安全间隔期为 14 天，2025-09-24 起方可采收" in text(r)
    other = as_(app, "grower2")
    assert other.get(f"/portal/plots/{world['plot']}").status_code == 403
    r = other.post(f"/portal/plots/{world['plot']}/work", {"kind": "prune"})
    assert r.status_code == 403 and log_size(svc) == size + 1


def test_the_certificate_form_offers_only_the_true_bases_and_prints(app, svc, world, logins, tr) -> None:
    b = tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=100_000,
                            occurred_at=t(9, 20))
    grower = as_(app, "grower")
    page = text(grower.get(f"/portal/batch/{b.id}"))
    form = page[page.index('id="f-certificate"'):]
    form = form[:form.index("</form>")]
    assert re.findall(r'<option value="(\w+)"', form) == ["control"]
    assert grower.get(f"/portal/batch/{b.id}/certificate.pdf").status_code == 404  # none yet
    r = grower.post(f"/portal/batch/{b.id}/certificate", {"basis": "commissioned_test"})
    assert r.status_code == 409 and "官方检测" in text(r)
    r = grower.post(f"/portal/batch/{b.id}/certificate", {"basis": "control", "occurred_at": "2025-09-20T12:00"})
    assert r.status_code == 302 and last_event(svc)["event"]["type"] == "certificate.issue"
    png = grower.get(f"/portal/batch/{b.id}/certificate.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert qr(png.data) == f"http://127.0.0.1:5000/lot/{b.lot_code}"
    pdf = grower.get(f"/portal/batch/{b.id}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert as_(app, "grower2").get(f"/portal/batch/{b.id}/certificate.png").status_code == 403  # not its batch


def test_every_receipt_has_its_date_field(app, svc, world, logins, tr) -> None:
    b = tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=100_000,
                            occurred_at=t(9, 20))
    tr.ship(world["actors"]["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 21))
    proc = as_(app, "processor")
    desk = text(proc.get("/portal/"))
    form = desk[desk.index(f'/portal/batch/{b.id}/receive'):]
    assert 'name="occurred_at"' in form[:form.index("</form>")]
    r = proc.post(f"/portal/batch/{b.id}/receive", {"occurred_at": "2025-09-21T15:30"})
    assert r.status_code == 302 and last_event(svc)["event"]["occurred_at"] == "2025-09-21T07:30:00.000Z"


def test_the_bureaus_registers(app, svc, world, logins) -> None:
    bureau = as_(app, "bureau")
    assert "名录与预警" in text(bureau.get("/portal/registers"))
    r = bureau.post("/portal/registers/divisions", {"shipped": "yes"})
    assert r.status_code == 302 and last_event(svc)["event"]["type"] == "division.define"
    r = bureau.post("/portal/registers/pesticide", {"reg_no": "pd19990001", "name": "甲胺磷", "active_ingredient": "methamidophos",
                                                    "banned": "yes"})
    assert r.status_code == 302 and last_event(svc)["event"]["pesticide"] == {
        "reg_no": "PD19990001", "name": "甲胺磷", "active_ingredient": "methamidophos", "intervals": [], "banned": True}
    r = bureau.post("/portal/registers/pesticide", {"reg_no": "PD20080123", "name": "吡虫啉", "active_ingredient": "x",
                                                    "intervals": "no-such-fruit 14"})
    assert r.status_code == 404 and "no-such-fruit" in text(r)
    r = bureau.post("/portal/registers/authorise", {"party": str(world["processor"]), "product": PEAR, "announcement": "公告 1",
                                                    "valid_from": "2025-01-01"})
    assert r.status_code == 302
    assert as_(app, "grower").get("/portal/registers").status_code == 403
    r = as_(app, "grower").post("/portal/registers/pesticide", {"reg_no": "PD20080124", "name": "x", "active_ingredient": "x"})
    assert r.status_code == 403


def test_the_register_takes_a_person_and_shows_only_four_characters(app, svc, world, logins) -> None:
    admin = as_(app, "admin")
    body = "64050219680315271"
    number = body + id_check_char(body)
    r = admin.post("/portal/parties", {"kind": "grower", "form": "person", "name": "马建国", "id_number": number, "township": "香山乡"})
    assert r.status_code == 302
    page = text(admin.get("/portal/parties"))
    assert "马**" in page and number[-4:] in page and number not in page
    r = admin.post("/portal/parties", {"kind": "grower", "form": "person", "name": "张三", "id_number": body + "0"})
    assert r.status_code == 400 and "校验码" in text(r)
