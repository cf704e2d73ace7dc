"""The field end's rules, accepted and refused, through the domain (SQLite and PostgreSQL): times
that can be trusted (with the real rule: a Trace with a clock of its own), farming records and the
pre-harvest interval, banned pesticides with their alert, natural persons and their identity
numbers (GB 11643), division codes, certificates of conformity through receipts, splits, merges
and processing, platform codes, GI logo authorisations, certifications; and verify after them."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.conftest import t, uscc
from trace.clock import FollowingClock
from trace.db import read_session, write_session
from trace.domain import events
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.errors import DomainError, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.events import Grade
from trace.domain.identifiers import ID_WEIGHTS, id_check_char, id_number_problem, masked_name
from trace.domain.queries import field as fq
from trace.domain.queries.labels import label_infos
from trace.domain.replay import ReplayError, replay
from trace.domain.tables.batches import Batch
from trace.domain.tables.field import Certificate, CertificateReceipt, FarmRecord, PartyPerson
from trace.ledger.merkle import leaf_hash
from trace.ledger.store import canonical

PEAR, APPLE = "nanchangtan-soft-pear", "shapotou-apple"


def refused(snapshot: Callable[[], Any], kind: type[DomainError], fn: Callable[..., Any], *a: Any, **kw: Any) -> DomainError:
    """Run a command that must be refused, and prove it wrote nothing."""
    before = snapshot()
    with pytest.raises(kind) as exc:
        fn(*a, **kw)
    assert snapshot() == before
    return exc.value


def clocked(svc: Any, when: datetime) -> Trace:
    """The domain with a real clock of its own, stopped at `when` (not a demo clock)."""
    fixed = when.astimezone(UTC)
    return Trace(svc.engine, svc.ledger, clock=lambda: fixed)


def log_bodies(svc: Any) -> list[bytes]:
    with read_session(svc.engine) as s:
        return [b for _, b in svc.ledger.iter_entries(s)]


def verify_ok(runner: Any) -> None:
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output


def pesticide(tr: Trace, reg: str = "PD20080123", *, banned: bool = False, days: dict[str, int] | None = None) -> None:
    tr.run("pesticide.define", SYSTEM, {"reg_no": reg, "name": "甲胺磷" if banned else "吡虫啉",
                                        "active_ingredient": "methamidophos" if banned else "imidacloprid 10%",
                                        "intervals": [] if banned else [[p, d] for p, d in (days or {PEAR: 14}).items()],
                                        "banned": banned})


def spray(tr: Trace, w: dict[str, Any], when: datetime, reg: str = "PD20080123", product: str = PEAR, **kw: Any) -> Any:
    return tr.run("farm.spray", w["actors"]["grower"], {"plot": w["plot"], "product": product, "pesticide": reg,
                                                        "dose": "2000倍液", "area_mu": "10", "target": "梨木虱",
                                                        "operator": "王强", "occurred_at": when, **kw})


def pear(tr: Trace, w: dict[str, Any], when: datetime | None = None, kg: int = 1000) -> Any:
    return tr.register_harvest(w["actors"]["grower"], plot_id=w["plot"], product_id=PEAR, quantity_g=kg * 1000,
                               occurred_at=when or t(9, 20))


# -- times that can be trusted -------------------------------------------------------------------------


def test_an_event_more_than_7_days_late_needs_the_bureaus_approval(tr, world, svc, snapshot, runner) -> None:
    a = world["actors"]
    b, other = pear(tr, world), pear(tr, world, kg=10)
    err = refused(snapshot, RuleViolation, clocked(svc, t(9, 29, 10)).grade, a["grower"], b.id, grade="一级", occurred_at=t(9, 21))
    assert err.code == "time.too_late" and "2025-09-21 09:00" in err.en and "2025-09-29 10:00" in err.en
    assert "市场监督管理局批准" in err.zh
    clocked(svc, t(9, 28)).grade(a["grower"], b.id, grade="一级", occurred_at=t(9, 21))  # 7 days: in time
    # The bureau approves late entries of this batch from 21 September on, until 8 October.
    clocked(svc, t(10, 1)).run("late.approve", a["bureau"], {"party": world["grower"], "batch": b.id,
                                                             "earliest": t(9, 21), "reason": "停电，按纸质记录补录"})
    late = clocked(svc, t(10, 3))
    late.store(a["grower"], b.id, facility="地窖", temperature_c="2", occurred_at=t(9, 22))  # 11 days late, approved
    refused(snapshot, RuleViolation, late.store, a["grower"], other.id, facility="地窖", temperature_c="2",
            occurred_at=t(9, 22))  # the approval is for the other batch
    refused(snapshot, RuleViolation, late.store, a["grower"], b.id, facility="地窖", temperature_c="2",
            occurred_at=t(9, 20, 8))  # before what it approves (and before the harvest)
    refused(snapshot, RuleViolation, clocked(svc, t(10, 9)).store, a["grower"], b.id, facility="地窖", temperature_c="2",
            occurred_at=t(9, 23))  # the approval has ended
    # The bureau's own sampling, whose report arrives later, needs no approval.
    clocked(svc, t(10, 20)).inspect(a["bureau"], other.id, lab="宁夏农产品质量检测中心", report_no="NX-1", passed=True,
                                    occurred_at=t(9, 21))
    verify_ok(runner)


def test_an_approval_is_the_bureaus_and_stays_within_its_window(tr, world, svc, snapshot) -> None:
    a = world["actors"]
    b = pear(tr, world)
    data = {"party": world["grower"], "batch": b.id, "earliest": t(9, 20), "reason": "补录"}
    refused(snapshot, Forbidden, clocked(svc, t(10, 1)).run, "late.approve", a["grower"], data)
    err = refused(snapshot, InvalidInput, clocked(svc, t(10, 1)).run, "late.approve", a["bureau"], {**data, "until": t(12, 30)})
    assert err.code == "late.window"


def test_an_event_is_not_before_the_batchs_previous_event(tr, world, snapshot) -> None:
    a = world["actors"]
    b = pear(tr, world)
    tr.grade(a["grower"], b.id, grade="一级", occurred_at=t(9, 22))
    err = refused(snapshot, RuleViolation, tr.grade, a["grower"], b.id, grade="特级", occurred_at=t(9, 21))
    assert err.code == "time.before_previous" and "2025-09-22 09:00" in err.en
    tr.grade(a["grower"], b.id, grade="特级", occurred_at=t(9, 22))  # at the same time: fine
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 23))
    err = refused(snapshot, RuleViolation, tr.receive, a["processor"], b.id, occurred_at=t(9, 22, 12))
    assert err.code == "time.before_previous"
    tr.receive(a["processor"], b.id, occurred_at=t(9, 23, 12))
    # A merge is not before the last event of any of its parts.
    b2 = pear(tr, world, when=t(9, 21), kg=10)
    tr.ship(a["grower"], b2.id, to_party=world["processor"], occurred_at=t(9, 21, 10))
    tr.receive(a["processor"], b2.id, occurred_at=t(9, 21, 12))
    err = refused(snapshot, RuleViolation, tr.merge, a["processor"], [(b.id, 1000), (b2.id, 1000)], occurred_at=t(9, 22))
    assert err.code == "time.before_previous"


def test_the_demo_clock_says_so_in_every_entry_and_a_real_clock_does_not(tr, world, svc, client) -> None:
    pear(tr, world)
    with read_session(svc.engine) as s:
        assert fq.demo_log(s)
    assert all(json.loads(b)["demo"] for b in log_bodies(svc))  # the tests' clock is a demo clock (conftest)
    real = clocked(svc, t(9, 21))
    real.grade(world["actors"]["grower"], 1, grade="一级", occurred_at=t(9, 21))
    last = json.loads(log_bodies(svc)[-1])
    assert last["demo"] is False and last["v"] == 3 and last["recorded_at"] == "2025-09-21T01:00:00.000Z"
    assert "演示数据" in client.get("/verify").get_data(as_text=True)


def test_a_log_without_demo_entries_shows_no_demo_banner(app, svc, client) -> None:
    real = clocked(svc, t(9, 21))
    real.define_product(SYSTEM, id="x-fruit", name_zh="某果", name_en="X", harvest_months=[9], yield_g_per_mu=1000,
                        lot_prefix="XF", area=[("香山乡", "*")])
    body = json.loads(log_bodies(svc)[0])
    assert body["demo"] is False
    with read_session(svc.engine) as s:
        assert not fq.demo_log(s)
    assert "演示数据" not in client.get("/verify").get_data(as_text=True)


def test_a_following_clock_records_when_it_happened_and_never_after_the_real_now() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    clock = FollowingClock(datetime(2026, 3, 1, tzinfo=UTC), real=lambda: now)
    assert clock.follow(datetime(2026, 9, 20, tzinfo=UTC)) == datetime(2026, 9, 20, tzinfo=UTC)
    assert clock.follow(None) == datetime(2026, 9, 20, tzinfo=UTC)  # the last time said
    assert clock.follow(datetime(2099, 1, 1, tzinfo=UTC)) == now
    with clock.recording_at(datetime(2026, 10, 1, tzinfo=UTC)):
        assert clock.follow(datetime(2026, 9, 21, tzinfo=UTC)) == datetime(2026, 10, 1, tzinfo=UTC)
    tests = FollowingClock(datetime(2026, 3, 1, tzinfo=UTC), real=lambda: now, untimed_now=True)
    assert tests.follow(None, timed=False) == datetime(2026, 3, 1, tzinfo=UTC)  # a registration: no time of its own
    assert tests.follow(None) == now  # a time left empty: now


def test_a_transaction_opened_without_a_time_is_recorded_when_its_first_event_happened(tr, world, svc) -> None:
    b = pear(tr, world)
    with tr.transaction(world["actors"]["grower"]) as tx:
        for i in range(3):
            tx.record(Grade(batch=b.id, grade=f"g{i}", occurred_at="2025-09-21T01:00:00.000Z"))
    assert {json.loads(x)["recorded_at"] for x in log_bodies(svc)[-3:]} == {"2025-09-21T01:00:00.000Z"}


# -- farming records, the pre-harvest interval, banned pesticides ----------------------------------------


def test_a_harvest_within_a_sprays_interval_is_refused_naming_the_spray(tr, world, svc, snapshot, runner) -> None:
    pesticide(tr, days={PEAR: 14})
    spray(tr, world, t(9, 10))
    err = refused(snapshot, RuleViolation, pear, tr, world, t(9, 20))
    assert err.code == "gi.pre_harvest_interval"
    assert err.en == ("The plot was sprayed with 吡虫啉 (PD20080123) on 2025-09-10; its pre-harvest interval is 14 days, "
                      "so it may be harvested from 2025-09-24 on.")
    assert "2025-09-24 起方可采收" in err.zh
    pear(tr, world, t(9, 24))  # the first allowed day
    verify_ok(runner)


def test_a_spray_not_registered_for_the_crop_binds_by_its_longest_interval_and_alerts(tr, world) -> None:
    pesticide(tr, days={APPLE: 21})
    done = spray(tr, world, t(9, 1))  # an apple pesticide on pears
    assert done.event.alerts == ["off_label"]
    with pytest.raises(RuleViolation) as exc:
        pear(tr, world, t(9, 20))
    assert "21 days" in exc.value.en and "2025-09-22" in exc.value.en


def test_a_banned_pesticide_is_recorded_only_with_its_alert(tr, world, svc, runner) -> None:
    pesticide(tr, "PD19990001", banned=True)
    done = spray(tr, world, t(8, 20), reg="PD19990001")
    assert done.event.alerts == ["banned"]
    regs = fq.registers(svc.engine, world["actors"]["bureau"])
    assert [(a["kind"], a["pesticide"]) for a in regs.alerts] == [("banned", "PD19990001")]
    b = pear(tr, world)  # the truth is recorded; the pledge of a certificate is what it rules out
    with pytest.raises(RuleViolation) as exc:
        tr.run("certificate.issue", world["actors"]["grower"], {"batch": b.id, "basis": "control"})
    assert exc.value.code == "certificate.banned_used"
    verify_ok(runner)


def test_a_spray_recorded_after_a_harvest_within_its_interval_alerts_the_bureau(tr, world) -> None:
    pesticide(tr, days={PEAR: 14})
    pear(tr, world, t(9, 20))
    done = spray(tr, world, t(9, 15))  # typed in late: the harvest of the 20th was within its interval
    assert done.event.alerts == ["harvested_within_interval"]


def test_farming_records_are_the_growers_on_its_own_plots(tr, world, snapshot) -> None:
    pesticide(tr)
    a = world["actors"]
    data = {"plot": world["plot"], "product": PEAR, "pesticide": "PD20080123", "dose": "2000倍液", "area_mu": "2",
            "occurred_at": t(9, 1)}
    refused(snapshot, Forbidden, tr.run, "farm.spray", a["grower2"], data)
    refused(snapshot, Forbidden, tr.run, "farm.spray", a["processor"], data)
    err = refused(snapshot, NotFound, tr.run, "farm.spray", a["grower"], {**data, "pesticide": "PD11111111"})
    assert "ask the bureau" in err.en
    err = refused(snapshot, RuleViolation, tr.run, "farm.spray", a["grower"], {**data, "area_mu": "12"})
    assert err.code == "farm.area_exceeds" and "10 mu" in err.en
    refused(snapshot, InvalidInput, tr.run, "farm.spray", a["grower"], {**data, "pesticide": "imidacloprid"})
    refused(snapshot, InvalidInput, tr.run, "farm.fertilise", a["grower"], {"plot": world["plot"], "name": "有机肥",
                                                                           "amount_g_per_mu": "0", "area_mu": "1"})
    refused(snapshot, InvalidInput, tr.run, "farm.work", a["grower"], {"plot": world["plot"], "kind": "dance"})
    tr.run("farm.fertilise", a["grower"], {"plot": world["plot"], "name": "腐熟羊粪", "source": "本村", "amount_g_per_mu": 1_500_000,
                                           "area_mu": "10", "occurred_at": t(4, 2)})
    tr.run("farm.work", a["grower"], {"plot": world["plot"], "kind": "bag", "note": "套袋", "occurred_at": t(6, 20)})


def test_the_operator_stays_out_of_the_log_and_off_the_page(tr, world, svc, runner) -> None:
    pesticide(tr)
    done = spray(tr, world, t(9, 1), operator="王小强")
    assert done.event.operator and len(done.event.operator) == 64
    assert not any("王小强".encode() in b for b in log_bodies(svc))
    with write_session(svc.engine) as s:  # the operator's name as kept may not be changed behind the log's back
        s.execute(text("UPDATE farm_operators_private SET name = '李四'"))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "the operator kept for entry" in result.output


def test_the_plots_season_in_brief(tr, world, svc) -> None:
    pesticide(tr)
    spray(tr, world, t(5, 25))
    spray(tr, world, t(9, 1))
    tr.run("farm.fertilise", world["actors"]["grower"], {"plot": world["plot"], "name": "腐熟羊粪", "amount_g_per_mu": 1_500_000,
                                                         "area_mu": "10", "occurred_at": t(4, 2)})
    b = pear(tr, world)
    with read_session(svc.engine) as s:
        season = fq.plot_season(s, world["plot"], PEAR, 2025, s.get_one(Batch, b.id).harvested_at)
    assert [(x["date"], x["days_to_harvest"]) for x in season["sprays"]] == [("2025-05-25", 118), ("2025-09-01", 19)]
    assert season["last_spray_days"] == 19 and season["fertilising"][0]["amount_g_per_mu"] == 1_500_000
    assert "operator" not in json.dumps(season)


# -- natural persons and GB 11643 ---------------------------------------------------------------------


def test_the_gb_11643_check_character() -> None:
    # ISO 7064 MOD 11-2: W_i = 2^(i-1) mod 11 for positions 18 .. 2.
    assert ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    assert id_check_char("11010519491231002") == "X"  # the standard's example, 11010519491231002X
    assert id_number_problem("11010519491231002X") is None
    assert id_check_char("44052418800101001") == "4"
    bad = id_number_problem("11010519491231002Y")
    assert bad is not None and bad.code == "id_number.characters"
    bad = id_number_problem("110105194912310021")
    assert bad is not None and bad.code == "id_number.check" and bad.params == {"expected": "X", "got": "1"}
    bad = id_number_problem("110105194913310029")  # 13th month
    assert bad is not None and bad.code == "id_number.birth_date"
    assert id_number_problem("1101051949123100").code == "id_number.length"  # type: ignore[union-attr]
    assert masked_name("马建国") == "马**"


def _person(tr: Trace, **kw: Any) -> Any:
    body = "64050219680315271"
    return tr.run("party.register", SYSTEM, {"kind": "grower", "form": "person", "name": "马建国",
                                             "id_number": body + id_check_char(body), "township": "香山乡", **kw})


def test_a_household_grower_is_a_person_whose_number_never_reaches_the_log(tr, world, svc, snapshot, runner) -> None:
    body = "64050219680315271"
    number = body + id_check_char(body)
    done = _person(tr)
    party = done.event.party
    assert party.uscc is None and party.name == "马**" and party.form == "person" and len(party.person) == 64
    assert not any(number.encode() in b or "马建国".encode() in b for b in log_bodies(svc))
    with read_session(svc.engine) as s:
        kept = s.get_one(PartyPerson, party.id)
        assert (kept.name, kept.id_number) == ("马建国", number)
    regs = fq.registers(svc.engine, world["actors"]["bureau"])
    assert regs.persons == [{"party_id": party.id, "name": "马建国", "id_last4": "…" + number[-4:]}]
    # the same person twice, a person with a credit code, a person that processes, a bad number
    err = refused(snapshot, RuleViolation, _person, tr)
    assert err.code == "party.person_taken"
    err = refused(snapshot, RuleViolation, _person, tr, uscc=uscc(50))
    assert err.code == "party.person_uscc"
    other = "64050219700101123"
    err = refused(snapshot, RuleViolation, tr.run, "party.register", SYSTEM, {
        "kind": "processor", "form": "person", "name": "张三", "id_number": other + id_check_char(other)})
    assert err.code == "party.person_kind"
    err = refused(snapshot, InvalidInput, tr.run, "party.register", SYSTEM, {
        "kind": "grower", "form": "person", "name": "张三", "id_number": other + ("0" if id_check_char(other) != "0" else "1")})
    assert err.code == "id_number.check" and "校验码应为" in err.zh
    err = refused(snapshot, InvalidInput, tr.run, "party.register", SYSTEM, {"kind": "grower", "form": "person", "name": "张三"})
    assert err.code == "party.id_number_required"
    err = refused(snapshot, InvalidInput, tr.run, "party.register", SYSTEM, {"kind": "grower", "name": "某合作社"})
    assert err.code == "party.uscc_required"
    verify_ok(runner)
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE party_persons_private SET id_number = :n"), {"n": other + id_check_char(other)})
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "the person kept is not the one the log committed to" in result.output
    assert f"first bad entry: {done.entry}" in result.output


def test_a_produce_buyer_receives_certificates_and_reissues_after_mixing(tr, world, svc, runner) -> None:
    a = world["actors"]
    buyer = tr.register_party(SYSTEM, kind="buyer", name="香山果品收购部", uscc=uscc(70))
    person = _person(tr).event.party.id
    plot = tr.register_plot(SYSTEM, party_id=person, township="香山乡", village="南长滩村", area_mu="6")
    hh = tr.register_harvest(Actor(None, person), plot_id=plot, product_id=PEAR, quantity_g=500_000, occurred_at=t(9, 20))
    coop = pear(tr, world)
    for grower, b in ((Actor(None, person), hh), (a["grower"], coop)):
        tr.run("certificate.issue", grower, {"batch": b.id, "basis": "control", "occurred_at": t(9, 20, 12)})
        tr.ship(grower, b.id, to_party=buyer, occurred_at=t(9, 20, 14))
        tr.receive(Actor(None, buyer), b.id, occurred_at=t(9, 20, 16))
    with read_session(svc.engine) as s:
        assert [r.party_id for r in s.scalars(select(CertificateReceipt))] == [buyer, buyer]
    merged = tr.merge(Actor(None, buyer), [(hh.id, 500_000), (coop.id, 1_000_000)], occurred_at=t(9, 21))
    with read_session(svc.engine) as s:
        cert = s.scalar(select(Certificate).where(Certificate.batch_id == merged.id))
        chain = fq.certificate_chain(s, merged.id)
    assert cert is not None and cert.party_id == buyer and cert.basis == "control" and cert.sources == "1,2"
    assert [c["lot"] for c in chain] == [merged.lot_code, hh.lot_code, coop.lot_code]
    assert chain[1]["issuer"] == fq.HOUSEHOLD  # a household is never named on a public page
    verify_ok(runner)


# -- certificates of conformity ---------------------------------------------------------------------


def test_only_the_true_bases_are_offered_and_accepted(tr, world, svc, snapshot) -> None:
    a = world["actors"]
    b = pear(tr, world)
    with read_session(svc.engine) as s:
        assert fq.offered_bases(s, a["grower"], b.id) == ("control",)
        assert fq.offered_bases(s, a["processor"], b.id) == ()  # not its batch
    err = refused(snapshot, RuleViolation, tr.run, "certificate.issue", a["grower"], {"batch": b.id, "basis": "commissioned_test"})
    assert err.code == "certificate.no_official_test"
    tr.inspect(a["grower"], b.id, lab="自检室", report_no="S1", passed=True, occurred_at=t(9, 20, 10))
    with read_session(svc.engine) as s:
        assert fq.offered_bases(s, a["grower"], b.id) == ("control", "own_test")
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="NX-9", passed=True, occurred_at=t(9, 20, 11))
    with read_session(svc.engine) as s:
        assert fq.offered_bases(s, a["grower"], b.id) == ("control", "own_test", "commissioned_test")
    tr.run("certificate.issue", a["grower"], {"batch": b.id, "basis": "commissioned_test", "occurred_at": t(9, 20, 12)})
    err = refused(snapshot, RuleViolation, tr.run, "certificate.issue", a["grower"], {"batch": b.id, "basis": "control"})
    assert err.code == "certificate.already"
    failed = pear(tr, world, kg=10)
    tr.inspect(a["bureau"], failed.id, lab="宁夏农产品质量检测中心", report_no="NX-10", passed=False, occurred_at=t(9, 20, 11))
    err = refused(snapshot, RuleViolation, tr.run, "certificate.issue", a["grower"], {"batch": failed.id, "basis": "control"})
    assert err.code == "certificate.failed"


def test_the_certificate_chain_through_a_split_and_processing(tr, world, svc, runner) -> None:
    a = world["actors"]
    b = pear(tr, world)
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="NX-1", passed=True, occurred_at=t(9, 20, 10))
    first = tr.run("certificate.issue", a["grower"], {"batch": b.id, "basis": "commissioned_test", "occurred_at": t(9, 20, 12)})
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 21))
    got = tr.run("receive", a["processor"], {"batch": b.id, "occurred_at": t(9, 21, 12)})
    assert got.event.certificate == first.event.certificate.id  # the receipt records the certificate that came with it
    kids = tr.split(a["processor"], b.id, [400_000, 300_000], occurred_at=t(9, 22))
    dried = tr.process(a["processor"], b.id, input_g=100_000, output_g=30_000, form="dried", occurred_at=t(9, 23))
    with read_session(svc.engine) as s:
        certs = {c.batch_id: c for c in s.scalars(select(Certificate))}
        offered = fq.offered_bases(s, a["processor"], dried.id)
    for k in kids:
        c = certs[k.id]
        assert (c.party_id, c.basis, c.sources, c.quantity_g) == (world["processor"], "commissioned_test", "1",
                                                                 400_000 if k is kids[0] else 300_000)
    assert certs[dried.id].sources == "1" and offered == ()  # it has its certificate already
    # a split child passed what its parent passed; a processed one needs its own tests
    with read_session(svc.engine) as s:
        assert fq.offered_bases(s, a["processor"], kids[0].id) == ()
        assert s.execute(text("SELECT official FROM batch_tests WHERE batch_id = :b"), {"b": kids[0].id}).scalar() in (True, 1)
        assert s.execute(text("SELECT count(*) FROM batch_tests WHERE batch_id = :b"), {"b": dried.id}).scalar() == 0
    verify_ok(runner)


def test_an_uncertified_batch_travels_without_one(tr, world, svc) -> None:
    a = world["actors"]
    b = pear(tr, world)
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 21))
    got = tr.run("receive", a["processor"], {"batch": b.id, "occurred_at": t(9, 21, 12)})
    assert got.event.certificate is None
    kids = tr.split(a["processor"], b.id, [400_000], occurred_at=t(9, 22))
    with read_session(svc.engine) as s:
        assert s.scalar(select(Certificate).where(Certificate.batch_id == kids[0].id)) is None
    tr.run("certificate.issue", a["processor"], {"batch": kids[0].id, "basis": "control", "occurred_at": t(9, 22, 12)})


# -- divisions and places -----------------------------------------------------------------------------


def test_a_plot_by_its_division_code_is_in_the_area_whatever_the_spelling(tr, world, svc, snapshot, runner) -> None:
    assert runner.invoke(args=["divisions", "load"]).exit_code == 0
    with read_session(svc.engine) as s:
        assert s.execute(text("SELECT name FROM divisions WHERE code = '640502200201'")).scalar() == "梁水村"
    # The bureau's area, typed with an old spelling of the village but with its code.
    tr.define_product(SYSTEM, id="x-pear", name_zh="某梨", name_en="X pear", harvest_months=[9], yield_g_per_mu=2_000_000,
                      lot_prefix="XP", area=[("香山乡", "梁水园村", "640502200201")])
    by_code = tr.register_plot(SYSTEM, party_id=world["grower"], division="640502200201", area_mu="3")
    by_name = tr.register_plot(SYSTEM, party_id=world["grower"], township="香山乡", village="梁水村", area_mu="3")
    with read_session(svc.engine) as s:
        assert s.execute(text("SELECT township, village FROM plots WHERE id = :p"), {"p": by_code}).one() == ("香山乡", "梁水村")
    tr.register_harvest(world["actors"]["grower"], plot_id=by_code, product_id="x-pear", quantity_g=1000, occurred_at=t(9, 20))
    err = refused(snapshot, RuleViolation, tr.register_harvest, world["actors"]["grower"], plot_id=by_name,
                  product_id="x-pear", quantity_g=1000, occurred_at=t(9, 20))
    assert err.code == "gi.outside_area"  # a plot without a code is judged by names, which differ
    err = refused(snapshot, RuleViolation, tr.register_plot, SYSTEM, party_id=world["grower"], division="640502999999", area_mu="1")
    assert err.code == "plot.division_unknown"
    err = refused(snapshot, InvalidInput, tr.register_plot, SYSTEM, party_id=world["grower"], division="6405", area_mu="1")
    assert err.code == "input.division_format"
    err = refused(snapshot, RuleViolation, tr.define_product, SYSTEM, id="y", name_zh="某", name_en="Y", harvest_months=[9],
                  yield_g_per_mu=1, lot_prefix="YY", area=[("某乡", "*", "640599000000")])
    assert err.code == "product.area_code_unknown"
    # A county's code takes every village of it.
    tr.define_product(SYSTEM, id="x-apple", name_zh="某苹果", name_en="X apple", harvest_months=[9], yield_g_per_mu=2_000_000,
                      lot_prefix="XA", area=[("沙坡头区", "*", "640502000000")])
    tr.register_harvest(world["actors"]["grower"], plot_id=by_code, product_id="x-apple", quantity_g=1000, occurred_at=t(9, 20))
    verify_ok(runner)


def test_a_registration_says_what_is_not_known(tr, world, svc) -> None:
    tr.define_product(SYSTEM, id="x-apple", name_zh="某苹果", name_en="X apple", harvest_months=[10], yield_g_per_mu=1000,
                      lot_prefix="XA", area=[("香山乡", "*")], gi_kind="agi", gi_date="2018-02-12")
    with read_session(svc.engine) as s:
        assert fq.registration(s, "x-apple", "") == {"kind": "agi", "number": None, "holder": None, "date": "2018-02-12",
                                                    "spec_ref": None}


# -- codes, the GI logo, certifications -------------------------------------------------------------------


def test_platform_codes_belong_to_their_party_and_lot(tr, world, svc, snapshot) -> None:
    a = world["actors"]
    tr.run("party.platform_code", a["grower"], {"party": world["grower"], "code": "ZT-6405-0001"})
    refused(snapshot, Forbidden, tr.run, "party.platform_code", a["grower"], {"party": world["grower2"], "code": "ZT-6405-0002"})
    b = pear(tr, world)
    refused(snapshot, Forbidden, tr.run, "batch.platform_code", a["processor"], {"batch": b.id, "code": "ZS-1"})
    tr.run("batch.platform_code", a["grower"], {"batch": b.id, "code": "ZS-0001"})
    refused(snapshot, InvalidInput, tr.run, "batch.platform_code", a["grower"], {"batch": b.id, "code": "追溯码"})


def test_the_gi_badge_is_for_authorised_packers_only(tr, world, svc, snapshot, runner) -> None:
    a = world["actors"]
    b = pear(tr, world)
    tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 21))
    with read_session(svc.engine) as s:
        (label,) = label_infos(s, "http://x", b.lot_code)
    assert not label.gi_badge and label.gi_logo_uscc is None
    auth = tr.run("gi.authorise", a["bureau"], {"party": world["grower"], "product": PEAR, "announcement": "公告 2025-1",
                                                "valid_from": "2025-01-01", "valid_until": "2027-12-31"})
    tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 22))
    tr.run("gi.revoke", a["bureau"], {"authorisation": auth.entry, "reason": "停止使用"})
    tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 23))
    with read_session(svc.engine) as s:
        labels = label_infos(s, "http://x", b.lot_code)
    assert [lb.gi_badge for lb in labels] == [False, True, False]  # before, during and after the authorisation
    assert labels[1].gi_logo_uscc is not None and labels[1].origin == "香山乡南长滩村" and labels[1].grade == ""
    refused(snapshot, RuleViolation, tr.run, "gi.authorise", a["bureau"], {"party": world["bureau"], "product": PEAR,
                                                                          "announcement": "x", "valid_from": "2025-01-01"})
    refused(snapshot, Forbidden, tr.run, "gi.authorise", a["grower"], {"party": world["grower"], "product": PEAR,
                                                                      "announcement": "x", "valid_from": "2025-01-01"})
    verify_ok(runner)


def test_certifications_valid_on_the_day_and_flagged_when_not(tr, world, svc, snapshot) -> None:
    a = world["actors"]
    tr.run("certification.add", a["grower"], {"party": world["grower"], "plot": world["plot"], "scheme": "green_food",
                                              "number": "LB-1", "issuer": "中国绿色食品发展中心", "scope": "梨",
                                              "valid_from": "2024-01-01", "valid_until": "2026-12-31"})
    tr.run("certification.add", a["grower"], {"party": world["grower"], "scheme": "gap", "number": "GAP-2",
                                              "issuer": "认证机构", "scope": "梨", "valid_from": "2022-01-01", "valid_until": "2025-06-30"})
    refused(snapshot, Forbidden, tr.run, "certification.add", a["grower"], {
        "party": world["grower2"], "scheme": "gap", "number": "GAP-3", "issuer": "x", "scope": "x",
        "valid_from": "2024-01-01", "valid_until": "2026-01-01"})
    refused(snapshot, InvalidInput, tr.run, "certification.add", a["grower"], {
        "party": world["grower"], "scheme": "gap", "number": "GAP-3", "issuer": "x", "scope": "x",
        "valid_from": "2026-01-01", "valid_until": "2024-01-01"})
    with read_session(svc.engine) as s:
        assert [c["number"] for c in fq.valid_certifications(s, world["grower"], "2025-09-20", world["plot"])] == ["LB-1"]
        assert fq.valid_certifications(s, world["grower"], "2025-09-20", world["plot_out"]) == []
    refused(snapshot, Forbidden, tr.run, "certification.revoke", a["grower"], {"id": 1, "reason": "x"})
    tr.run("certification.revoke", a["bureau"], {"id": 1, "reason": "抽查不合格"})
    kinds = {(x["kind"], x["number"]) for x in fq.registers(svc.engine, a["bureau"], today=datetime(2025, 9, 20).date()).alerts}
    assert kinds == {("certification_revoked", "LB-1"), ("certification_expired", "GAP-2")}
    with pytest.raises(Forbidden):
        fq.registers(svc.engine, a["grower"])


def test_a_do_command_runs_the_same_rules(tr, world, runner, svc) -> None:
    from trace.domain import accounts

    accounts.create_user(tr, SYSTEM, party_id=world["grower"], username="coop", password="x", password_hash="x")
    pesticide(tr, days={PEAR: 14})
    data = {"plot": world["plot"], "product": PEAR, "pesticide": "PD20080123", "dose": "2000倍液", "area_mu": "10",
            "occurred_at": "2025-09-10 08:00"}
    result = runner.invoke(args=["do", "farm.spray", "--as", "coop", "--input", json.dumps(data)])
    assert result.exit_code == 0, result.output
    harvest = {"plot": world["plot"], "product": PEAR, "quantity_g": 1000, "occurred_at": "2025-09-20 08:00"}
    result = runner.invoke(args=["do", "harvest", "--as", "coop", "--input", json.dumps(harvest)])
    assert result.exit_code == 2 and json.loads(result.output)["error"]["code"] == "gi.pre_harvest_interval"
    with read_session(svc.engine) as s:
        assert s.scalar(select(FarmRecord.pesticide)) == "PD20080123"


def test_time_rules_do_not_apply_to_older_entries() -> None:
    """Version 2 entries keep verifying as they did (by the rules in force when they were
    written): a grading recorded ten weeks after it happened, in the older encoding."""
    harvest = {"type": "harvest", "batch": {"id": 1, "lot": "PEAR-2025-00001"}, "product": "nanchangtan-soft-pear",
               "plot": 1, "quantity_g": 1000, "season": 2025, "occurred_at": "2025-09-20T01:00:00.000Z"}
    grade = events.dump(Grade(batch=1, grade="一级", occurred_at="2025-09-21T01:00:00.000Z"))
    bodies, prev = [], b""
    for i, e in enumerate([*_v2_world(), harvest, grade]):
        rec = {"event": e, "index": i, "party": 1 if e["type"] in ("harvest", "grade") else None,
               "prev": base64.b64encode(prev).decode() if i else "", "recorded_at": "2025-12-01T01:00:00.000Z",
               "user": None, "v": 2}
        body = canonical(rec)
        bodies.append((i, body))
        prev = leaf_hash(body)
    state = replay(iter(bodies))
    batch = state.batch(1)
    assert batch is not None and batch.grade == "一级"
    # The same grading in version 3 breaks the rule (and, after version 3 entries, so would version 2).
    late = canonical({**json.loads(bodies[-1][1]), "v": 3, "demo": False})
    with pytest.raises(ReplayError) as exc:
        replay(iter([*bodies[:-1], (len(bodies) - 1, late)]))
    assert exc.value.code == "time.too_late"


def _v2_world() -> list[dict[str, Any]]:
    spec = {"id": "nanchangtan-soft-pear", "name_zh": "南长滩软梨子", "name_en": "pear", "gtin": None, "gi_ref": "",
            "harvest_months": [9], "yield_g_per_mu": 10**9, "lot_prefix": "PEAR", "area": [{"township": "香山乡", "village": "*"}]}
    party = {"id": 1, "kind": "grower", "name": "合作社", "uscc": uscc(1), "township": "", "gi_logo": False}
    plot = {"id": 1, "party_id": 1, "township": "香山乡", "village": "南长滩村", "area_centimu": 1000, "location": None}
    return [{"type": "product.define", "product": spec}, {"type": "party.register", "party": party},
            {"type": "plot.register", "plot": plot}]
