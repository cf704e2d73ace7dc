"""The log's contract: every entry decodes into its typed event and encodes back to the same
bytes; what the domain would not have written does not decode; version 1 entries stay readable."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from trace import create_app, demo
from trace.db import read_session
from trace.domain import events
from trace.domain.events import BY_TYPE, MalformedEntry, decode, encode
from trace.ledger.models import LogEntry
from trace.ledger.store import canonical

FIXTURE = Path(__file__).parent / "fixtures" / "v1"


def _bodies(svc) -> list[bytes]:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return [bytes(b) for b in s.scalars(select(LogEntry.body).order_by(LogEntry.idx))]


def test_every_demo_entry_round_trips(svc) -> None:  # type: ignore[no-untyped-def]
    demo.load(svc.trace)
    bodies = _bodies(svc)
    assert len(bodies) > 500
    seen = set()
    for body in bodies:
        entry = decode(body)
        assert encode(entry) == body
        assert entry.v == events.CURRENT_VERSION and isinstance(entry.event, BY_TYPE[entry.event.TYPE])
        seen.add(entry.event.TYPE)
    assert seen == set(BY_TYPE)  # the demo writes every type of event


@pytest.fixture
def v1_db(tmp_path: Path) -> str:
    """A copy of the log a version 1 main wrote (tests/fixtures/v1)."""
    path = tmp_path / "v1.db"
    with gzip.open(FIXTURE / "trace.db.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return str(path)


def test_every_version_1_entry_still_decodes_and_round_trips(v1_db: str) -> None:
    import sqlite3

    rows = sqlite3.connect(v1_db).execute("SELECT idx, body FROM log_entries ORDER BY idx").fetchall()
    assert len(rows) == 773
    types = set()
    for idx, body in rows:
        entry = decode(bytes(body))
        assert entry.v == 1 and entry.index == idx and encode(entry) == bytes(body)
        types.add(entry.event.TYPE)
    assert {"harvest", "inspect", "pack", "ship", "correct", "recall", "plot.register"} <= types
    # Version 1 logged what version 2 keeps private; decoding keeps it readable, as it was written.
    plots = [decode(bytes(b)).event for _, b in rows if b"plot.register" in bytes(b)]
    assert all(p.plot.lat_micro is not None and p.plot.location is None for p in plots)
    users = {decode(bytes(b)).user for _, b in rows}
    assert users - {None} and all(isinstance(u, int) for u in users - {None})


def test_a_version_1_log_upgrades_verifies_and_reads(v1_db: str, tmp_path: Path) -> None:
    """Migrate, run init (it logs the logins made before logins were logged), verify, and read a
    package's public page: what a deployment of the previous main does when it upgrades."""
    shutil.copy(FIXTURE / "test-only-log.key", tmp_path / "log.key")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{v1_db}", "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                      "SECRET_KEY": "t", "SECRET_KEY_FILE": str(tmp_path / "secret")})
    runner = app.test_cli_runner()
    before = runner.invoke(args=["verify"])
    assert before.exit_code == 1 and "at revision 0001" in before.output and "run `flask --app trace init`" in before.output
    assert runner.invoke(args=["init"]).exit_code == 0
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    assert "OK: 784 entries" in result.output  # 773 + one user.create per login of the demo
    svc = app.extensions["trace"]
    assert svc.signer.vkey == (FIXTURE / "vkey").read_text().strip()
    line = runner.invoke(args=["packages", "--limit", "1"]).output.split("\t")[0]
    page = app.test_client().get(line.split("5000", 1)[1])
    assert page.status_code == 200 and "正品" in page.get_data(as_text=True)
    assert runner.invoke(args=["init"]).exit_code == 0 and runner.invoke(args=["verify"]).exit_code == 0  # again: nothing new


@pytest.mark.parametrize(("change", "problem"), [
    (lambda e: e["event"].update(approved=True), "approved"),
    (lambda e: e["event"].update(quantity_g=1.5), "quantity_g"),
    (lambda e: e["event"].update(quantity_g="1500"), "quantity_g"),
    (lambda e: e["event"].update(quantity_g=True), "quantity_g"),
    (lambda e: e["event"].update(type="harvest!"), "event"),
    (lambda e: e["event"].pop("season"), "season"),
    (lambda e: e.update(v=7), "version 7"),
    (lambda e: e.update(user=12), "pseudonym"),
    (lambda e: e["event"].update(occurred_at="2025-09-20 09:00"), "occurred_at"),
])
def test_what_the_domain_would_not_write_does_not_decode(change, problem: str) -> None:  # type: ignore[no-untyped-def]
    entry = {"event": {"type": "harvest", "batch": {"id": 1, "lot": "PEAR-2025-00001"}, "product": "nanchangtan-soft-pear",
                       "plot": 1, "quantity_g": 1000, "season": 2025, "occurred_at": "2025-09-20T01:00:00.000Z"},
             "index": 0, "party": 1, "prev": "", "recorded_at": "2025-09-20T01:00:00.000Z", "user": None, "v": 2}
    assert decode(canonical(entry)).event.quantity_g == 1000
    change(entry)
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with pytest.raises(MalformedEntry) as exc:
        decode(body)
    assert problem in str(exc.value)


def test_version_2_entries_carry_exactly_their_fields() -> None:
    ship = {"type": "ship", "batch": 1, "to_party": 2, "occurred_at": "2025-09-20T01:00:00.000Z"}
    base = {"index": 0, "party": 1, "prev": "", "recorded_at": "2025-09-20T01:00:00.000Z", "user": None}
    with pytest.raises(MalformedEntry, match="vehicle_commitment is missing"):
        decode(canonical({**base, "v": 2, "event": ship}))
    with pytest.raises(MalformedEntry, match="vehicle does not belong"):
        decode(canonical({**base, "v": 2, "event": {**ship, "vehicle": "宁E·12345", "vehicle_commitment": None}}))
    old = decode(canonical({**base, "event": {**ship, "vehicle": "宁E·12345"}}))  # version 1: the plate, as it was
    assert old.v == 1 and old.event.vehicle == "宁E·12345" and old.event.vehicle_commitment is None
    with pytest.raises(MalformedEntry, match="not the canonical encoding"):
        decode(json.dumps({**base, "v": 2, "event": {**ship, "vehicle_commitment": None}}).encode())
