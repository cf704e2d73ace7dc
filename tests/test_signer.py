"""The signer never signs a fork: its own record outside the database, checked by a consistency
proof before every signature, and `verify` checking every checkpoint against it."""
from __future__ import annotations

import os
import stat
import threading

import pytest
from sqlalchemy import func, select, text

from tests import attacks
from tests.conftest import t, uscc
from trace import create_app
from trace.db import read_session, write_session
from trace.domain.actors import SYSTEM
from trace.domain.events import Grade
from trace.ledger import merkle
from trace.ledger.models import Alarm, Checkpoint
from trace.ledger.signer import SLOT, SignerRecord
from trace.ledger.store import Ledger, SignerRefused


def _alarms(svc) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return [tuple(r) for r in s.execute(select(Alarm.kind, Alarm.message).order_by(Alarm.id))]


def _tables_but_alarms(snapshot):  # type: ignore[no-untyped-def]
    size, tables = snapshot()
    return size, [tb for tb in tables if tb[0] != "log_alarms"]


def test_record_follows_every_signature_durably_and_privately(tr, world, harvest, svc, app) -> None:
    attacks.journey(tr, world, harvest, grades=4)
    record = svc.ledger.signer_state()
    latest = attacks.latest(svc)
    assert (record.size, record.root) == (latest.size, bytes(latest.root))
    with read_session(svc.engine) as s:
        count = s.scalar(select(func.count()).select_from(Checkpoint))
    assert record.count == count and record.base == 0
    path = app.config["TRACE_KEY_FILE"] + ".record"
    assert os.path.dirname(path) == os.path.dirname(app.config["TRACE_KEY_FILE"])  # beside the key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.path.getsize(path) == 2 * SLOT
    # A second reader (another process would open the file the same way) sees the same record.
    assert SignerRecord(path).read() == record


def test_rewrite_without_the_key_is_refused_at_the_next_ordinary_write(tr, world, harvest, svc, snapshot) -> None:
    """The issue's attack: rewrite, delete the checkpoints that no longer match, wait for a write."""
    attacks.journey(tr, world, harvest, grades=4)
    index = attacks.recall_index(svc)
    attacks.rewrite(svc, index, attacks.recall_into_grade)
    assert attacks.latest(svc).size <= index  # what is left signed predates the forgery
    before = _tables_but_alarms(snapshot)
    with pytest.raises(SignerRefused, match="does not extend the tree") as exc:
        harvest(kg=5)
    assert "Writes are stopped" in str(exc.value)
    assert _tables_but_alarms(snapshot) == before  # nothing was written, no checkpoint signed
    kinds = [k for k, _ in _alarms(svc)]
    assert kinds == ["signer_fork"]
    # Writes stay stopped, and a repeated refusal does not flood the alarms.
    with pytest.raises(SignerRefused):
        tr.register_party(SYSTEM, kind="retailer", name="新店", uscc=uscc(99))
    assert [k for k, _ in _alarms(svc)] == ["signer_fork"]


def test_truncation_is_refused_and_verify_names_it(tr, world, harvest, svc, runner) -> None:
    attacks.journey(tr, world, harvest, grades=4)
    latest = attacks.latest(svc)
    attacks.truncate(svc, latest.size - 3)  # no key needed: the old checkpoint is still stored
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert f"the signer last signed a tree of {latest.size} entries" in result.output and "truncated" in result.output
    with pytest.raises(SignerRefused, match=f"last signed a tree of {latest.size} entries; the log now has {latest.size - 2}"):
        harvest(kg=5)
    assert [k for k, _ in _alarms(svc)] == ["signer_truncated"]


def test_deleted_middle_checkpoints_are_named_by_verify(tr, world, harvest, svc, runner) -> None:
    attacks.journey(tr, world, harvest, grades=4)
    with read_session(svc.engine) as s:
        sizes = s.scalars(select(Checkpoint.size).order_by(Checkpoint.size)).all()
    gone = sizes[len(sizes) // 2]
    attacks.delete_checkpoints(svc, [gone])
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    after = sizes[sizes.index(gone) + 1]
    assert f"checkpoint of size {after} was signed right after one of size {gone}" in result.output


def test_deleted_checkpoints_with_their_gap_papered_over_are_caught_by_the_record(tr, world, harvest, svc, runner) -> None:
    """The operator also fixes prev_size in the table: the signer's chain over what it signed still differs."""
    attacks.journey(tr, world, harvest, grades=4)
    with read_session(svc.engine) as s:
        sizes = s.scalars(select(Checkpoint.size).order_by(Checkpoint.size)).all()
    gone = sizes[3:5]
    attacks.delete_checkpoints(svc, gone)
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE checkpoints SET prev_size = :p WHERE size = :n"), {"p": sizes[2], "n": sizes[5]})
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert "do not match the signer's record" in result.output and "2 of them are missing" in result.output


def test_honest_log_verifies_every_checkpoint(tr, world, harvest, svc, runner) -> None:
    attacks.journey(tr, world, harvest, grades=4)
    with read_session(svc.engine) as s:
        count = s.scalar(select(func.count()).select_from(Checkpoint))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    assert f"{count} checkpoints: every signature valid, none missing" in result.output
    assert f"signer record: last signed size {attacks.latest(svc).size}, {count} checkpoints since size 0" in result.output


def test_rolled_back_transaction_puts_the_record_back(tr, world, harvest, svc) -> None:
    b = harvest(kg=50)
    before = svc.ledger.signer_state()
    with pytest.raises(RuntimeError, match="boom"):
        with tr.transaction(world["actors"]["grower"]) as tx:
            tx.record(Grade(batch=b.id, grade="A", occurred_at="2025-09-21T01:00:00.000Z"))
            # the signature is made when the block ends; fail after it, in the commit's place
            raise RuntimeError("boom")
    assert svc.ledger.signer_state() == before
    # ... and also when the failure comes after signing, before the commit.
    from trace.db import write_session as ws

    with pytest.raises(RuntimeError, match="after signing"):
        with ws(svc.engine) as s:
            head = svc.ledger.lock(s)
            head, _ = svc.ledger.append(s, head, {"event": {"type": "grade", "batch": b.id, "grade": "B",
                                                            "occurred_at": "2025-09-21T01:00:00.000Z"}, "party": None, "user": None})
            svc.ledger.sign_checkpoint(s, head)
            assert svc.ledger.signer_state().size == head.size  # durable before the signature returned
            raise RuntimeError("after signing")
    restored = svc.ledger.signer_state()
    assert (restored.size, restored.root, restored.count, restored.chain) == (before.size, before.root, before.count, before.chain)
    tr.grade(world["actors"]["grower"], b.id, grade="C", occurred_at=t(9, 21))  # writes go on


def test_damaged_record_stops_signing_with_a_clear_error(tr, world, harvest, svc, snapshot) -> None:
    b = harvest(kg=50)
    path = svc.ledger.record.path
    with open(path, "r+b") as f:
        f.write(b"garbage" * 200)
    before = _tables_but_alarms(snapshot)
    with pytest.raises(SignerRefused, match="signer record .* is damaged"):
        tr.grade(world["actors"]["grower"], b.id, grade="C", occurred_at=t(9, 21))
    assert _tables_but_alarms(snapshot) == before


def test_a_log_from_before_records_is_adopted_once_then_guarded(tr, world, harvest, svc, caplog) -> None:
    b = harvest(kg=50)
    attacks._drop_record(svc)
    size = attacks.latest(svc).size
    tr.grade(world["actors"]["grower"], b.id, grade="C", occurred_at=t(9, 21))
    record = svc.ledger.signer_state()
    assert record.base == size and record.count == 1 and record.size == size + 1
    assert "signer record started from the database's latest checkpoint" in caplog.text


def test_two_apps_sharing_one_record_write_in_turn(app, tr, world, harvest, svc, runner) -> None:
    """Two app instances (two open record files, as two processes have) writing at once."""
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TRACE_KEY_FILE": app.config["TRACE_KEY_FILE"],
                        "SECRET_KEY": "x"}).extensions["trace"]
    batches = [harvest(kg=10), harvest(kg=10)]
    errors: list[BaseException] = []

    def write(trace, batch_id: int) -> None:  # type: ignore[no-untyped-def]
        try:
            for i in range(40):
                trace.grade(world["actors"]["grower"], batch_id, grade=f"g{i}", occurred_at=t(9, 22))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(x.trace, b.id)) for x, b in ((svc, batches[0]), (other, batches[1]))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    other.engine.dispose()
    assert errors == []
    latest = attacks.latest(svc)
    record = svc.ledger.signer_state()
    assert (record.size, record.root) == (latest.size, bytes(latest.root))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output


def _append_without_record(svc, b, n: int) -> None:  # type: ignore[no-untyped-def]
    """Entries signed by a signer without a record (an older process on the same database)."""
    bare = Ledger(svc.origin, svc.signer)
    with write_session(svc.engine) as s:
        head = bare.lock(s)
        head, _ = bare.append_many(s, head, [{"event": {"type": "grade", "batch": b.id, "grade": f"g{i}",
                                                        "occurred_at": "2025-09-21T01:00:00.000Z"}, "party": None, "user": None}
                                             for i in range(n)])
        bare.sign_checkpoint(s, head)


def test_a_tree_grown_around_the_record_is_checked_with_a_proof_from_the_stored_nodes(tr, world, harvest, svc) -> None:
    b = harvest(kg=50)
    remembered = svc.ledger.signer_state().size
    _append_without_record(svc, b, 5)
    tr.grade(world["actors"]["grower"], b.id, grade="C", occurred_at=t(9, 21))  # the proof holds: signed
    assert svc.ledger.signer_state().size == remembered + 6
    # Again, now with a stored node on the proof's path changed: refused.
    remembered = svc.ledger.signer_state().size
    _append_without_record(svc, b, 5)
    size = attacks.latest(svc).size + 1
    level, idx = sorted(a for a in merkle.consistency_addresses(remembered, size) if a[0] > 0 and (a[1] + 1) << a[0] <= remembered)[0]
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE merkle_nodes SET hash = :h WHERE level = :l AND idx = :i"), {"h": b"\x07" * 32, "l": level, "i": idx})
    with pytest.raises(SignerRefused, match="does not extend"):
        tr.grade(world["actors"]["grower"], b.id, grade="D", occurred_at=t(9, 21))


def test_a_changed_head_frontier_is_refused(tr, world, harvest, svc) -> None:
    """Entries and nodes intact, the head row's frontier altered: the locked tree is not the remembered one."""
    b = harvest(kg=50)
    with write_session(svc.engine) as s:
        frontier = bytes(s.execute(text("SELECT frontier FROM log_head")).scalar_one())
        s.execute(text("UPDATE log_head SET frontier = :f"), {"f": b"\x09" * 32 + frontier[32:]})
    with pytest.raises(SignerRefused, match="does not extend"):
        tr.grade(world["actors"]["grower"], b.id, grade="C", occurred_at=t(9, 21))
