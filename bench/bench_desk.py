"""The regulator's desk on a long log: trace back from a package, trace forward from a harvest
with 10,000 descendant packages, every worklist and anomaly page, and EPCIS exports of 10,000
and 100,000 events (peak memory of each, in a process of its own).

Run on a COPY of a season built by bench/world.py (never the original), migrated with
`flask --app trace init`:

    DATABASE_URL=sqlite:////path/copy.db TRACE_KEY_FILE=/path/copy.key \\
        nice -n 10 .venv/bin/python bench/bench_desk.py

The first run adds one harvest to the copy (split into ten lots of 1,000 packages each, through
the domain commands) and remembers its lot beside the database. Every figure is a median, printed
beside a plain indexed lookup of one package row measured in the same run, and as a ratio to it."""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from trace import create_app  # noqa: E402
from trace.clock import rfc3339  # noqa: E402
from trace.db import read_session  # noqa: E402
from trace.domain.actors import SYSTEM, Actor  # noqa: E402
from trace.domain.queries import anomalies, worklists  # noqa: E402
from trace.domain.queries import trace as tracing  # noqa: E402
from trace.domain.tables.batches import BatchEvent, Package, PackageSecret  # noqa: E402
from trace.domain.tables.parties import Party  # noqa: E402


def median_ms(fn: Callable[[], object], n: int) -> float:
    """Median wall time of `n` calls, in milliseconds."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def big_lineage(app, db: str) -> str:  # type: ignore[no-untyped-def]
    """A harvest with 10,000 descendant packages (made once, remembered beside the database)."""
    marker = Path(db + ".desk-lot")
    if marker.exists():
        return marker.read_text().strip()
    svc = app.extensions["trace"]
    tr = svc.trace
    with read_session(svc.engine) as s:
        grower, plot = s.execute(text("SELECT p.party_id, p.id FROM plots p ORDER BY p.id LIMIT 1")).one()
        processor = s.scalar(select(Party.id).where(Party.kind == "processor"))
    when = datetime.now(UTC) - timedelta(days=2)
    batch = tr.register_harvest(Actor(None, grower), plot_id=plot, product_id="bench-apple", quantity_g=70_000_000,
                                occurred_at=rfc3339(when))
    tr.ship(Actor(None, grower), batch.id, to_party=processor, occurred_at=rfc3339(when + timedelta(hours=1)))
    tr.receive(Actor(None, processor), batch.id, occurred_at=rfc3339(when + timedelta(hours=2)))
    kids = tr.split(Actor(None, processor), batch.id, [6_000_000] * 10, occurred_at=rfc3339(when + timedelta(hours=3)))
    for k in kids:
        tr.pack(Actor(None, processor), k.id, count=1000, net_g=5000, occurred_at=rfc3339(when + timedelta(hours=4)))
    marker.write_text(batch.lot_code)
    return batch.lot_code


def peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Peak resident memory (MB) and wall time (s) of a `flask --app trace ...` process, measured by
    a fresh parent of its own (so that no earlier child's peak counts)."""
    flask = str(ROOT / ".venv" / "bin" / "flask")
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "sys.stderr.write(p.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(p.returncode)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", probe, flask, "--app", "trace", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return int(proc.stdout.strip()) / 1024, time.perf_counter() - t0, proc.stderr.strip()


def main() -> None:
    """Print every figure of the desk beside the baseline."""
    db = os.environ["DATABASE_URL"]
    app = create_app({"DATABASE_URL": db, "TRACE_KEY_FILE": os.environ["TRACE_KEY_FILE"], "SECRET_KEY": "bench"})
    svc = app.extensions["trace"]
    engine = svc.engine
    path = db.split("///", 1)[1] if db.startswith("sqlite") else db
    lot = big_lineage(app, path)
    with read_session(engine) as s:
        size = s.execute(text("SELECT count(*) FROM log_entries")).scalar_one()
        n_packages = s.scalar(select(func.count()).select_from(Package))
        ids = list(s.scalars(select(Package.id).order_by(func.random()).limit(200)))
        serials = [sn for (sn,) in s.execute(select(PackageSecret.serial).where(PackageSecret.package_id.in_(ids)))]
        first, last = s.execute(select(func.min(BatchEvent.occurred_at), func.max(BatchEvent.occurred_at))).one()
    print(f"log: {size:,} entries, {n_packages:,} packages ({engine.dialect.name})")
    rng = random.Random(9)

    def lookup() -> None:
        with engine.connect() as c:
            c.execute(select(Package).where(Package.id == rng.choice(ids))).one()

    base = median_ms(lookup, 200)
    print(f"baseline: one package row by id, median {base:.3f} ms")

    def row(name: str, ms: float, target_ms: float | None = None) -> None:
        mark = "" if target_ms is None else f"  (target < {target_ms:.0f} ms: {'met' if ms < target_ms else 'MISSED'})"
        print(f"{name:<48} median {ms:9.1f} ms   {ms / base:9.0f} x baseline{mark}")

    row("trace back from a package", median_ms(lambda: tracing.trace_back(engine, SYSTEM, rng.choice(serials)), 50), 50)
    fwd = tracing.trace_forward(engine, SYSTEM, lot)
    assert len(fwd.packages) == 10_000, len(fwd.packages)
    row("trace forward, harvest with 10,000 packages", median_ms(lambda: tracing.trace_forward(engine, SYSTEM, lot), 7), 1000)
    for name in worklists.LISTS:
        row(f"worklist {name}", median_ms(lambda name=name: worklists.worklist(engine, SYSTEM, name, worklists.Filters()), 5),
            1000)
    row("search '村1'", median_ms(lambda: worklists.search(engine, SYSTEM, "村1"), 5), 1000)
    t0 = time.perf_counter()
    read = anomalies.refresh(engine)
    print(f"derived indexes caught up: {read:,} entries read in {time.perf_counter() - t0:.1f} s (once; then only new entries)")
    for kind in anomalies.KINDS:
        row(f"anomaly {kind}", median_ms(lambda kind=kind: anomalies.report(engine, SYSTEM, kind), 5), 1000)
    # The same through the portal's pages, as a regulator (its login made once in the copy).
    client = app.test_client()
    with read_session(engine) as s:
        bureau = s.scalar(select(Party.id).where(Party.kind == "regulator"))
        known = s.execute(text("SELECT 1 FROM users WHERE username = 'bench-amr'")).first()
    if not known:
        from werkzeug.security import generate_password_hash

        from trace.domain import accounts
        accounts.create_user(svc.trace, SYSTEM, party_id=bureau, username="bench-amr", password="bench regulator password",
                             password_hash=generate_password_hash("bench regulator password"))
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/login", data={"username": "bench-amr", "password": "bench regulator password"}).status_code == 302
    pages = ["/portal/bureau/", *[f"/portal/bureau/worklists/{n}" for n in worklists.LISTS], "/portal/bureau/search?q=村1",
             *[f"/portal/bureau/anomalies/{k}" for k in anomalies.KINDS], "/portal/recalls?active=1",
             f"/portal/bureau/trace/forward?lot={lot}"]
    for url in pages:
        row(f"page {url[8:48]}", median_ms(lambda url=url: client.get(url), 3), 1000)
    # Exports in processes of their own: about 10,000 and 100,000 events, by date range.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = datetime.fromisoformat(first.replace("Z", "+00:00"))
    span = (datetime.fromisoformat(last.replace("Z", "+00:00")) - start).days or 1
    per_day = size / span
    for target in (10_000, 100_000):
        days = max(1, round(target / per_day))
        since = (start + timedelta(days=30)).date()
        until = since + timedelta(days=days - 1)
        out = f"/tmp/bench-desk-{target}.jsonld"
        rss, wall, said = peak_rss_mb(["export", "epcis", "--since", str(since), "--until", str(until), "--out", out], env)
        print(f"EPCIS export {said:<36} {wall:6.1f} s, peak RSS {rss:6.1f} MB")
        os.unlink(out)


if __name__ == "__main__":
    main()
