"""Rule-book benchmark: the full domain command against the bare ledger append, and verify's
replay with every rule checked against a plain batched insert. Prints figures and ratios.

    .venv/bin/python bench/bench_rules.py [--entries 1000000] [--database-url URL] [--rounds 5]

Targets (issue 7): a domain command, one per transaction (parse, rules, log, state, checkpoint,
commit), >= 60% of the bare ledger append (lock, entry, nodes, head, checkpoint, commit) measured
in the same run; verify's replay with rule checks >= 5% of a plain batched insert of one row per
entry into the same kind of database, in the same run. Run from the project root."""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, Table, insert  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from trace import create_app  # noqa: E402
from trace.cli import init_database  # noqa: E402
from trace.db import read_session, write_session  # noqa: E402
from trace.domain import events  # noqa: E402
from trace.domain.events import Grade  # noqa: E402

plain_meta = MetaData()
plain = Table("bench_rows", plain_meta, Column("idx", BigInteger, primary_key=True, autoincrement=False), Column("body", LargeBinary))


def app_for(url: str, key: str):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": url, "TRACE_KEY_FILE": key, "SECRET_KEY": "bench"})
    with app.app_context():
        init_database()
    return app, app.extensions["trace"]


def bench_commands(svc, rounds: int, n: int) -> None:  # type: ignore[no-untyped-def]
    """A domain command (grade, one per transaction) against the bare append of the same event."""
    import world

    w = world.small(svc.trace)
    actor, batch = w["grower"], w["batch"]
    tr = svc.trace
    record = events.record(Grade(batch=batch, grade="一级", occurred_at="2025-09-21T01:00:00.000Z"), actor.party_id, None)

    def bare() -> None:
        with write_session(svc.engine) as s:
            head = svc.ledger.lock(s)
            head, _ = svc.ledger.append(s, head, record)
            svc.ledger.sign_checkpoint(s, head)

    rates: dict[str, list[float]] = {"bare": [], "command": []}
    for _ in range(rounds):  # interleaved, so that both see the same machine load
        t0 = time.perf_counter()
        for _ in range(n):
            bare()
        rates["bare"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(n):
            tr.grade(actor, batch, grade=f"一级-{i}", occurred_at="2025-09-21T09:00+08:00")
        rates["command"].append(n / (time.perf_counter() - t0))
    m = {k: statistics.median(v) for k, v in rates.items()}
    print(f"bare ledger append, 1/transaction:   {m['bare']:8.0f}/s")
    print(f"domain command grade, 1/transaction: {m['command']:8.0f}/s  ratio {m['command'] / m['bare']:6.1%}  (target >= 60%)")
    print(f"  per command: {1e3 / m['command']:.2f} ms, of which the bare append {1e3 / m['bare']:.2f} ms")


def plain_rate(url: str, n: int, row_size: int) -> float:
    """A plain batched insert of one row per entry (1,000 rows per statement, one transaction per
    100,000) into a table of the same database."""
    from trace.db import make_engine

    engine = make_engine(url)
    plain_meta.drop_all(engine)
    plain_meta.create_all(engine)
    body = os.urandom(row_size)
    t0 = time.perf_counter()
    for start in range(0, n, 100_000):
        with Session(engine) as s:
            for chunk in range(start, min(n, start + 100_000), 1000):
                s.execute(insert(plain), [{"idx": i, "body": body} for i in range(chunk, min(n, chunk + 1000))])
            s.commit()
    rate = n / (time.perf_counter() - t0)
    plain_meta.drop_all(engine)
    engine.dispose()
    return rate


def child_replay(url: str, key: str) -> None:
    """verify's replay and comparison alone, in a process of its own (for its peak RSS)."""
    from trace.domain.replay import compare, replay

    _, svc = app_for(url, key)
    with read_session(svc.engine) as s:
        size = svc.ledger.size(s)
        t0 = time.perf_counter()
        state = replay(svc.ledger.iter_entries(s))
        t1 = time.perf_counter()
        assert compare(s.connection(), state) is None
        t2 = time.perf_counter()
    print(f"{size} {t1 - t0:.3f} {t2 - t1:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--packages", type=int, default=200_000)
    ap.add_argument("--database-url")
    ap.add_argument("--key")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--commands", type=int, default=300)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        child_replay(args.database_url, args.key)
        return
    import world

    tmp = tempfile.mkdtemp(prefix="bench-rules-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    key = args.key or f"{tmp}/log.key"
    print(f"database: {url.split('@')[-1]}")
    small_url = f"sqlite:///{tmp}/commands.db" if url.startswith("sqlite") else world.sibling(url, "commands")
    _, csvc = app_for(small_url, f"{tmp}/commands.key")
    bench_commands(csvc, args.rounds, args.commands)
    csvc.engine.dispose()
    _, svc = app_for(url, key)
    t0 = time.perf_counter()
    built = world.season(svc.trace, entries=args.entries, packages=args.packages)
    print(f"log of {built['entries']:,} entries, {built['packages']:,} packages, {built['batches']:,} batches "
          f"built through the domain in {time.perf_counter() - t0:.0f} s")
    svc.engine.dispose()
    out = subprocess.run([sys.executable, __file__, "--child", "--database-url", url, "--key", key],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
    size, replay_s, compare_s, rss = int(out[0]), float(out[1]), float(out[2]), int(out[3])
    insert_rate = plain_rate(url, size, 300)
    replay_rate = size / replay_s
    print(f"plain batched insert, one row per entry: {insert_rate:9.0f} rows/s")
    print(f"verify replay with every rule:           {replay_rate:9.0f} entries/s  ratio {replay_rate / insert_rate:6.1%}  (target >= 5%)")
    print(f"  replay {replay_s:.1f} s, then comparing the state tables {compare_s:.1f} s; peak RSS {rss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
