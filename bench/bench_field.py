"""Field-end benchmark (issue 10): what the field end's rules and facts cost, each against a
baseline measured in the same run. Prints figures and ratios.

    nice -n 10 .venv/bin/python bench/bench_field.py [--rounds 5] [--commands 200]
        [--season /work/bench-data/season-1m.db --season-key /work/bench-data/season-1m.key --baseline-src DIR]

1. Commands on a small world: a harvest from a plot whose season holds sprays (the pre-harvest
   interval is checked against each) against a harvest from a plot with none; a receipt that
   records a certificate against one of a batch without; a grading (the time rules: the batch's
   previous event, the approvals) against the bare ledger append of the same event.
2. The consumer's facts of the demo's lots: the whole page build against the field end's part of
   it (queries.field.public_facts) on the same lots.
3. With --season: a COPY of the season log (never the original) migrated to this code's schema
   (revision 0400), timed, then `verify` of it, against `verify` of another copy by the code at
   --baseline-src (a checkout of the branch before this issue) at its own revision. Run from the
   project root."""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from trace import create_app  # noqa: E402
from trace.cli import init_database  # noqa: E402
from trace.clock import CHINA, FollowingClock  # noqa: E402
from trace.db import read_session, write_session  # noqa: E402
from trace.domain import events  # noqa: E402
from trace.domain.actors import SYSTEM, Actor  # noqa: E402
from trace.domain.events import Grade  # noqa: E402

APPLE = "bench-apple"


def app_for(url: str, key: str):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": url, "TRACE_KEY_FILE": key, "SECRET_KEY": "bench"})
    with app.app_context():
        init_database()
    return app, app.extensions["trace"]


def rate(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def bench_commands(svc, rounds: int, n: int) -> None:  # type: ignore[no-untyped-def]
    """Harvests with and without sprays to check, receipts with and without a certificate, a
    grading against the bare append."""
    tr = svc.trace
    tr.clock = FollowingClock(datetime(2025, 1, 1, tzinfo=UTC))  # the world's season, in its own time
    tr.define_product(SYSTEM, id=APPLE, name_zh="沙坡头苹果", name_en="Shapotou apple", harvest_months=list(range(1, 13)),
                      yield_g_per_mu=10**12, lot_prefix="BEN", area=[("迎水桥镇", "*")])
    tr.run("pesticide.define", SYSTEM, {"reg_no": "DEMO000101", "name": "吡虫啉", "active_ingredient": "imidacloprid",
                                        "intervals": [[APPLE, 14]]})
    from world import _uscc

    gid = tr.register_party(SYSTEM, kind="grower", name="基准合作社", uscc=_uscc(1))
    pid = tr.register_party(SYSTEM, kind="processor", name="基准加工", uscc=_uscc(2))
    grower, proc = Actor(None, gid), Actor(None, pid)
    sprayed = tr.register_plot(SYSTEM, party_id=gid, township="迎水桥镇", village="沙坡头村", area_mu="99999")
    bare_plot = tr.register_plot(SYSTEM, party_id=gid, township="迎水桥镇", village="夹道村", area_mu="99999")
    for month in (3, 5, 7, 8):  # a season's sprays, all long before the harvests
        tr.run("farm.spray", grower, {"plot": sprayed, "product": APPLE, "pesticide": "DEMO000101", "dose": "3000倍液",
                                      "area_mu": "10", "occurred_at": datetime(2025, month, 10, tzinfo=CHINA)})
    when = datetime(2025, 10, 1, 9, tzinfo=CHINA)
    stopped = when.astimezone(UTC)
    tr.clock = lambda: stopped  # from here on a plain clock, as a live deployment has (its entries are not demo entries)

    def harvest(plot: int) -> int:
        return tr.register_harvest(grower, plot_id=plot, product_id=APPLE, quantity_g=1000, occurred_at=when).id

    rates: dict[str, list[float]] = {k: [] for k in ("harvest_bare", "harvest_sprayed", "receive_plain", "receive_cert",
                                                     "bare_append", "grade")}
    batch = harvest(bare_plot)
    record = events.record(Grade(batch=batch, grade="一级", occurred_at="2025-10-01T01:00:00.000Z"), gid, None)

    def bare(_i: int) -> None:
        with write_session(svc.engine) as s:
            head = svc.ledger.lock(s)
            head, _ = svc.ledger.append(s, head, record, "2025-10-01T01:00:00.000Z")
            svc.ledger.sign_checkpoint(s, head)

    for _ in range(rounds):  # interleaved, so that all see the same machine load
        rates["harvest_bare"].append(rate(lambda i: harvest(bare_plot), n))
        rates["harvest_sprayed"].append(rate(lambda i: harvest(sprayed), n))
        plain = [harvest(bare_plot) for _ in range(n)]
        certified = []
        for _ in range(n):
            b = harvest(bare_plot)
            tr.run("certificate.issue", grower, {"batch": b, "basis": "control", "occurred_at": when})
            certified.append(b)
        for b in plain + certified:
            tr.ship(grower, b, to_party=pid, occurred_at=when)
        rates["receive_plain"].append(rate(lambda i, plain=plain: tr.receive(proc, plain[i], occurred_at=when), n))
        rates["receive_cert"].append(rate(lambda i, c=certified: tr.receive(proc, c[i], occurred_at=when), n))
        rates["bare_append"].append(rate(bare, n))
        rates["grade"].append(rate(lambda i: tr.grade(grower, batch, grade=f"一级-{i}", occurred_at=when), n))
    m = {k: statistics.median(v) for k, v in rates.items()}
    print(f"harvest, plot without sprays:         {m['harvest_bare']:7.0f}/s")
    print(f"harvest, plot with 4 sprays checked:  {m['harvest_sprayed']:7.0f}/s  ratio {m['harvest_sprayed'] / m['harvest_bare']:6.1%}")
    print(f"receive, batch without a certificate: {m['receive_plain']:7.0f}/s")
    print(f"receive, recording its certificate:   {m['receive_cert']:7.0f}/s  ratio {m['receive_cert'] / m['receive_plain']:6.1%}")
    print(f"bare ledger append, 1/transaction:    {m['bare_append']:7.0f}/s")
    print(f"grade with the version 3 time rules:  {m['grade']:7.0f}/s  ratio {m['grade'] / m['bare_append']:6.1%}  (issue 7's target >= 60%)")


def baseline_commands(src: str, rounds: int, n: int) -> None:
    """The command/append ratio of the code before this issue, measured now (bench_rules there)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "bench/bench_rules.py", "--entries", "300", "--packages", "20", "--rounds", str(rounds),
                          "--commands", str(n)], cwd=src, env=env, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if "append" in ln or "grade" in ln]
    for ln in lines[:2]:
        print("  baseline code: " + ln.strip())


def bench_facts(svc, rounds: int) -> None:  # type: ignore[no-untyped-def]
    """The demo's lot pages: the whole facts against the field end's part of them."""
    from sqlalchemy import select

    from trace import demo
    from trace.domain.queries import field
    from trace.domain.queries.public import ConsumerView, find_lot
    from trace.domain.tables.batches import Batch

    t0 = time.perf_counter()
    summary = demo.load(svc.trace)
    print(f"demo loaded in {time.perf_counter() - t0:.1f} s: {summary.split(';')[0]}")
    with read_session(svc.engine) as s:
        lots = list(s.scalars(select(Batch.lot_code).order_by(Batch.id)))
    whole, part = [], []
    for _ in range(rounds):
        view = ConsumerView(svc.engine, svc.ledger, svc.signer.vkey, svc.scans, cache_size=1)
        t0 = time.perf_counter()
        for lot in lots:
            with svc.engine.connect() as c:
                ref = find_lot(c, lot)
            view.lot_facts(ref)  # type: ignore[arg-type]
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with read_session(svc.engine) as s:
            for lot in lots:
                batch = s.scalar(select(Batch).where(Batch.lot_code == lot))
                field.public_facts(s, batch, None, {"journey": []})
        part.append(time.perf_counter() - t0)
    w, p = statistics.median(whole), statistics.median(part)
    print(f"lot facts, whole build:        {1e3 * w / len(lots):6.2f} ms per lot ({len(lots)} lots)")
    print(f"  of which the field end's:    {1e3 * p / len(lots):6.2f} ms per lot  ratio {p / w:6.1%}")


def bench_season(season: str, key: str, baseline_src: str | None) -> None:
    """Migrate a copy of the season log and verify it; verify another copy with the older code."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-field-", dir=os.environ.get("BENCH_TMP")))
    copy = tmp / "season.db"
    shutil.copy(season, copy)
    shutil.copy(key, tmp / "season.key")
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{copy}", TRACE_KEY_FILE=str(tmp / "season.key"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("TRACE_DEMO_CLOCK", None)
    flask = [sys.executable, "-m", "flask", "--app", "trace"]
    t0 = time.perf_counter()
    subprocess.run([*flask, "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    print(f"season copy migrated to revision 0400 in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    out = subprocess.run([*flask, "verify"], cwd=ROOT, env=env, capture_output=True, text=True)
    mine = time.perf_counter() - t0
    print(f"verify (this code):     {mine:7.1f} s  {(out.stdout or out.stderr).strip().splitlines()[0][:100]}")
    print("  " + (out.stdout.strip().splitlines() or [""])[-1])
    copy.unlink()
    if baseline_src:
        base = tmp / "base.db"
        shutil.copy(season, base)
        env["DATABASE_URL"] = f"sqlite:///{base}"
        t0 = time.perf_counter()
        out = subprocess.run([*flask, "verify"], cwd=baseline_src, env=env, capture_output=True, text=True)
        theirs = time.perf_counter() - t0
        print(f"verify (baseline code): {theirs:7.1f} s  {(out.stdout or out.stderr).strip().splitlines()[0][:100]}")
        print("  " + (out.stdout.strip().splitlines() or [""])[-1])
        print(f"  this code takes {mine / theirs:6.1%} of the baseline's time")
        base.unlink()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--season")
    ap.add_argument("--season-key")
    ap.add_argument("--baseline-src")
    ap.add_argument("--skip-facts", action="store_true")
    args = ap.parse_args()
    os.environ.pop("TRACE_DEMO_CLOCK", None)
    tmp = tempfile.mkdtemp(prefix="bench-field-")
    _, svc = app_for(f"sqlite:///{tmp}/commands.db", f"{tmp}/commands.key")
    bench_commands(svc, args.rounds, args.commands)
    svc.engine.dispose()
    if args.baseline_src:
        baseline_commands(args.baseline_src, args.rounds, args.commands)
    if not args.skip_facts:
        _, svc = app_for(f"sqlite:///{tmp}/demo.db", f"{tmp}/demo.key")
        bench_facts(svc, args.rounds)
        svc.engine.dispose()
    if args.season:
        bench_season(args.season, args.season_key, args.baseline_src)


if __name__ == "__main__":
    main()
