"""`verify` proves that the log obeys the rules, not only that the tables match it.

For every rule, an entry that breaks it is written past the domain (tests/forge.py: through the
ledger with valid hashes, checkpoint and signature, and the state tables updated to match), and
`verify` must exit 1 naming that entry and the rule's code. Then the insider's tricks: change a
fact by SQL, let the domain act on it, put it back."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import t, uscc
from tests.field_cases import FIELD_BUILD_ONLY, FIELD_CASES
from tests.forge import forge
from trace.db import read_session, write_session
from trace.domain.actors import SYSTEM
from trace.domain.errors import Code, RuleViolation
from trace.domain.events import (
    Correct,
    Grade,
    Harvest,
    Inspect,
    Merge,
    NewLot,
    NewLotQuantity,
    NewPackage,
    Pack,
    Part,
    PartyCredit,
    PartyRegister,
    PartySpec,
    Place,
    PlotRegister,
    PlotSpec,
    Process,
    ProductDefine,
    ProductSpec,
    Recall,
    Receive,
    Sell,
    Ship,
    Split,
    UserCreate,
)
from trace.domain.identifiers import lot_code

T = "2025-09-21T01:00:00.000Z"  # a day after the test harvests
HEX = "ab" * 32

# A case gives (event, acting party, user, apply) and, for a rule in force from some encoding
# version on, that version (else the entry is written as version 2).
Case = Callable[[Any, dict[str, Any], Any], tuple[Any, ...]]
CASES: dict[str, Case] = {}


def case(code: str) -> Callable[[Case], Case]:
    """Register a scenario that ends with an entry breaking the rule `code`."""
    def register(fn: Case) -> Case:
        CASES[code] = fn
        return fn
    return register


def _harvest(tr, w, kg: int = 1000):  # type: ignore[no-untyped-def]
    return tr.register_harvest(w["actors"]["grower"], plot_id=w["plot"], product_id="nanchangtan-soft-pear",
                               quantity_g=kg * 1000, occurred_at=t(9, 20))


def _next_batch(svc) -> int:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return (s.execute(text("SELECT max(id) FROM batches")).scalar() or 0) + 1


def _next_package(svc) -> int:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return (s.execute(text("SELECT max(id) FROM packages")).scalar() or 0) + 1


def _pear_harvest_event(svc, w, *, kg: int = 10, plot: str = "plot", occurred: str = "2025-09-22T01:00:00.000Z",
                        product: str = "nanchangtan-soft-pear", prefix: str = "PEAR", season: int = 2025,
                        bid: int | None = None, lot: str | None = None) -> Harvest:  # type: ignore[no-untyped-def]
    bid = bid or _next_batch(svc)
    return Harvest(batch=NewLot(id=bid, lot=lot or lot_code(prefix, season, bid)), product=product, plot=w[plot],
                   quantity_g=kg * 1000, season=season, occurred_at=occurred)


def _grade(b: int, at: str = T) -> Grade:
    return Grade(batch=b, grade="一级", occurred_at=at)


# -- who acts ----------------------------------------------------------------------------------


@case("actor.no_party")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _grade(b.id), None, None, True  # the console grades: nobody holds a batch for it


@case("actor.unknown_user")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _grade(b.id), w["grower"], "u0123456789abcdef", True  # no user.create made this login


@case("party.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return PartyCredit(party_id=999, status="black", reason="x"), w["bureau"], None, False


@case("plot.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, {**w, "plot": 999}), w["grower"], None, False


@case("product.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, product="no-such-fruit"), w["grower"], None, False


@case("batch.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _grade(999), w["grower"], None, False


@case("role.regulator_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return PartyCredit(party_id=w["grower2"], status="black", reason="a rival"), w["grower"], None, True


@case("role.regulator_or_admin")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = PartySpec(id=8, kind="grower", name="假合作社", uscc=uscc(80), township="", gi_logo=True)
    return PartyRegister(party=spec), w["grower"], None, True


# -- custody, holds, credit, time ------------------------------------------------------------------


@case("custody.not_holder")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _grade(b.id), w["processor"], None, True


@case("custody.in_transit")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["processor"], occurred_at=t(9, 20, 12))
    return _grade(b.id), w["grower"], None, True


@case("custody.recalled")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.recall(w["actors"]["bureau"], b.id, reason="霉变", occurred_at=t(9, 20, 12))
    return _grade(b.id), w["grower"], None, True


@case("custody.inactive")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.sell(w["actors"]["grower"], b.id, loose_g=10_000, occurred_at=t(9, 20, 12))
    return _grade(b.id), w["grower"], None, True


@case("inspection.failed_hold")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.inspect(w["actors"]["bureau"], b.id, lab="站", report_no="R", passed=False, occurred_at=t(9, 20, 12))
    return Ship(batch=b.id, to_party=w["processor"], vehicle_commitment=None, occurred_at=T), w["grower"], None, True


@case("credit.black_listed")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    tr.set_credit(w["actors"]["bureau"], w["grower"], "black", "伪造检测报告")
    return _pear_harvest_event(svc, w), w["grower"], None, True


@case("time.future")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _grade(b.id, "2099-01-01T00:00:00.000Z"), w["grower"], None, True, {"recorded_at": "2025-12-01T01:00:00.000Z"}


@case("time.before_harvest")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _grade(b.id, "2025-09-01T00:00:00.000Z"), w["grower"], None, True


@case("time.year")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, occurred="1999-09-20T01:00:00.000Z", season=2000), w["grower"], None, True


# -- ids and lot codes -----------------------------------------------------------------------------


@case("log.id_sequence")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, bid=_next_batch(svc) + 5), w["grower"], None, True


@case("log.lot_code")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, lot="APL-2025-00001"), w["grower"], None, True


@case("log.season")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, season=2024, lot=lot_code("PEAR", 2024, _next_batch(svc))), w["grower"], None, True


# -- the catalogue and the register ------------------------------------------------------------------


def _product(**kw: Any) -> ProductDefine:
    spec = {"id": "x-fruit", "name_zh": "某果", "name_en": "X", "gtin": None, "gi_ref": "", "harvest_months": [9],
            "yield_g_per_mu": 1000, "lot_prefix": "XF", "area": [Place(township="香山乡", village="*")], **kw}
    return ProductDefine(product=ProductSpec(**spec))


@case("product.prefix_taken")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _product(lot_prefix="PEAR"), w["bureau"], None, False


@case("product.gtin_taken")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _product(gtin="06901234567892"), w["bureau"], None, False


@case("party.uscc_taken")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = PartySpec(id=8, kind="grower", name="又一个", uscc=uscc(1), township="", gi_logo=False)
    return PartyRegister(party=spec), w["bureau"], None, False


@case("uscc.check")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    good = uscc(81)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    return PartyRegister(party=PartySpec(id=8, kind="grower", name="X", uscc=bad, township="", gi_logo=False)), w["bureau"], None, True


@case("plot.growers_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = PlotSpec(id=4, party_id=w["processor"], township="香山乡", village="南长滩村", area_centimu=100, location=None)
    return PlotRegister(plot=spec), None, None, True


@case("plot.own_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    spec = PlotSpec(id=4, party_id=w["grower2"], township="迎水桥镇", village="夹道村", area_centimu=100000, location=None)
    return PlotRegister(plot=spec), w["grower"], None, True


@case("user.admin_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return UserCreate(user="u00000000000000aa", party_id=w["grower"], admin=False), w["processor"], None, True


@case("user.bureau_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    from trace.domain import accounts

    admin = accounts.create_user(tr, SYSTEM, party_id=None, username="ops", password="x", is_admin=True, password_hash="x")
    return UserCreate(user="u00000000000000bb", party_id=w["bureau"], admin=False), None, admin.pseudonym, True


@case("user.needs_party")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return UserCreate(user="u00000000000000cc", party_id=None, admin=False), None, None, True


@case("log.user_twice")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    from trace.domain import accounts

    login = accounts.create_user(tr, SYSTEM, party_id=w["grower"], username="coop", password="x", password_hash="x")
    return UserCreate(user=login.pseudonym, party_id=w["grower"], admin=True), None, None, False


# -- the GI rules at the orchard -------------------------------------------------------------------


@case("harvest.growers_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w), w["processor"], None, True


@case("harvest.not_own_plot")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w), w["grower2"], None, True


@case("gi.outside_area")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, plot="plot_out"), w["grower"], None, True


@case("gi.out_of_season")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, occurred="2025-06-01T01:00:00.000Z"), w["grower"], None, True


@case("gi.over_ceiling")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return _pear_harvest_event(svc, w, kg=20_001), w["grower"], None, True  # 10 mu x 2,000 kg


# -- inspections and recalls -----------------------------------------------------------------------


def _inspect(b: int, kind: str | None, passed: bool = True) -> Inspect:
    return Inspect(batch=b, kind=kind, lab="站", report_no="R", passed=passed, results=[], certificate_no="", occurred_at=T)


@case("inspection.not_custodian")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _inspect(b.id, "self"), w["processor"], None, True


@case("log.inspection_kind")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _inspect(b.id, "official"), w["grower"], None, True  # a grower's own check passed off as the bureau's


@case("recall.not_custodian")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return Recall(batch=b.id, reason="x", affected=[b.id], occurred_at=T), w["processor"], None, True


@case("recall.already")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.recall(w["actors"]["bureau"], b.id, reason="霉变", occurred_at=t(9, 20, 12))
    return Recall(batch=b.id, reason="again", affected=[b.id], occurred_at=T), w["bureau"], None, True


@case("log.recall_reach")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    kids = tr.split(w["actors"]["grower"], b.id, [100_000], occurred_at=t(9, 20, 12))
    # The recall leaves out the batch made from it: that fruit would stay on sale.
    del kids
    return Recall(batch=b.id, reason="霉变", affected=[b.id], occurred_at=T), w["bureau"], None, True


# -- mass balance, packages ------------------------------------------------------------------------


@case("mass.exceeds_loose")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    bid = _next_batch(svc)
    return Split(batch=b.id, children=[NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=20_000)],
                 occurred_at=T), w["grower"], None, False


@case("mass.merge_exceeds_input")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b1, b2 = _harvest(tr, w, kg=10), _harvest(tr, w, kg=10)
    bid = _next_batch(svc)
    return Merge(batches=[Part(id=b1.id, quantity_g=5000), Part(id=b2.id, quantity_g=5000)],
                 child=NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=50_000),
                 occurred_at=T), w["grower"], None, True


@case("merge.twice")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    bid = _next_batch(svc)
    return Merge(batches=[Part(id=b.id, quantity_g=1000), Part(id=b.id, quantity_g=1000)],
                 child=NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=2000),
                 occurred_at=T), w["grower"], None, False


@case("merge.mixed")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    dried = tr.process(w["actors"]["grower"], b.id, input_g=4000, output_g=1000, form="dried", occurred_at=t(9, 20, 12))
    bid = _next_batch(svc)
    return Merge(batches=[Part(id=b.id, quantity_g=1000), Part(id=dried.id, quantity_g=500)],
                 child=NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=1500),
                 occurred_at=T), w["grower"], None, True


def _process(b: int, bid: int, *, input_g: int = 1000, out: int = 500, permille: int | None = None) -> Process:
    return Process(batch=b, input_g=input_g, form="dried", method="", yield_permille=out * 1000 // input_g if permille is None else permille,
                   child=NewLotQuantity(id=bid, lot=lot_code("PEAR", 2025, bid), quantity_g=out), occurred_at=T)


@case("mass.exceeds_input")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    return _process(b.id, _next_batch(svc), input_g=1000, out=2000, permille=1000), w["grower"], None, True


@case("process.processors_only")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["cold"], occurred_at=t(9, 20, 12))
    tr.receive(w["actors"]["cold"], b.id, occurred_at=t(9, 20, 13))
    return _process(b.id, _next_batch(svc)), w["cold"], None, True


@case("log.yield")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    return _process(b.id, _next_batch(svc), permille=900), w["grower"], None, True


@case("mass.pack_exceeds_loose")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    first = _next_package(svc)
    return Pack(batch=b.id, occurred_at=T, packages=[NewPackage(id=first, net_g=20_000, serial_hash=HEX)]), w["grower"], None, False


@case("sell.not_unsold")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.pack(w["actors"]["grower"], b.id, count=2, net_g=1000, occurred_at=t(9, 20, 12))
    tr.sell(w["actors"]["grower"], b.id, package_ids=[1], occurred_at=t(9, 20, 13))
    return Sell(batch=b.id, packages=[1], loose_g=0, occurred_at=T), w["grower"], None, True  # sold twice


@case("mass.loose_exceeds")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    return Sell(batch=b.id, packages=[], loose_g=20_000, occurred_at=T), w["grower"], None, False


@case("sell.nothing")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    return Sell(batch=b.id, packages=[], loose_g=0, occurred_at=T), w["grower"], None, True


@case("sell.twice")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.pack(w["actors"]["grower"], b.id, count=2, net_g=1000, occurred_at=t(9, 20, 12))
    return Sell(batch=b.id, packages=[1, 1], loose_g=0, occurred_at=T), w["grower"], None, False


# -- custody changes ---------------------------------------------------------------------------------


@case("ship.to_self")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return Ship(batch=b.id, to_party=w["grower"], vehicle_commitment=None, occurred_at=T), w["grower"], None, False


@case("ship.target_kind")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return Ship(batch=b.id, to_party=w["bureau"], vehicle_commitment=None, occurred_at=T), w["grower"], None, True


@case("receive.packages")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.pack(w["actors"]["grower"], b.id, count=3, net_g=1000, occurred_at=t(9, 20, 11))
    tr.ship(w["actors"]["grower"], b.id, to_party=w["processor"], occurred_at=t(9, 20, 12))
    first = _next_package(svc) - 3
    # Three packages were shipped; the receipt counts two, so the third has vanished on the road.
    return Receive(batch=b.id, packages=[first, first + 1], occurred_at=T, certificate=None), w["processor"], None, True, 3


@case("role.not_its_work")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["cold"], occurred_at=t(9, 20, 12))
    tr.receive(w["actors"]["cold"], b.id, occurred_at=t(9, 20, 13))
    # A cold store issues coded packages: the packages a shopper scans would name a cold store as packer.
    first = _next_package(svc)
    return Pack(batch=b.id, occurred_at=T, packages=[NewPackage(id=first, net_g=1000, serial_hash=HEX)], shelf_life_days=None), \
        w["cold"], None, True, 3


@case("custody.not_addressee")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["processor"], occurred_at=t(9, 20, 12))
    return Receive(batch=b.id, occurred_at=T), w["retailer"], None, True  # a third party takes the fruit


# -- corrections -----------------------------------------------------------------------------------


def _harvest_entry(svc, batch_id: int) -> int:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return s.execute(text("SELECT created_entry FROM batches WHERE id = :b"), {"b": batch_id}).scalar_one()


@case("correct.no_such_entry")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return Correct(batch=b.id, target=0, changes={"note": "x"}, reason="x", occurred_at=T), w["grower"], None, False


@case("correct.not_yours")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.ship(w["actors"]["grower"], b.id, to_party=w["processor"], occurred_at=t(9, 20, 12))
    tr.receive(w["actors"]["processor"], b.id, occurred_at=t(9, 20, 13))
    return Correct(batch=b.id, target=_harvest_entry(svc, b.id), changes={"note": "x"}, reason="x", occurred_at=T), \
        w["processor"], None, True


@case("correct.fields")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    # The harvested quantity is not something a correction may change: the yield ceiling counted it.
    return Correct(batch=b.id, target=_harvest_entry(svc, b.id), changes={"quantity_g": 1}, reason="x", occurred_at=T), \
        w["grower"], None, True


# -- version 3: inspections that mean what they say, recall levels and holders' actions, credit days,
# logins bound to parties (a case returns the encoding version as a fifth item) ----------------------

V3 = 3


def _result(name: str, value: str, limit: str, passed: bool) -> Any:
    from trace.domain.events import Result

    return Result(name=name, value=value, limit=limit, unit="mg/kg", pass_=passed)


@case("inspection.official_hold")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    tr.inspect(w["actors"]["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="R1", passed=False,
               results=[{"name": "毒死蜱", "value": "0.08", "limit": "0.02", "pass": False}], occurred_at=t(9, 20, 12))
    # The holder's own passing check, as the issue saw it tried: it must not lift the bureau's hold.
    return _inspect(b.id, "self"), w["grower"], None, True, V3


@case("inspection.verdict_rows")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    ev = Inspect(batch=b.id, kind="self", lab="站", report_no="R", passed=True, certificate_no="", occurred_at=T,
                 results=[_result("毒死蜱", "0.08", "0.02", False)])
    return ev, w["grower"], None, True, V3


@case("inspection.row_over_limit")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    ev = Inspect(batch=b.id, kind="self", lab="站", report_no="R", passed=True, certificate_no="", occurred_at=T,
                 results=[_result("铅 Pb", "0.5", "0.1", True)])  # "within the limit" beside a value five times it
    return ev, w["grower"], None, True, V3


def _recall_v3(b: int, **kw: Any) -> Recall:
    from trace.domain.workdays import deadlines

    start, end = deadlines(kw.get("level") or 1, T)
    return Recall(**{"batch": b, "reason": "霉变", "affected": [b], "level": 1, "start_by": start, "end_by": end,
                     "occurred_at": T, **kw})


@case("recall.level")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    return _recall_v3(b.id, level=None), w["bureau"], None, True, V3


@case("log.recall_deadlines")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b = _harvest(tr, w)
    from trace.domain.workdays import deadlines

    _, end = deadlines(3, T)  # a level I recall given level III's thirty working days
    return _recall_v3(b.id, end_by=end), w["bureau"], None, True, V3


def _recalled(tr, w, *, packages: int = 4) -> tuple[Any, int]:  # type: ignore[no-untyped-def]
    b = _harvest(tr, w, kg=10)
    tr.pack(w["actors"]["grower"], b.id, count=packages, net_g=1000, occurred_at=t(9, 20, 11))
    tr.recall(w["actors"]["bureau"], b.id, reason="霉变", level=1, occurred_at=t(9, 20, 12))
    with read_session(tr.engine) as s:
        entry = s.execute(text("SELECT recall_entry FROM batches WHERE id = :b"), {"b": b.id}).scalar_one()
    return b, entry


def _action(recall: int, b: int, **kw: Any) -> Any:
    from trace.domain.events import RecallAction

    return RecallAction(**{"recall": recall, "batch": b, "action": "off_sale", "packages": 1, "loose_g": 0, "note": "",
                           "occurred_at": T, **kw})


@case("recall.no_task")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b, entry = _recalled(tr, w)
    return _action(entry - 1, b.id), w["grower"], None, False, V3  # the pack entry is not a recall


@case("recall.not_holder")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b, entry = _recalled(tr, w)
    return _action(entry, b.id), w["retailer"], None, True, V3


@case("recall.action_empty")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b, entry = _recalled(tr, w)
    return _action(entry, b.id, packages=0), w["grower"], None, True, V3


@case("recall.action_exceeds")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    b, entry = _recalled(tr, w, packages=4)
    tr.recall_action(w["actors"]["grower"], entry, b.id, action="off_sale", packages=3, occurred_at=t(9, 20, 13))
    return _action(entry, b.id, packages=2), w["grower"], None, True, V3  # only one is still out


@case("credit.start_missing")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    return PartyCredit(party_id=w["grower"], status="black", reason="x", start=None, end=None), w["bureau"], None, True, V3


@case("credit.dates")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    ev = PartyCredit(party_id=w["grower"], status="black", reason="x", start="2025-09-20", end="2025-09-01")
    return ev, w["bureau"], None, True, V3


@case("user.not_found")
def _(tr, w, svc):  # type: ignore[no-untyped-def]
    from trace.domain.events import UserBind

    return UserBind(user="u00000000000000dd", party_id=w["grower"]), None, None, False, V3


CASES.update(FIELD_CASES)  # the field end's cases (tests/field_cases.py)
# Raised while a command is built from its input, before there is an event: an entry cannot break them.
BUILD_ONLY = {"input.coordinates_pair", "user.taken"} | FIELD_BUILD_ONLY


def test_every_rule_has_a_case() -> None:
    """Every refusal the rule book declares is either proven by a forged entry below or is one a
    command raises while reading its input (no entry can carry it)."""
    declared = {c for c, code in Code.registry.items() if code.module.startswith("trace.domain.rules")}
    declared |= {"uscc.check"}  # the credit code's check character, checked again on replay
    assert declared - set(CASES) == BUILD_ONLY
    assert not set(CASES) - declared - {"uscc.check"}


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_forged_entry_that_breaks_a_rule_is_named(code: str, tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(args=["verify"]).exit_code == 0
    event, party, user, apply, *how = CASES[code](tr, world, svc)  # how: the entry's version, or forge's options
    opts = (how[0] if isinstance(how[0], dict) else {"version": how[0]}) if how else {}
    index = forge(svc, event, party=party, user=user, apply=apply, **opts)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert f"entry {index}: {code}:" in result.output and f"first bad entry: {index}" in result.output
    assert "Traceback" not in result.output


def test_an_undecodable_entry_is_named_not_a_traceback(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    b = _harvest(tr, world)
    index = forge(svc, {"type": "grade", "batch": b.id, "grade": "特级", "occurred_at": T, "approved_by": "me"},
                  party=world["grower"], apply=False)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and f"entry {index}: log.malformed:" in result.output and "approved_by" in result.output


def test_an_error_while_replaying_names_the_entry(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    """Whatever breaks while an entry is checked or applied is a verify failure naming it."""
    b = _harvest(tr, world)
    index = forge(svc, {"type": "correct", "batch": b.id, "target": _harvest_entry(svc, b.id),
                        "changes": {"occurred_at": "the day before yesterday"}, "reason": "x", "occurred_at": T},
                  party=world["grower"], apply=False)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert f"entry {index}: replay.error:" in result.output and "Traceback" not in result.output


# -- an insider with write access to the database -----------------------------------------------------


def _sql(svc, statement: str, **params: Any) -> None:  # type: ignore[no-untyped-def]
    with write_session(svc.engine) as s:
        s.execute(text(statement), params)


def _verify_names(runner, index: int, code: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert f"entry {index}: {code}:" in result.output, result.output


def _last(svc) -> int:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return s.execute(text("SELECT max(idx) FROM log_entries")).scalar_one()


def test_insider_raises_a_plot_area_to_launder_fruit(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    _sql(svc, "UPDATE plots SET area_centimu = 100000 WHERE id = :p", p=world["plot"])  # 10 mu -> 1,000 mu
    tr.register_harvest(a["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                        quantity_g=500_000_000, occurred_at=t(9, 20))  # 500 t, far over 10 mu x 2 t
    index = _last(svc)
    _sql(svc, "UPDATE plots SET area_centimu = 1000 WHERE id = :p", p=world["plot"])
    _verify_names(runner, index, "gi.over_ceiling")


def test_insider_lets_a_black_listed_grower_harvest(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    tr.set_credit(world["actors"]["bureau"], world["grower"], "black", "伪造产地证明")
    _sql(svc, "UPDATE parties SET credit_status = 'normal' WHERE id = :p", p=world["grower"])
    _harvest(tr, world)
    index = _last(svc)
    _sql(svc, "UPDATE parties SET credit_status = 'black' WHERE id = :p", p=world["grower"])
    _verify_names(runner, index, "credit.black_listed")


def test_insider_packs_and_ships_a_failed_batch(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = _harvest(tr, world)
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="R1", passed=False, occurred_at=t(9, 21))
    _sql(svc, "UPDATE batches SET inspection = 'passed' WHERE id = :b", b=b.id)
    tr.pack(a["grower"], b.id, count=2, net_g=1000, occurred_at=t(9, 22))
    pack = _last(svc)
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 23))
    _sql(svc, "UPDATE batches SET inspection = 'failed' WHERE id = :b", b=b.id)
    _verify_names(runner, pack, "inspection.failed_hold")


def test_insider_ships_a_batch_it_never_held(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = _harvest(tr, world)
    _sql(svc, "UPDATE batches SET custodian_id = :p WHERE id = :b", p=world["retailer"], b=b.id)
    tr.ship(a["retailer"], b.id, to_party=world["carrier"], occurred_at=t(9, 21))
    index = _last(svc)
    _sql(svc, "UPDATE batches SET custodian_id = :p WHERE id = :b", p=world["grower"], b=b.id)
    result = runner.invoke(args=["verify"])
    # The ship is the first entry that breaks a rule (the tables are made to match again after it).
    assert result.exit_code == 1 and f"entry {index}: custody.not_holder:" in result.output, result.output


def test_insider_splits_more_than_the_batch_holds(tr, world, svc, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = _harvest(tr, world, kg=10)
    _sql(svc, "UPDATE batches SET quantity_g = 1000000000 WHERE id = :b", b=b.id)
    tr.split(a["grower"], b.id, [500_000_000], occurred_at=t(9, 21))
    index = _last(svc)
    _sql(svc, "UPDATE batches SET quantity_g = 10000 WHERE id = :b", b=b.id)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and f"entry {index}: mass.exceeds_loose:" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_refused_forgery_leaves_the_live_rules_unmoved(tr, world, svc, snapshot) -> None:  # type: ignore[no-untyped-def]
    """The same check runs live: the domain itself refuses what verify would name."""
    b = _harvest(tr, world)
    before = snapshot()
    with pytest.raises(RuleViolation) as exc:
        tr.ship(world["actors"]["grower"], b.id, to_party=world["bureau"])
    assert exc.value.code == "ship.target_kind" and snapshot() == before
