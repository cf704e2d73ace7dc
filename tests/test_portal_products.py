"""Regulators keep the GI catalogue in the portal: a product or an area changes without a code change."""
from __future__ import annotations

from tests.conftest import t
from tests.test_portal_support import Portal, add_user
from trace.db import read_session
from trace.domain.tables.catalogue import Product

PEAR = {"id": "nanchangtan-soft-pear", "name_zh": "南长滩软梨子", "name_en": "Nanchangtan soft pear", "gi_ref": "AGI01791",
        "gtin": "", "lot_prefix": "PEAR", "harvest_months": "9，10", "yield_kg_per_mu": "2000",
        "area": "香山乡 南长滩村\r\n香山乡 北长滩村\r\n香山乡　景庄村\r\n"}


def test_regulator_extends_the_area_and_the_harvest_is_then_accepted(client, svc, tr, world, snapshot) -> None:
    add_user(svc, world["bureau"], "amr")
    portal = Portal(client)
    portal.login("amr")
    page = portal.get("/portal/products")
    assert page.status_code == 200 and "南长滩软梨子" in page.get_data(as_text=True) and 'id="f-product"' in page.get_data(as_text=True)
    r = portal.post("/portal/products", PEAR)
    assert r.status_code == 302
    with read_session(svc.engine) as s:
        pear = s.get_one(Product, "nanchangtan-soft-pear")
        assert pear.allows("香山乡", "景庄村") and pear.months == [9, 10] and pear.yield_g_per_mu == 2_000_000
    tr.register_harvest(world["actors"]["grower"], plot_id=world["plot_out"], product_id="nanchangtan-soft-pear",
                        quantity_g=1000, occurred_at=t(9, 20))
    # a new product is a row too
    r = portal.post("/portal/products", {**PEAR, "id": "ningxia-goji", "name_zh": "宁夏枸杞", "name_en": "Ningxia goji",
                                         "lot_prefix": "GOJI", "gi_ref": "", "harvest_months": "6 7 8", "area": "常乐镇 *"})
    assert r.status_code == 302
    with read_session(svc.engine) as s:
        assert s.get_one(Product, "ningxia-goji").allows("常乐镇", "任何村")


def test_only_regulators_change_the_catalogue(client, svc, world, snapshot) -> None:
    add_user(svc, world["grower"], "coop")
    portal = Portal(client)
    portal.login("coop")
    page = portal.get("/portal/products").get_data(as_text=True)
    assert "南长滩软梨子" in page and 'id="f-product"' not in page  # grower reads, has no form
    before = snapshot()
    r = portal.post("/portal/products", PEAR)  # a direct POST the UI never offers
    assert r.status_code == 403
    assert snapshot() == before


def test_bad_catalogue_input_is_explained_and_writes_nothing(client, svc, world, snapshot) -> None:
    add_user(svc, world["bureau"], "amr")
    portal = Portal(client)
    portal.login("amr")
    before = snapshot()
    cases = [({"harvest_months": "13"}, "Harvest months must be between 1 and 12"),
             ({"harvest_months": "九月"}, "Harvest months must be numbers"),
             ({"area": "香山乡\r\n"}, "Line 1 of the protected area"),
             ({"area": ""}, "The protected area cannot be empty"),
             ({"gtin": "06901234567890"}, "check digit"),
             ({"yield_kg_per_mu": "-5"}, "cannot be negative"),
             ({"lot_prefix": "APL"}, "Lot prefix APL is used by shapotou-apple")]
    for change, message in cases:
        r = portal.post("/portal/products?lang=en", {**PEAR, **change})
        assert r.status_code in (400, 409), (change, r.status_code)
        assert message in r.get_data(as_text=True), (change, message)
        assert snapshot() == before
    r = portal.post("/portal/products?lang=zh", {**PEAR, "harvest_months": "13"})
    assert "采收月份应为 1 到 12" in r.get_data(as_text=True)
