"""The regulator's desk in the domain, accepted and refused, on every engine: inspections that
mean what they say, recall levels, deadlines and holders' actions, credit days, and logins the
administrator cannot touch when they are the bureau's."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.conftest import t
from trace.clock import china_date
from trace.db import read_session
from trace.domain import accounts, events
from trace.domain.actors import SYSTEM, Actor
from trace.domain.errors import DomainError
from trace.domain.queries import recalls as recall_queries
from trace.domain.rules.inspections import over_limit
from trace.domain.tables.batches import Batch, RecallTask
from trace.domain.tables.parties import User
from trace.domain.workdays import add_working_days, deadlines, working_days_between
from trace.ledger.models import LogEntry

ROW_BAD = {"name": "毒死蜱 chlorpyrifos", "value": "0.08", "limit": "0.02", "unit": "mg/kg", "pass": False}
ROW_OK = {"name": "铅 Pb", "value": "<0.02", "limit": "0.1", "unit": "mg/kg", "pass": True}


def refused(code: str, fn: Any, snapshot: Any) -> DomainError:
    """Run `fn`, which must be refused with `code` and change nothing."""
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        fn()
    assert exc.value.code == code, (exc.value.code, exc.value.en)
    assert snapshot() == before
    assert exc.value.zh and exc.value.en  # a clear message in both languages
    return exc.value


def _last_event(svc: Any) -> dict[str, Any]:
    with read_session(svc.engine) as s:
        body = s.scalars(select(LogEntry.body).order_by(LogEntry.idx.desc()).limit(1)).one()
    return events.decode(bytes(body)).model_dump(by_alias=True)


# -- inspections -------------------------------------------------------------------------------------


def test_only_the_bureau_clears_the_bureau_s_failure(tr, world, harvest, snapshot, runner) -> None:  # type: ignore[no-untyped-def]
    """The issue's processor: after the bureau failed a batch, its holder's own passing check and
    its packing and shipping are refused; the bureau's new official sampling clears it."""
    a = world["actors"]
    b = harvest(100)
    tr.ship(a["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 20, 12))
    tr.receive(a["processor"], b.id, occurred_at=t(9, 20, 14))
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="JD-1", passed=False, results=[ROW_BAD],
               occurred_at=t(9, 21))
    refused("inspection.official_hold", lambda: tr.inspect(a["processor"], b.id, lab="厂内化验室", report_no="Z-1",
                                                           passed=True, results=[ROW_OK], occurred_at=t(9, 22)), snapshot)
    refused("inspection.failed_hold", lambda: tr.pack(a["processor"], b.id, count=2, net_g=1000), snapshot)
    refused("inspection.failed_hold", lambda: tr.ship(a["processor"], b.id, to_party=world["cold"]), snapshot)
    # An own failing check is accepted, and does not turn the bureau's hold into the holder's.
    tr.inspect(a["processor"], b.id, lab="厂内化验室", report_no="Z-2", passed=False, results=[ROW_BAD], occurred_at=t(9, 22))
    refused("inspection.official_hold", lambda: tr.inspect(a["processor"], b.id, lab="厂内化验室", report_no="Z-3",
                                                           passed=True, occurred_at=t(9, 23)), snapshot)
    tr.inspect(a["bureau"], b.id, lab="宁夏农产品质量检测中心", report_no="JD-2", passed=True, results=[ROW_OK],
               occurred_at=t(9, 24))
    tr.pack(a["processor"], b.id, count=2, net_g=1000, occurred_at=t(9, 25))
    assert runner.invoke(args=["verify"]).exit_code == 0


def test_a_holder_clears_its_own_failure(tr, world, harvest, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = harvest(100)
    tr.inspect(a["grower"], b.id, lab="站", report_no="S-1", passed=False, results=[ROW_BAD], occurred_at=t(9, 21))
    tr.inspect(a["grower"], b.id, lab="站", report_no="S-2", passed=True, results=[ROW_OK], occurred_at=t(9, 22))
    with read_session(tr.engine) as s:
        batch = s.get_one(Batch, b.id)
        assert (batch.inspection, batch.inspection_kind) == ("passed", "self")
    assert runner.invoke(args=["verify"]).exit_code == 0


def test_an_official_failure_follows_the_fruit_into_new_lots(tr, world, harvest, snapshot) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b1, b2 = harvest(100), harvest(100)
    tr.inspect(a["bureau"], b1.id, lab="中心", report_no="JD-3", passed=False, results=[ROW_BAD], occurred_at=t(9, 21))
    tr.inspect(a["grower"], b2.id, lab="站", report_no="S-3", passed=True, results=[ROW_OK], occurred_at=t(9, 21))
    kid = tr.split(a["grower"], b1.id, [10_000], occurred_at=t(9, 22))[0]
    merged = tr.merge(a["grower"], [(b1.id, 10_000), (b2.id, 10_000)], occurred_at=t(9, 22))
    for bid in (kid.id, merged.id):
        with read_session(tr.engine) as s:
            assert (s.get_one(Batch, bid).inspection, s.get_one(Batch, bid).inspection_kind) == ("failed", "official")
        refused("inspection.official_hold", lambda bid=bid: tr.inspect(a["grower"], bid, lab="站", report_no="S-4",
                                                                       passed=True, occurred_at=t(9, 23)), snapshot)


def test_a_verdict_agrees_with_its_rows(tr, world, harvest, snapshot) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = harvest(100)
    err = refused("inspection.verdict_rows", lambda: tr.inspect(a["grower"], b.id, lab="站", report_no="R", passed=True,
                                                                results=[ROW_OK, ROW_BAD], occurred_at=t(9, 21)), snapshot)
    assert "毒死蜱" in err.zh and err.field == "passed"
    # A row that says "within the limit" beside a value over it.
    refused("inspection.row_over_limit", lambda: tr.inspect(a["grower"], b.id, lab="站", report_no="R", passed=True, results=[
        {"name": "铅 Pb", "value": "0.5", "limit": "0.1", "unit": "mg/kg", "pass": True}], occurred_at=t(9, 21)), snapshot)
    # A failure with every row within its limit is the lab's verdict to give (appearance, rot ...).
    tr.inspect(a["grower"], b.id, lab="站", report_no="R", passed=False, results=[ROW_OK], occurred_at=t(9, 21))


def test_rows_are_not_within_the_limit_by_default(tr, world, harvest, snapshot) -> None:  # type: ignore[no-untyped-def]
    b = harvest(100)
    err = refused("input.required", lambda: tr.run("inspect", world["actors"]["grower"], {
        "batch": b.id, "lab": "站", "report_no": "R", "passed": "yes",
        "results": [{"name": "铅 Pb", "value": "<0.02", "limit": "0.1"}]}), snapshot)
    assert err.field == "results.0.pass"


@pytest.mark.parametrize(("value", "limit", "over"), [
    ("0.08", "0.02", True), ("<0.01", "0.02", False), ("0.02", "0.02", False), ("≤0.05", "0.02", False),
    ("0.021", "≤0.02", True), ("未检出", "0.02", False), ("", "0.02", False), ("0.5", "", False), ("0.3", "≥0.2", False),
])
def test_a_value_is_over_its_limit_only_when_it_certainly_is(value: str, limit: str, over: bool) -> None:
    assert over_limit(value, limit) is over


def test_older_inspections_are_judged_by_their_own_rules(tr, world, harvest, svc) -> None:  # type: ignore[no-untyped-def]
    """A pass beside a failing row, as entries of version 2 were written before this rule: the
    rules accept it in version 2 and refuse it in version 3 (checked against the replayed state,
    as verify does)."""
    from trace.clock import parse_log_time
    from trace.domain import rules
    from trace.domain.events import Inspect, Result
    from trace.domain.replay import replay
    from trace.domain.rules.context import Context

    b = harvest(100)
    ev = Inspect(batch=b.id, kind="self", lab="站", report_no="R", passed=True, certificate_no="",
                 occurred_at="2025-09-21T01:00:00.000Z",
                 results=[Result(name="毒死蜱", value="0.08", limit="0.02", unit="mg/kg", pass_=False)])
    with read_session(svc.engine) as s:
        bodies = list(s.execute(select(LogEntry.idx, LogEntry.body).order_by(LogEntry.idx)).all())
    state = replay([(i, bytes(body)) for i, body in bodies])
    now = "2025-09-21T02:00:00.000Z"
    for version in (2, 3):
        ctx = Context(world["grower"], None, False, parse_log_time(now), now, len(bodies), version, version >= 3)
        if version == 2:
            rules.check(state, ev, ctx)  # the rules then in force: accepted
        else:
            with pytest.raises(DomainError) as err:
                rules.check(state, ev, ctx)
            assert err.value.code == "inspection.verdict_rows"


def test_an_older_inspection_after_newer_entries_is_named_by_verify(tr, world, harvest, svc, runner) -> None:  # type: ignore[no-untyped-def]
    """Written in version 2 after the log's version 3 entries, to dodge the rule, it is named."""
    from tests.forge import forge
    from trace.domain.events import Inspect, Result

    b = harvest(100)
    ev = Inspect(batch=b.id, kind="self", lab="站", report_no="R", passed=True, certificate_no="",
                 occurred_at="2025-09-21T01:00:00.000Z",
                 results=[Result(name="毒死蜱", value="0.08", limit="0.02", unit="mg/kg", pass_=False)])
    index = forge(svc, ev, party=world["grower"], version=2)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and f"entry {index}: log.version_order:" in result.output, result.output


# -- recalls ----------------------------------------------------------------------------------------------


def test_working_days_are_monday_to_friday() -> None:
    friday = date(2025, 9, 19)
    assert add_working_days(friday, 1) == date(2025, 9, 22)  # the Monday after
    assert add_working_days(friday, 10) == date(2025, 10, 3)
    assert working_days_between(friday, date(2025, 9, 22)) == 1
    assert working_days_between(date(2025, 9, 22), friday) == -1


@pytest.mark.parametrize(("level", "start", "end"), [
    (1, "2025-09-20T01:00:00.000Z", "2025-10-03T15:59:59.999Z"),  # Friday 9:00 Beijing + 24 h; 10 working days
    (2, "2025-09-21T01:00:00.000Z", "2025-10-17T15:59:59.999Z"),
    (3, "2025-09-22T01:00:00.000Z", "2025-10-31T15:59:59.999Z"),
])
def test_recall_deadlines_by_level(level: int, start: str, end: str) -> None:
    assert deadlines(level, "2025-09-19T01:00:00.000Z") == (start, end)


def _recall_world(tr, world, harvest):  # type: ignore[no-untyped-def]
    """A harvest split in two: one lot packed at the retailer, the other at the cold store."""
    a = world["actors"]
    b = harvest(100)
    left, right = tr.split(a["grower"], b.id, [40_000, 40_000], occurred_at=t(9, 20, 10))
    packed = {}
    for lot, to in ((left, "retailer"), (right, "cold")):
        packed[lot.id] = tr.pack(a["grower"], lot.id, count=10, net_g=2000, occurred_at=t(9, 20, 11))
        tr.ship(a["grower"], lot.id, to_party=world[to], occurred_at=t(9, 20, 12))
        tr.receive(a[to], lot.id, occurred_at=t(9, 20, 13))
    pk = tr.run("sell", a["retailer"], {"batch": left.id, "packages": [p.id for p, _ in packed[left.id][:4]],
                                        "occurred_at": t(9, 20, 14)})
    assert len(pk.event.packages) == 4  # type: ignore[attr-defined]
    return b, left, right


def test_a_recall_needs_a_level_and_keeps_its_deadlines(tr, world, harvest, svc, snapshot) -> None:  # type: ignore[no-untyped-def]
    b = harvest(100, when=t(9, 18))
    refused("input.required", lambda: tr.run("recall", world["actors"]["bureau"], {"batch": b.id, "reason": "霉变"}), snapshot)
    refused("input.choice", lambda: tr.run("recall", world["actors"]["bureau"], {"batch": b.id, "reason": "霉变", "level": "4"}),
            snapshot)
    tr.recall(world["actors"]["bureau"], b.id, reason="霉变", level=1, occurred_at=t(9, 19, 9))
    ev = _last_event(svc)["event"]
    assert (ev["level"], ev["start_by"], ev["end_by"]) == (1, "2025-09-20T01:00:00.000Z", "2025-10-03T15:59:59.999Z")


def test_holders_record_what_they_did_until_nothing_is_out(tr, world, harvest, svc, snapshot, runner) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b, left, right = _recall_world(tr, world, harvest)
    tr.recall(a["bureau"], b.id, reason="抽检霉变", level=2, occurred_at=t(9, 21))
    with read_session(svc.engine) as s:
        entry = s.scalar(select(Batch.recall_entry).where(Batch.id == b.id))
        tasks = {r.batch_id: r for r in s.scalars(select(RecallTask).where(RecallTask.recall_entry == entry))}
    assert set(tasks) == {b.id, left.id, right.id}
    assert (tasks[left.id].packages, tasks[left.id].sold, tasks[left.id].out) == (10, 4, 6)
    assert (tasks[right.id].out, tasks[b.id].out_g) == (10, 20_000)  # the harvest still holds 20 kg loose
    # Only the holder of each batch records, and no more than is still out.
    refused("recall.not_holder", lambda: tr.recall_action(a["cold"], entry, left.id, action="off_sale", packages=6), snapshot)
    refused("recall.action_exceeds", lambda: tr.recall_action(a["retailer"], entry, left.id, action="off_sale", packages=7),
            snapshot)
    refused("recall.action_empty", lambda: tr.recall_action(a["retailer"], entry, left.id, action="off_sale"), snapshot)
    refused("recall.no_task", lambda: tr.recall_action(a["retailer"], entry - 1, left.id, action="off_sale", packages=1),
            snapshot)
    tr.recall_action(a["retailer"], entry, left.id, action="off_sale", packages=6, loose_g=20_000, occurred_at=t(9, 21, 12))
    # A package taken off sale is then returned: counted where it is now, never twice.
    tr.recall_action(a["retailer"], entry, left.id, action="returned", packages=6, loose_g=20_000, occurred_at=t(9, 22))
    refused("recall.action_exceeds", lambda: tr.recall_action(a["retailer"], entry, left.id, action="destroyed", packages=1),
            snapshot)
    p = recall_queries.progress(svc.engine, a["bureau"], entry)
    by = {h.party_id: h for h in p.holders}
    assert (by[world["retailer"]].returned, by[world["retailer"]].off_sale, by[world["retailer"]].out) == (6, 0, 0)
    assert not p.complete and p.out == 10 and p.loose_out_g == 40_000  # 20 kg loose at the cold store and the grower
    tr.recall_action(a["cold"], entry, right.id, action="destroyed", packages=10, loose_g=20_000, occurred_at=t(9, 23))
    tr.recall_action(a["grower"], entry, b.id, action="destroyed", loose_g=20_000, occurred_at=t(9, 23, 12))
    p = recall_queries.progress(svc.engine, a["bureau"], entry)
    assert p.complete and p.on_time is True and p.completed_at == "2025-09-23T04:00:00.000Z"
    assert (p.packages, p.sold, p.pulled, p.out) == (20, 4, 16, 0)
    report = recall_queries.report_csv(p)
    assert report.startswith("\ufeff") and "complete,yes" in report and "on_time,yes" in report
    assert runner.invoke(args=["verify"]).exit_code == 0
    # Holders see their tasks on their desk until they are done.
    assert recall_queries.tasks_for(svc.engine, a["retailer"], open_only=True) == []


def test_only_the_bureau_follows_recalls(tr, world, harvest, svc) -> None:  # type: ignore[no-untyped-def]
    b = harvest(10)
    tr.recall(world["actors"]["bureau"], b.id, reason="霉变", occurred_at=t(9, 21))
    with pytest.raises(DomainError) as exc:
        recall_queries.recalls(svc.engine, world["actors"]["grower"])
    assert exc.value.code == "recalls.bureau_only"


# -- credit days ---------------------------------------------------------------------------------------------


def test_a_black_listing_holds_between_its_days(tr, world, harvest, snapshot, svc) -> None:  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = harvest(10)
    tr.set_credit(a["bureau"], world["grower"], "black", "伪造检测报告", start="2025-01-01", end="2099-12-31")
    refused("credit.black_listed", lambda: tr.pack(a["grower"], b.id, count=1, net_g=1000), snapshot)
    ev = _last_event(svc)["event"]
    assert (ev["start"], ev["end"], ev["reason"]) == ("2025-01-01", "2099-12-31", "伪造检测报告")
    # A listing that ended yesterday blocks nothing today; one that starts tomorrow neither.
    tr.set_credit(a["bureau"], world["grower"], "black", "整改期满", start="2025-01-01", end="2025-02-01")
    tr.pack(a["grower"], b.id, count=1, net_g=1000)
    tr.set_credit(a["bureau"], world["grower"], "black", "下月起", start="2099-01-01")
    tr.pack(a["grower"], b.id, count=1, net_g=1000)
    refused("input.day_order", lambda: tr.set_credit(a["bureau"], world["grower"], "red", "x", start="2025-03-01",
                                                     end="2025-02-01"), snapshot)
    refused("input.day", lambda: tr.set_credit(a["bureau"], world["grower"], "red", "x", start="2025-02-30"), snapshot)
    refused("role.regulator_only", lambda: tr.set_credit(SYSTEM, world["grower"], "black", "x"), snapshot)


def test_a_change_without_a_day_starts_today(tr, world, svc) -> None:  # type: ignore[no-untyped-def]
    tr.set_credit(world["actors"]["bureau"], world["grower2"], "red", "连续三年抽检合格")
    entry = _last_event(svc)
    ev = entry["event"]
    # "Today" is the day it is recorded: the tests record their season in its own time (issue 10).
    assert ev["start"] == china_date(entry["recorded_at"]).isoformat() and ev["end"] is None


# -- logins of the bureau ---------------------------------------------------------------------------------------


@pytest.fixture
def logins(tr, world, svc):  # type: ignore[no-untyped-def]
    from tests.test_portal_support import add_user

    ids = {name: add_user(svc, world[party], name) for name, party in (("amr", "bureau"), ("coop", "grower"))}
    admin_id = add_user(svc, None, "ops", is_admin=True)
    with read_session(svc.engine) as s:
        pseudo = dict(s.execute(select(User.username, User.pseudonym)).all())
    admin = Actor(admin_id, None, True, pseudo["ops"])
    amr = Actor(ids["amr"], world["bureau"], False, pseudo["amr"])
    return {"admin": admin, "amr": amr, "pseudo": pseudo}


def test_an_administrator_cannot_make_himself_a_regulator(tr, world, svc, snapshot, logins) -> None:  # type: ignore[no-untyped-def]
    """The issue's administrator: a login for the bureau's party, then a grower black-listed with it."""
    admin = logins["admin"]
    refused("user.bureau_only", lambda: accounts.create_user(tr, admin, party_id=world["bureau"], username="fake-amr",
                                                             password="a long enough password"), snapshot)
    refused("accounts.bureau_only", lambda: accounts.reset_password(svc.engine, admin, username="amr",
                                                                    new="a long enough password"), snapshot)
    refused("user.bureau_only", lambda: tr.run("user.bind", admin, {"username": "coop", "party": world["bureau"]}), snapshot)
    refused("user.bureau_only", lambda: tr.run("user.bind", admin, {"username": "amr", "party": world["grower"]}), snapshot)
    refused("role.regulator_only", lambda: tr.set_credit(admin, world["grower"], "black", "x"), snapshot)
    # The bureau makes and resets its own.
    accounts.create_user(tr, logins["amr"], party_id=world["bureau"], username="amr2", password="a long enough password")
    accounts.reset_password(svc.engine, logins["amr"], username="amr2", new="another long password")
    refused("accounts.admin_only", lambda: accounts.reset_password(svc.engine, logins["amr"], username="coop",
                                                                   new="another long password"), snapshot)


def test_binding_a_login_is_logged_by_pseudonym(tr, world, svc, snapshot, logins) -> None:  # type: ignore[no-untyped-def]
    admin = logins["admin"]
    tr.run("user.bind", admin, {"username": "coop", "party": world["grower2"]})
    last = _last_event(svc)
    assert last["event"] == {"type": "user.bind", "user": logins["pseudo"]["coop"], "party_id": world["grower2"]}
    assert "coop" not in str(last) and last["user"] == logins["pseudo"]["ops"]
    coop = accounts.actor_of(svc.engine, "coop")
    assert coop.party_id == world["grower2"]
    tr.run("user.bind", admin, {"username": "coop", "party": ""})  # unbound: it can do nothing
    refused("actor.no_party", lambda: tr.register_harvest(accounts.actor_of(svc.engine, "coop"), plot_id=world["plot2"],
                                                          product_id="shapotou-apple", quantity_g=1000, occurred_at=t(9, 20)),
            snapshot)
    refused("user.not_found", lambda: tr.run("user.bind", admin, {"username": "nobody", "party": world["grower"]}), snapshot)
    refused("user.admin_only", lambda: tr.run("user.bind", world["actors"]["grower"], {"username": "coop",
                                                                                      "party": world["grower"]}), snapshot)


def test_the_log_never_holds_usernames_or_hashes(tr, world, svc, logins) -> None:  # type: ignore[no-untyped-def]
    tr.run("user.bind", logins["admin"], {"username": "coop", "party": world["grower2"]})
    with read_session(svc.engine) as s:
        bodies = b"".join(bytes(b) for b in s.scalars(select(LogEntry.body)))
        hashes = [h for (h,) in s.execute(text("SELECT password_hash FROM users"))]
    assert b'"coop"' not in bodies and b'"amr"' not in bodies
    assert not any(h.encode() in bodies for h in hashes)
