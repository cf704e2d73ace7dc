"""Four processes appending at once never fork or skip the log."""
from __future__ import annotations

import json
import multiprocessing as mp

from sqlalchemy import func, select

from tests.conftest import t
from trace.db import read_session
from trace.ledger.models import LogEntry

WRITERS, EACH = 4, 250


def _writer(db_url: str, key_file: str, batch_id: int, party_id: int, n: int, go) -> None:  # type: ignore[no-untyped-def]
    from trace import create_app
    from trace.domain.actors import Actor

    app = create_app({"DATABASE_URL": db_url, "TRACE_KEY_FILE": key_file, "SECRET_KEY": "x"})
    trace = app.extensions["trace"].trace
    go.wait()
    for i in range(EACH):
        trace.grade(Actor(None, party_id), batch_id, grade=f"w{n}-{i}", occurred_at=t(9, 28))


def test_four_processes_append_1000_events(app, tr, world, harvest, svc, runner) -> None:
    batches = [harvest(kg=10, when=t(9, 20 + i)) for i in range(WRITERS)]
    with read_session(svc.engine) as s:
        start = svc.ledger.size(s)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(app.config["DATABASE_URL"], app.config["TRACE_KEY_FILE"], b.id, world["grower"], n, go))
             for n, b in enumerate(batches)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with read_session(svc.engine) as s:
        size = svc.ledger.size(s)
        assert size == start + WRITERS * EACH
        assert s.scalar(select(func.count()).select_from(LogEntry)) == size
        assert s.scalar(select(func.max(LogEntry.idx))) == size - 1
        grades = [json.loads(b)["event"].get("grade") for _, b in svc.ledger.entries(s, start, size)]
    # every writer's events are all there, each in its own order
    for n in range(WRITERS):
        mine = [g for g in grades if g.startswith(f"w{n}-")]
        assert mine == [f"w{n}-{i}" for i in range(EACH)]
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    assert f"OK: {size} entries" in result.output
