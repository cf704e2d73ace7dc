"""Ledger benchmark: append rates against plain SQLAlchemy inserts, inclusion proofs at growing
sizes, and `verify` against reading and hashing the same bytes. Prints figures and ratios.

    .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--database-url URL]

Targets (issue 2): single appends >= 40% of plain insert+commit; 1,000-event appends >= 25% of
plain batched inserts; inclusion proof < 5 ms median at 1M, growing with log n; integrity
verify <= 4x read+hash, peak memory < 300 MB; projection replay reported beside it.
Run from the project root."""
from __future__ import annotations

import argparse
import hashlib
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

from datetime import UTC, datetime  # noqa: E402

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, Table, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from trace import create_app  # noqa: E402
from trace.cli import init_database  # noqa: E402
from trace.clock import FollowingClock  # noqa: E402
from trace.db import read_session, write_session  # noqa: E402
from trace.domain import events  # noqa: E402
from trace.domain.actors import SYSTEM, Actor  # noqa: E402
from trace.domain.events import Grade  # noqa: E402

plain_meta = MetaData()
plain = Table("bench_plain", plain_meta, Column("idx", BigInteger, primary_key=True, autoincrement=False), Column("body", LargeBinary))


def setup(url: str, key: str):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": url, "TRACE_KEY_FILE": key, "SECRET_KEY": "bench"})
    with app.app_context():
        init_database()
    svc = app.extensions["trace"]
    tr = svc.trace
    tr.clock = FollowingClock(datetime(2025, 9, 1, tzinfo=UTC))  # a 2025 world, recorded in its own time
    tr.define_product(SYSTEM, id="bench-apple", name_zh="沙坡头苹果", name_en="Shapotou apple", harvest_months=list(range(1, 13)),
                      yield_g_per_mu=10**12, lot_prefix="BEN", area=[("迎水桥镇", "*")])
    gid = tr.register_party(SYSTEM, kind="grower", name="基准合作社", uscc="91350100M000100Y43")
    plot = tr.register_plot(SYSTEM, party_id=gid, township="迎水桥镇", village="沙坡头村", area_mu="100")
    batch = tr.register_harvest(Actor(None, gid), plot_id=plot, product_id="bench-apple", quantity_g=1000, occurred_at="2025-09-20T09:00+08:00")
    plain_meta.create_all(svc.engine)
    return app, svc, Actor(None, gid), batch.id


def grade_event(batch_id: int, i: int) -> dict:
    return {"batch": batch_id, "grade": f"一级-{i}", "occurred_at": "2025-09-21T01:00:00.000Z"}


def log_write(svc, records: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """The log's write path: lock the head, append, sign a checkpoint, commit."""
    with write_session(svc.engine) as s:
        head = svc.ledger.lock(s)
        head, _ = svc.ledger.append_many(s, head, records)
        svc.ledger.sign_checkpoint(s, head)


def bench_appends(svc, actor, batch_id, n_single: int, n_batches: int) -> None:  # type: ignore[no-untyped-def]
    tr = svc.trace
    with read_session(svc.engine) as s:
        sample = svc.ledger.entry(s, svc.ledger.size(s) - 1)
    row_size = len(sample)
    rec = lambda i: events.record(Grade(**grade_event(batch_id, i)), actor.party_id, None)  # noqa: E731
    base = 10_000_000

    def plain_single(i: int) -> None:
        with Session(svc.engine) as s:
            s.execute(insert(plain), {"idx": base + i, "body": os.urandom(row_size)})
            s.commit()

    def plain_batch(b: int) -> None:
        with Session(svc.engine) as s:
            s.execute(insert(plain), [{"idx": base + 5_000_000 + b * 1000 + i, "body": os.urandom(row_size)} for i in range(1000)])
            s.commit()

    # Interleave rounds so that both sides see the same machine load.
    rates: dict[str, list[float]] = {"plain1": [], "log1": [], "plainN": [], "logN": []}
    for r in range(5):
        t0 = time.perf_counter()
        for i in range(n_single // 5):
            plain_single(r * n_single + i)
        rates["plain1"].append(n_single // 5 / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(n_single // 5):
            log_write(svc, [rec(i)])
        rates["log1"].append(n_single // 5 / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for b in range(n_batches // 5):
            plain_batch(r * n_batches + b)
        rates["plainN"].append(n_batches // 5 * 1000 / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(n_batches // 5):
            log_write(svc, [rec(i) for i in range(1000)])
        rates["logN"].append(n_batches // 5 * 1000 / (time.perf_counter() - t0))
    m = {k: statistics.median(v) for k, v in rates.items()}
    print(f"entry size {row_size} bytes; medians of 5 interleaved rounds")
    print(f"log appends, 1 event/transaction:     {m['log1']:9.0f}/s  plain insert+commit {m['plain1']:9.0f}/s  ratio {m['log1'] / m['plain1']:6.1%}  (target >= 40%)")
    print(f"log appends, 1000 events/transaction: {m['logN']:9.0f}/s  plain batched       {m['plainN']:9.0f}/s  ratio {m['logN'] / m['plainN']:6.1%}  (target >= 25%)")
    # The whole domain command (rules + log + projection), for the record.
    t0 = time.perf_counter()
    for i in range(200):
        tr.grade(actor, batch_id, grade=f"一级-{i}", occurred_at="2025-09-21T09:00+08:00")
    print(f"domain command grade(), 1/transaction: {200 / (time.perf_counter() - t0):7.0f}/s (rules + log + projection + checkpoint)")


def fill(svc, actor, batch_id, target: int) -> None:  # type: ignore[no-untyped-def]
    """Grow the log to `target` entries with domain events, 1,000 per transaction."""
    tr = svc.trace
    with read_session(svc.engine) as s:
        size = svc.ledger.size(s)
    t0, start = time.perf_counter(), size
    while size < target:
        n = min(1000, target - size)
        with tr.transaction(actor) as tx:
            for i in range(n):
                tx.record(Grade(**grade_event(batch_id, size + i)))
        size += n
        if size % 100_000 < 1000:
            print(f"  ... {size:,} entries ({(size - start) / (time.perf_counter() - t0):.0f}/s)", flush=True)


def bench_proofs(svc, sizes: list[int]) -> None:  # type: ignore[no-untyped-def]
    import random

    rng = random.Random(1)
    for size in sizes:
        times = []
        with read_session(svc.engine) as s:
            for _ in range(200):
                i = rng.randrange(size)
                t0 = time.perf_counter()
                proof = svc.ledger.inclusion_proof(s, i, size)
                times.append(time.perf_counter() - t0)
        print(f"inclusion proof at {size:>9,} entries: median {statistics.median(times) * 1000:6.3f} ms, p95 {sorted(times)[189] * 1000:6.3f} ms, {len(proof['proof'])} hashes")


def child_verify(url: str, key: str, mode: str) -> None:
    """Run in a subprocess so that peak RSS belongs to one measurement."""
    app = create_app({"DATABASE_URL": url, "TRACE_KEY_FILE": key, "SECRET_KEY": "bench"})
    svc = app.extensions["trace"]
    t0 = time.perf_counter()
    with read_session(svc.engine) as s:
        if mode == "baseline":
            n = 0
            result = s.execute(select(Table("log_entries", MetaData(), autoload_with=svc.engine).c.body).execution_options(yield_per=20_000))
            for (body,) in result:
                hashlib.sha256(b"\x00" + body).digest()
                n += 1
        elif mode == "integrity":
            n, _ = svc.ledger.verify_integrity(s, svc.signer.vkey)
        elif mode == "nodes":
            n = svc.ledger.verify_nodes(s)
        else:
            from trace.domain.replay import compare, replay

            state = replay(svc.ledger.iter_entries(s))
            assert compare(s.connection(), state) is None
            n = -1
    dt = time.perf_counter() - t0
    print(f"{mode} {dt:.3f} {n} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def measure(url: str, key: str, mode: str) -> tuple[float, int]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--database-url", url, "--key", key],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
    return float(out[1]), int(out[3])


def _sibling(url: str, tmp: str) -> str:
    """A second, empty database of the same engine for the append benchmark."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp}/appends.db"
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_appends"'))
        conn.execute(text(f'CREATE DATABASE "{name}_appends"'))
    admin.dispose()
    return f"{base}/{name}_appends"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--database-url")
    ap.add_argument("--key")
    ap.add_argument("--child")
    ap.add_argument("--single", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()
    if args.child:
        child_verify(args.database_url, args.key, args.child)
        return
    tmp = tempfile.mkdtemp(prefix="bench-ledger-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    key = args.key or f"{tmp}/log.key"
    print(f"database: {url.split('@')[-1]}  entries: {args.entries:,}")
    # The append benchmark writes log entries without their projection, so it gets a database
    # of its own of the same kind; the 1M-entry log below stays a faithful one that verifies.
    _, asvc, aactor, abatch = setup(_sibling(url, tmp), f"{tmp}/appends.key")
    bench_appends(asvc, aactor, abatch, args.single, args.batches)
    asvc.engine.dispose()
    app, svc, actor, batch_id = setup(url, key)
    sizes = [s for s in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if s <= args.entries]
    t0 = time.perf_counter()
    fill(svc, actor, batch_id, args.entries)
    print(f"filled to {args.entries:,} entries in {time.perf_counter() - t0:.0f} s")
    bench_proofs(svc, sizes)
    base_t, base_rss = measure(url, key, "baseline")
    int_t, int_rss = measure(url, key, "integrity")
    print(f"read + hash each entry once:  {base_t:7.2f} s  peak RSS {base_rss / 1024:6.0f} MB")
    print(f"verify integrity:             {int_t:7.2f} s  peak RSS {int_rss / 1024:6.0f} MB  ratio {int_t / base_t:4.2f}x  (target <= 4x, < 300 MB)")
    nodes_t, nodes_rss = measure(url, key, "nodes")
    print(f"stored proof nodes recomputed: {nodes_t:6.2f} s  peak RSS {nodes_rss / 1024:6.0f} MB")
    if not args.skip_replay:
        rep_t, rep_rss = measure(url, key, "replay")
        print(f"projection replay + compare:  {rep_t:7.2f} s  peak RSS {rep_rss / 1024:6.0f} MB")


if __name__ == "__main__":
    main()
