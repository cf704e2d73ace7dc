"""Every domain rule, accepted and refused; a refusal writes nothing (log and state unchanged)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import t
from trace.clock import CHINA
from trace.db import read_session
from trace.domain.actors import SYSTEM, Actor
from trace.domain.errors import DomainError, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.identifiers import SERIAL_RE, serial_hash, uscc_problem
from trace.domain.tables.batches import Batch, BatchLink, Package, PackageSecret


def refused(snapshot, exc_type, fn, *args, **kwargs) -> DomainError:  # type: ignore[no-untyped-def]
    """Run a command that must be refused; check the error type and that nothing was written."""
    before = snapshot()
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert snapshot() == before, "a refused command changed the log or the state tables"
    assert info.value.zh and info.value.en
    return info.value


def batch(svc, bid):  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return s.get_one(Batch, bid)


# -- GI origin -----------------------------------------------------------------------------


def test_harvest_inside_area_in_season_is_accepted(tr, world, svc) -> None:
    b = tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                            quantity_g=1_500_000, occurred_at=t(9, 20))
    got = batch(svc, b.id)
    assert (got.quantity_g, got.harvest_g, got.custodian_id, got.season) == (1_500_000, 1_500_000, world["grower"], 2025)
    assert got.lot_code == f"PEAR-2025-{b.id:05d}"


def test_harvest_outside_protected_area_is_refused(tr, world, snapshot) -> None:
    err = refused(snapshot, RuleViolation, tr.register_harvest, world["actors"]["grower"], plot_id=world["plot_out"],
                  product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(9, 20))
    assert "景庄村" in err.zh and "protected area" in err.en and err.field == "plot"


def test_harvest_out_of_season_is_refused(tr, world, snapshot) -> None:
    err = refused(snapshot, RuleViolation, tr.register_harvest, world["actors"]["grower"], plot_id=world["plot"],
                  product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(6, 1))
    assert "6月" in err.zh and "month 6" in err.en


def test_yield_ceiling_counts_earlier_harvests_of_the_season(tr, world, snapshot, harvest) -> None:
    # 10 mu x 2,000 kg/mu = 20,000 kg for the season
    harvest(kg=12_000)
    harvest(kg=8_000, when=t(10, 2))
    err = refused(snapshot, RuleViolation, harvest, kg=1, when=t(10, 3))
    assert "20000" in err.en and err.field == "quantity_g"
    # the next season starts again
    tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                        quantity_g=5_000_000, occurred_at=datetime(2026, 9, 1, 9, tzinfo=CHINA))


def test_regulator_can_change_area_without_code(tr, world, snapshot) -> None:
    refused(snapshot, RuleViolation, tr.register_harvest, world["actors"]["grower"], plot_id=world["plot_out"],
            product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(9, 20))
    tr.define_product(world["actors"]["bureau"], id="nanchangtan-soft-pear", name_zh="南长滩软梨子", name_en="Nanchangtan soft pear",
                      harvest_months=[9, 10], yield_g_per_mu=2_000_000, lot_prefix="PEAR",
                      area=[("香山乡", "南长滩村"), ("香山乡", "北长滩村"), ("香山乡", "景庄村")])
    tr.register_harvest(world["actors"]["grower"], plot_id=world["plot_out"], product_id="nanchangtan-soft-pear",
                        quantity_g=1000, occurred_at=t(9, 20))
    refused(snapshot, Forbidden, tr.define_product, world["actors"]["grower"], id="x-fruit", name_zh="某果", name_en="X",
            harvest_months=[9], yield_g_per_mu=1000, lot_prefix="XF", area=[("香山乡", "*")])


def test_harvest_only_from_own_plot_by_growers(tr, world, snapshot) -> None:
    refused(snapshot, Forbidden, tr.register_harvest, world["actors"]["grower2"], plot_id=world["plot"],
            product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(9, 20))
    refused(snapshot, Forbidden, tr.register_harvest, world["actors"]["processor"], plot_id=world["plot"],
            product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(9, 20))
    refused(snapshot, NotFound, tr.register_harvest, world["actors"]["grower"], plot_id=999,
            product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=t(9, 20))


@pytest.mark.parametrize("qty", [0, -5, 1.5, "12.5", "abc", "", True, 10**15, "1e6", None])
def test_quantities_are_positive_integer_grams(qty) -> None:
    from trace.domain.inputs import HarvestInput, parse

    with pytest.raises(InvalidInput):
        parse(HarvestInput, {"plot": 1, "product": "x", "quantity_g": qty})


def test_harvest_with_bad_quantity_writes_nothing(tr, world, snapshot) -> None:
    for qty in (0, -1000, 2.5, "ten", "1.5"):
        refused(snapshot, InvalidInput, tr.register_harvest, world["actors"]["grower"], plot_id=world["plot"],
                product_id="nanchangtan-soft-pear", quantity_g=qty, occurred_at=t(9, 20))


# -- time ---------------------------------------------------------------------------------


def test_event_time_not_in_future_and_not_before_harvest(tr, world, snapshot, harvest) -> None:
    future = datetime.now(CHINA) + timedelta(days=1)
    refused(snapshot, RuleViolation, tr.register_harvest, world["actors"]["grower"], plot_id=world["plot"],
            product_id="nanchangtan-soft-pear", quantity_g=1000, occurred_at=future)
    b = harvest()
    err = refused(snapshot, RuleViolation, tr.grade, world["actors"]["grower"], b.id, grade="一级", occurred_at=t(9, 19))
    assert "harvest" in err.en
    refused(snapshot, InvalidInput, tr.grade, world["actors"]["grower"], b.id, grade="一级", occurred_at="2025-02-30T10:00")
    tr.grade(world["actors"]["grower"], b.id, grade="一级", occurred_at=t(9, 21))


# -- custody ------------------------------------------------------------------------------


def test_custody_passes_on_ship_and_receive(tr, world, snapshot, harvest, svc) -> None:
    a = world["actors"]
    b = harvest()
    refused(snapshot, Forbidden, tr.grade, a["processor"], b.id, grade="一级")
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 21))
    # in transit: neither the shipper nor anyone else appends until the receiver accepts
    refused(snapshot, RuleViolation, tr.grade, a["grower"], b.id, grade="一级")
    refused(snapshot, Forbidden, tr.grade, a["processor"], b.id, grade="一级")
    refused(snapshot, Forbidden, tr.receive, a["retailer"], b.id)
    tr.receive(a["processor"], b.id, occurred_at=t(9, 22))
    assert batch(svc, b.id).custodian_id == world["processor"]
    refused(snapshot, Forbidden, tr.grade, a["grower"], b.id, grade="一级")
    tr.grade(a["processor"], b.id, grade="特级", occurred_at=t(9, 22))
    refused(snapshot, RuleViolation, tr.ship, a["processor"], b.id, to_party=world["processor"])
    refused(snapshot, RuleViolation, tr.ship, a["processor"], b.id, to_party=world["grower2"])
    refused(snapshot, NotFound, tr.ship, a["processor"], b.id, to_party=12345)


def test_regulator_inspects_and_recalls_any_batch(tr, world, snapshot, harvest, svc) -> None:
    a = world["actors"]
    b = harvest()
    refused(snapshot, Forbidden, tr.inspect, a["processor"], b.id, lab="Lab", report_no="R1", passed=True)
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质检中心", report_no="R-1", passed=True, certificate_no="C1",
               results=[{"name": "毒死蜱", "value": "<0.01", "limit": "0.02", "unit": "mg/kg", "pass": True}], occurred_at=t(9, 21))
    assert batch(svc, b.id).inspection == "passed"
    refused(snapshot, Forbidden, tr.recall, a["retailer"], b.id, reason="x")
    tr.recall(a["bureau"], b.id, reason="抽检不合格", occurred_at=t(9, 22))
    assert batch(svc, b.id).recalled


# -- mass balance -------------------------------------------------------------------------


def test_split_merge_process_pack_keep_mass_balance(tr, world, snapshot, harvest, svc) -> None:
    g = world["actors"]["grower"]
    b = harvest(kg=1000)
    refused(snapshot, RuleViolation, tr.split, g, b.id, [600_000, 400_001], occurred_at=t(9, 21))
    kids = tr.split(g, b.id, [600_000, 400_000], occurred_at=t(9, 21))
    assert batch(svc, b.id).quantity_g == 0 and batch(svc, b.id).status == "consumed"
    assert [batch(svc, k.id).quantity_g for k in kids] == [600_000, 400_000]
    refused(snapshot, RuleViolation, tr.merge, g, [(kids[0].id, 600_000), (kids[1].id, 400_000)], quantity_g=1_000_001, occurred_at=t(9, 22))
    refused(snapshot, RuleViolation, tr.merge, g, [(kids[0].id, 600_001), (kids[1].id, 1)], occurred_at=t(9, 22))
    refused(snapshot, InvalidInput, tr.merge, g, [(kids[0].id, 1), (kids[0].id, 1)], occurred_at=t(9, 22))
    merged = tr.merge(g, [(kids[0].id, 600_000), (kids[1].id, 300_000)], occurred_at=t(9, 22))
    assert batch(svc, merged.id).quantity_g == 900_000
    refused(snapshot, RuleViolation, tr.process, g, merged.id, input_g=500_000, output_g=500_001, form="dried")
    refused(snapshot, RuleViolation, tr.process, g, merged.id, input_g=900_001, output_g=1, form="dried")
    dried = tr.process(g, merged.id, input_g=500_000, output_g=190_000, form="dried", method="晾晒", occurred_at=t(9, 25))
    assert batch(svc, dried.id).form == "dried" and batch(svc, merged.id).quantity_g == 400_000
    refused(snapshot, RuleViolation, tr.pack, g, dried.id, count=39, net_g=5000, occurred_at=t(9, 26))
    packs = tr.pack(g, dried.id, count=38, net_g=5000, occurred_at=t(9, 26))
    assert len(packs) == 38 and batch(svc, dried.id).packed_g == 190_000
    refused(snapshot, RuleViolation, tr.split, g, dried.id, [1], occurred_at=t(9, 27))
    with read_session(svc.engine) as s:
        links = s.scalars(select(BatchLink).order_by(BatchLink.child_id, BatchLink.parent_id)).all()
        assert [(x.parent_id, x.child_id, x.kind) for x in links] == [
            (b.id, kids[0].id, "split"), (b.id, kids[1].id, "split"), (kids[0].id, merged.id, "merge"),
            (kids[1].id, merged.id, "merge"), (merged.id, dried.id, "process")]


def test_packages_have_unguessable_serials_and_the_log_has_only_their_hash(tr, world, harvest, svc) -> None:
    b = harvest(kg=100)
    packs = tr.pack(world["actors"]["grower"], b.id, count=20, net_g=2500, occurred_at=t(9, 21))
    serials = [sn for _, sn in packs]
    assert len(set(serials)) == 20 and all(SERIAL_RE.match(sn) for sn in serials)
    with read_session(svc.engine) as s:
        secrets = dict(s.execute(select(PackageSecret.package_id, PackageSecret.serial)).all())
        pack_entry = s.scalar(select(Package.pack_entry).limit(1))
        body = svc.ledger.entry(s, pack_entry).decode()
    assert sorted(secrets.values()) == sorted(serials)
    for sn in serials:
        assert sn not in body and serial_hash(sn) in body
    # 20 characters of a 32-letter alphabet: 100 bits, and they differ everywhere
    assert len({sn[:4] for sn in serials}) > 15


# -- recall, failed inspection, credit ------------------------------------------------------


def test_recall_reaches_every_descendant_and_its_packages(tr, world, harvest, svc, snapshot) -> None:
    g, bureau = world["actors"]["grower"], world["actors"]["bureau"]
    b = harvest(kg=1000)
    other = harvest(kg=100, when=t(9, 21))
    k1, k2 = tr.split(g, b.id, [500_000, 400_000], occurred_at=t(9, 22))
    m = tr.merge(g, [(k2.id, 400_000), (other.id, 100_000)], occurred_at=t(9, 23))
    d = tr.process(g, m.id, input_g=200_000, output_g=80_000, form="dried", occurred_at=t(9, 24))
    tr.pack(g, d.id, count=4, net_g=20_000, occurred_at=t(9, 25))
    affected = tr.recall(bureau, b.id, reason="农残超标", occurred_at=t(9, 26))
    assert affected == sorted([b.id, k1.id, k2.id, m.id, d.id])
    assert not batch(svc, other.id).recalled and all(batch(svc, x).recalled for x in affected)
    with read_session(svc.engine) as s:
        assert all(p.batch.recalled for p in s.scalars(select(Package)))
    refused(snapshot, RuleViolation, tr.grade, g, d.id, grade="一级")
    refused(snapshot, RuleViolation, tr.recall, bureau, k1.id, reason="again")


def test_failed_inspection_holds_pack_ship_sell_until_it_passes(tr, world, harvest, snapshot, svc) -> None:
    g, bureau = world["actors"]["grower"], world["actors"]["bureau"]
    b = harvest(kg=100)
    tr.inspect(bureau, b.id, lab="Lab", report_no="R-9", passed=False, occurred_at=t(9, 21))
    refused(snapshot, RuleViolation, tr.pack, g, b.id, count=1, net_g=1000)
    refused(snapshot, RuleViolation, tr.ship, g, b.id, to_party=world["processor"])
    tr.inspect(bureau, b.id, lab="Lab", report_no="R-10", passed=True, occurred_at=t(9, 23))
    tr.pack(g, b.id, count=1, net_g=1000, occurred_at=t(9, 24))


def test_black_listed_party_cannot_harvest_or_pack(tr, world, harvest, snapshot) -> None:
    g, bureau = world["actors"]["grower"], world["actors"]["bureau"]
    b = harvest(kg=100)
    refused(snapshot, Forbidden, tr.set_credit, g, world["grower"], "red", "self-praise")
    tr.set_credit(bureau, world["grower"], "black", "伪造检测报告")
    err = refused(snapshot, RuleViolation, harvest, kg=1, when=t(9, 25))
    assert "black list" in err.en
    refused(snapshot, RuleViolation, tr.pack, g, b.id, count=1, net_g=1000)
    tr.set_credit(bureau, world["grower"], "normal", "整改完成")
    tr.pack(g, b.id, count=1, net_g=1000, occurred_at=t(9, 26))


def test_sell_marks_packages_and_batch(tr, world, harvest, snapshot, svc) -> None:
    g = world["actors"]["grower"]
    b = harvest(kg=10)
    packs = tr.pack(g, b.id, count=2, net_g=5000, occurred_at=t(9, 21))
    refused(snapshot, RuleViolation, tr.sell, g, b.id, package_ids=[9999])
    tr.sell(g, b.id, package_ids=[packs[0][0].id], occurred_at=t(9, 22))
    assert batch(svc, b.id).status == "active"
    refused(snapshot, RuleViolation, tr.sell, g, b.id, package_ids=[packs[0][0].id])
    tr.sell(g, b.id, occurred_at=t(9, 23))
    assert batch(svc, b.id).status == "sold"


def test_correct_amends_without_rewriting(tr, world, harvest, snapshot, svc) -> None:
    g, bureau = world["actors"]["grower"], world["actors"]["bureau"]
    b = harvest(kg=10)
    idx = tr.grade(g, b.id, grade="二级", occurred_at=t(9, 21))
    with read_session(svc.engine) as s:
        before = svc.ledger.entry(s, idx)
    refused(snapshot, InvalidInput, tr.correct, g, b.id, target=idx, changes={"quantity_g": 5}, reason="typo")
    refused(snapshot, Forbidden, tr.correct, world["actors"]["processor"], b.id, target=idx, changes={"grade": "一级"}, reason="x")
    refused(snapshot, NotFound, tr.correct, g, b.id, target=idx + 100, changes={"grade": "一级"}, reason="x")
    c = tr.correct(g, b.id, target=idx, changes={"grade": "一级"}, reason="录入错误", occurred_at=t(9, 22))
    assert batch(svc, b.id).grade == "一级"
    with read_session(svc.engine) as s:
        assert svc.ledger.entry(s, idx) == before  # the original entry is untouched
        assert b'"target":%d' % idx in svc.ledger.entry(s, c)
    tr.correct(bureau, b.id, target=idx, changes={"note": "复核"}, reason="监管备注")


# -- parties ------------------------------------------------------------------------------


def test_unified_social_credit_code_check_digit(tr, snapshot) -> None:
    assert uscc_problem("91350100M000100Y43") is None  # a published sample code
    assert "check character" in uscc_problem("91350100M000100Y44").en  # the problem is a refusal to raise
    assert "18" in uscc_problem("9135").en
    assert "characters" in uscc_problem("91350100M000100YI3").en
    err = refused(snapshot, InvalidInput, tr.register_party, SYSTEM, kind="grower", name="假合作社", uscc="91350100M000100Y44")
    assert err.field == "uscc" and "统一社会信用代码" in err.zh
    refused(snapshot, InvalidInput, tr.register_party, SYSTEM, kind="pirate", name="X", uscc="91350100M000100Y43")
    refused(snapshot, Forbidden, tr.register_party, Actor(None, None), kind="grower", name="X", uscc="91350100M000100Y43")
    pid = tr.register_party(SYSTEM, kind="grower", name="合作社", uscc="91350100m000100y43")
    assert pid == 1
    refused(snapshot, RuleViolation, tr.register_party, SYSTEM, kind="grower", name="again", uscc="91350100M000100Y43")


def test_plots_only_for_growers_and_own(tr, world, snapshot) -> None:
    refused(snapshot, RuleViolation, tr.register_plot, SYSTEM, party_id=world["processor"], township="香山乡", village="南长滩村", area_mu="1")
    refused(snapshot, Forbidden, tr.register_plot, world["actors"]["grower2"], party_id=world["grower"], township="香山乡", village="南长滩村", area_mu="1")
    refused(snapshot, InvalidInput, tr.register_plot, world["actors"]["grower"], party_id=world["grower"], township="香山乡", village="南长滩村", area_mu="1.234")
    refused(snapshot, InvalidInput, tr.register_plot, world["actors"]["grower"], party_id=world["grower"], township="香山乡", village="南长滩村", area_mu="-1")
    refused(snapshot, InvalidInput, tr.register_plot, world["actors"]["grower"], party_id=world["grower"], township="", village="南长滩村", area_mu="1")
    refused(snapshot, InvalidInput, tr.register_plot, world["actors"]["grower"], party_id=world["grower"], township="香山乡", village="x" * 10_000, area_mu="1")
    pid = tr.register_plot(world["actors"]["grower"], party_id=world["grower"], township="香山乡", village="北长滩村", area_mu="2.5", lat="37.5", lon="105.1")
    assert pid > world["plot2"]
