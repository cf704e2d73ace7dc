"""Forged entries that break the field end's rules (encoding version 3), for the rule book's
test (tests/test_rule_book.py adds FIELD_CASES to its cases): each returns the event, the party
and user it claims, whether the state tables follow it, and how it is written (version 3, and
when it says it was recorded)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from tests.conftest import t, uscc
from trace.db import read_session
from trace.domain.actors import SYSTEM
from trace.domain.events import (
    BatchPlatformCode,
    CertificateIssue,
    CertificationAdd,
    CertificationRevoke,
    CertificationSpec,
    Division,
    DivisionDefine,
    FarmSpray,
    GIAuthorise,
    GIRegistration,
    GIRevoke,
    Grade,
    Harvest,
    Interval,
    LateApprove,
    NewCertificate,
    NewLot,
    NewLotQuantity,
    PartyPlatformCode,
    PartyRegister,
    PartySpec,
    PesticideDefine,
    PesticideSpec,
    Place,
    PlotRegister,
    PlotSpec,
    ProductDefine,
    ProductSpec,
    Receive,
    Split,
)
from trace.domain.identifiers import lot_code

V3 = {"version": 3}
T = "2025-09-21T01:00:00.000Z"  # a day after the test harvests
PEAR = "nanchangtan-soft-pear"
REG = "PD20080123"
HEX = "cd" * 32
Case = Callable[[Any, dict[str, Any], Any], tuple[Any, ...]]
FIELD_CASES: dict[str, Case] = {}
# Refusals a command raises while reading its input (no entry can carry them).
FIELD_BUILD_ONLY = {"party.uscc_required", "party.id_number_required", "party.person_taken", "plot.place_required"}


def case(code: str) -> Callable[[Case], Case]:
    """Register a scenario ending with an entry that breaks `code`."""
    def register(fn: Case) -> Case:
        FIELD_CASES[code] = fn
        return fn
    return register


def _next(svc, table: str) -> int:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return (s.execute(text(f"SELECT max(id) FROM {table}")).scalar() or 0) + 1  # noqa: S608 - a constant


def _harvest(tr, w, kg: int = 1000, when=None):  # type: ignore[no-untyped-def]
    return tr.register_harvest(w["actors"]["grower"], plot_id=w["plot"], product_id=PEAR, quantity_g=kg * 1000,
                               occurred_at=when or t(9, 20))


def _pesticide(tr, *, banned: bool = False, days: int = 14, reg: str = REG) -> None:  # type: ignore[no-untyped-def]
    tr.run("pesticide.define", SYSTEM, {"reg_no": reg, "name": "吡虫啉" if not banned else "甲胺磷",
                                        "active_ingredient": "imidacloprid" if not banned else "methamidophos",
                                        "intervals": [] if banned else [[PEAR, days]], "banned": banned})


def _spray(tr, w, when, reg: str = REG):  # type: ignore[no-untyped-def]
    return tr.run("farm.spray", w["actors"]["grower"], {"plot": w["plot"], "product": PEAR, "pesticide": reg,
                                                        "dose": "2000倍液", "area_mu": "10", "occurred_at": when})


def _divisions(tr) -> None:  # type: ignore[no-untyped-def]
    tr.run("division.define", SYSTEM, {"divisions": [
        {"code": "640502000000", "name": "沙坡头区"}, {"code": "640502108000", "name": "迎水桥镇"},
        {"code": "640502108216", "name": "南长滩村"}, {"code": "640502200000", "name": "香山乡"}]})


def _certify(tr, w, batch_id: int) -> int:  # type: ignore[no-untyped-def]
    return tr.run("certificate.issue", w["actors"]["grower"], {"batch": batch_id, "basis": "control",
                                                               "occurred_at": t(9, 20, 10)}).event.certificate.id


def _issue(svc, batch_id: int, basis: str = "control", quantity: int = 1_000_000, sources=()) -> CertificateIssue:  # type: ignore[no-untyped-def]
    return CertificateIssue(certificate=NewCertificate(id=_next(svc, "certificates"), batch=batch_id, basis=basis,  # type: ignore[arg-type]
                                                       quantity_g=quantity, sources=list(sources)), occurred_at=T)


def _spray_event(w, *, reg: str = REG, area: int = 1000, alerts=(), plot: str = "plot") -> FarmSpray:  # type: ignore[no-untyped-def]
    return FarmSpray(plot=w[plot], product=PEAR, pesticide=reg, dose="2000倍液", area_centimu=area, target="梨木虱",
                     operator=None, alerts=list(alerts), occurred_at=T)


def _party(kind: str = "grower", **kw: Any) -> PartyRegister:
    spec = {"id": 8, "kind": kind, "name": "张*", "uscc": None, "township": "香山乡", "gi_logo": False, "form": "person",
            "person": HEX, "platform_code": None, **kw}
    return PartyRegister(party=PartySpec(**spec))


def _plot(w, **kw: Any) -> PlotRegister:  # type: ignore[no-untyped-def]
    spec = {"id": 4, "party_id": w["grower"], "township": "迎水桥镇", "village": "南长滩村", "area_centimu": 500,
            "location": None, "division": "640502108216", **kw}
    return PlotRegister(plot=PlotSpec(**spec))


# -- times -----------------------------------------------------------------------------------------


@case("time.before_previous")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.grade(w["actors"]["grower"], b.id, grade="一级", occurred_at=t(9, 22))
    # A grading slipped in before the grading the batch already had.
    return Grade(batch=b.id, grade="特级", occurred_at=T), w["grower"], None, True, {**V3, "recorded_at": "2025-09-22T02:00:00.000Z"}


@case("time.too_late")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return Grade(batch=b.id, grade="一级", occurred_at=T), w["grower"], None, True, {**V3, "recorded_at": "2025-10-05T01:00:00.000Z"}


@case("log.version_order")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    # Written in version 2, whose time rules were laxer, after entries of version 3.
    return Grade(batch=b.id, grade="一级", occurred_at=T), w["grower"], None, True, {"version": 2, "recorded_at": "2025-12-01T01:00:00.000Z"}


# -- farming records -------------------------------------------------------------------------------


@case("farm.not_own_plot")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _pesticide(tr)
    return _spray_event(w), w["grower2"], None, True, {**V3, "recorded_at": T}


@case("farm.pesticide_unknown")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _spray_event(w, reg="PD99999999"), w["grower"], None, True, {**V3, "recorded_at": T}


@case("farm.area_exceeds")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _pesticide(tr)
    return _spray_event(w, area=2000), w["grower"], None, True, {**V3, "recorded_at": T}  # the plot has 10 mu


@case("log.spray_alerts")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _pesticide(tr, banned=True, reg="PD19990001")
    # A banned pesticide, recorded without the alert to the bureau.
    return _spray_event(w, reg="PD19990001"), w["grower"], None, True, {**V3, "recorded_at": T}


@case("gi.pre_harvest_interval")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _pesticide(tr, days=14)
    _spray(tr, w, t(9, 10))
    bid = _next(svc, "batches")
    ev = Harvest(batch=NewLot(id=bid, lot=lot_code("PEAR", 2025, bid)), product=PEAR, plot=w["plot"], quantity_g=10_000,
                 season=2025, occurred_at="2025-09-20T01:00:00.000Z")  # 10 days after a spray with a 14-day interval
    return ev, w["grower"], None, True, {**V3, "recorded_at": "2025-09-20T01:00:00.000Z"}


# -- certificates ----------------------------------------------------------------------------------


@case("certificate.already")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    _certify(tr, w, b.id)
    return _issue(svc, b.id), w["grower"], None, True, {**V3, "recorded_at": T}


@case("certificate.banned_used")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _pesticide(tr, banned=True, reg="PD19990001")
    _spray(tr, w, t(9, 1), reg="PD19990001")  # recorded, with its alert
    b = _harvest(tr, w)
    return _issue(svc, b.id), w["grower"], None, True, {**V3, "recorded_at": T}


@case("certificate.failed")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.inspect(w["actors"]["bureau"], b.id, lab="站", report_no="R", passed=False, occurred_at=t(9, 20, 12))
    return _issue(svc, b.id), w["grower"], None, True, {**V3, "recorded_at": T}


@case("certificate.no_official_test")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.inspect(w["actors"]["grower"], b.id, lab="自检室", report_no="S1", passed=True, occurred_at=t(9, 20, 12))
    return _issue(svc, b.id, "commissioned_test"), w["grower"], None, True, {**V3, "recorded_at": T}


@case("certificate.no_own_test")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _issue(svc, b.id, "own_test"), w["grower"], None, True, {**V3, "recorded_at": T}


@case("log.certificate_quantity")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _issue(svc, b.id, quantity=5_000_000), w["grower"], None, True, {**V3, "recorded_at": T}


@case("log.certificate_chain")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    _certify(tr, w, b.id)
    bid = _next(svc, "batches")
    # The new lot leaves without a certificate linking its parent's.
    ev = Split(batch=b.id, children=[NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=100_000)],
               occurred_at=T, certificates=[])
    return ev, w["grower"], None, True, {**V3, "recorded_at": T}


@case("log.certificate_receipt")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    _certify(tr, w, b.id)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["processor"], occurred_at=t(9, 20, 12))
    return Receive(batch=b.id, packages=[], occurred_at=T, certificate=None), w["processor"], None, True, {**V3, "recorded_at": T}


# -- codes, the GI logo, certifications, approvals -------------------------------------------------


@case("party.not_own")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return PartyPlatformCode(party_id=w["grower2"], code="ZT-640502-0001"), w["grower"], None, True, {**V3, "recorded_at": T}


@case("batch.code_not_holder")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return BatchPlatformCode(batch=b.id, code="ZS-0001"), w["processor"], None, True, {**V3, "recorded_at": T}


def _authorise(w, party: str = "processor", until: str | None = "2027-12-31") -> GIAuthorise:  # type: ignore[no-untyped-def]
    return GIAuthorise(party_id=w[party], product=PEAR, announcement="中卫市梨枣协会公告 2025 第 1 号", valid_from="2025-01-01",
                       valid_until=until)


@case("gi.authorise_regulator")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _authorise(w, "bureau"), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("dates.order")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _authorise(w, until="2024-12-31"), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("gi.no_authorisation")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return GIRevoke(authorisation=0, reason="x"), w["bureau"], None, False, {**V3, "recorded_at": T}  # entry 0 defines a product


@case("revoked.already")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    done = tr.run("gi.authorise", w["actors"]["bureau"], {"party": w["processor"], "product": PEAR,
                                                          "announcement": "公告 1", "valid_from": "2025-01-01"})
    tr.run("gi.revoke", w["actors"]["bureau"], {"authorisation": done.entry, "reason": "停止使用"})
    return GIRevoke(authorisation=done.entry, reason="again"), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("certification.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return CertificationRevoke(id=99, reason="x"), w["bureau"], None, False, {**V3, "recorded_at": T}


@case("certification.plot_of_another")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = CertificationSpec(id=1, party_id=w["grower"], plot=w["plot2"], scheme="green_food", number="LB-1", issuer="中国绿色食品发展中心",
                             scope="梨", valid_from="2025-01-01", valid_until="2027-12-31")
    return CertificationAdd(certification=spec), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("late.window")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return LateApprove(party_id=w["grower"], batch=None, plot=None, earliest="2025-09-01T00:00:00.000Z",
                       until="2026-03-01T00:00:00.000Z", reason="补录"), w["bureau"], None, True, {**V3, "recorded_at": T}


# -- divisions, plots, products, persons -----------------------------------------------------------


@case("division.level")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return DivisionDefine(divisions=[Division(code="640000000000", name="宁夏")]), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("division.parent")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    ev = DivisionDefine(divisions=[Division(code="640502108216", name="南长滩村")])  # its township is not on the list
    return ev, w["bureau"], None, True, {**V3, "recorded_at": T}


@case("division.twice")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    ev = DivisionDefine(divisions=[Division(code="640502000000", name="沙坡头区"), Division(code="640502000000", name="沙坡头")])
    return ev, w["bureau"], None, False, {**V3, "recorded_at": T}


@case("pesticide.interval_twice")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = PesticideSpec(reg_no=REG, name="吡虫啉", active_ingredient="imidacloprid", banned=False,
                         intervals=[Interval(product=PEAR, days=14), Interval(product=PEAR, days=7)])
    return PesticideDefine(pesticide=spec), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("log.division_names")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _divisions(tr)
    return _plot(w, township="香山乡"), w["grower"], None, True, {**V3, "recorded_at": T}  # the code says 迎水桥镇


@case("plot.division_unknown")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _plot(w), w["grower"], None, True, {**V3, "recorded_at": T}


@case("plot.division_level")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _divisions(tr)
    return _plot(w, division="640502200000", township="香山乡", village="香山乡"), w["grower"], None, True, {**V3, "recorded_at": T}


def _product(**kw: Any) -> ProductDefine:
    spec = {"id": "x-fruit", "name_zh": "某果", "name_en": "X", "gtin": None, "gi_ref": "", "harvest_months": [9],
            "yield_g_per_mu": 1000, "lot_prefix": "XF", "area": [Place(township="香山乡", village="*", code="640502200000")],
            "registration": GIRegistration(kind=None, number=None, holder=None, date=None, spec_ref=None), **kw}
    return ProductDefine(product=ProductSpec(**spec))


@case("product.area_code_unknown")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _product(), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("log.gi_ref")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    _divisions(tr)
    reg = GIRegistration(kind="agi", number="AGI01791", holder=None, date=None, spec_ref=None)
    return _product(gi_ref="AGI99999", registration=reg), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("log.person_commitment")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _party(person=None), w["bureau"], None, True, {**V3, "recorded_at": T}  # a person the log commits to nothing of


@case("party.person_uscc")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _party(uscc=uscc(90)), w["bureau"], None, True, {**V3, "recorded_at": T}


@case("party.person_kind")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _party(kind="processor"), w["bureau"], None, True, {**V3, "recorded_at": T}
