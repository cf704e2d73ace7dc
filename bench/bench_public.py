"""Benchmark of the consumer's verification page (a script that prints figures, not a test).

    .venv/bin/python bench/bench_public.py [--seconds 10] [--connections 64] [--workers N]
                                           [--threads N] [--postgres URL]
                                           [--database URL --key FILE]

1. Loads the demo season into a fresh SQLite database in a temporary directory (or, with
   --postgres, into that empty PostgreSQL database) and picks a sold demo apple package; or,
   with --database and --key, uses that database (a COPY of a big one, such as the 1,000,000
   entry season of bench/world.py, migrated with `flask --app trace init`) and picks a sold
   package with a GTIN from the middle of it.
2. Starts gunicorn on 127.0.0.1 with the app (rate limits raised so that one load generator is
   not refused: their cost is still paid on every request).
3. Loads with `wrk` (Debian's package) at 64 connections: first /healthz, a trivial route of the
   same app, then the package's GS1 Digital Link page, the page a phone opens after a scan, scan
   counting (one UPDATE per request) included.
4. Prints requests per second, latency percentiles and errors of both, and the ratio.
   Targets: the page >= 30 % of the trivial route's rate, no errors, p99 < 100 ms.
   The exit status is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # our package `trace`, not the standard library's module

PY = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
# The load generator is one client: raise its per-client limits (the buckets still run).
APP_CONFIG = "{'TRACE_LOOKUP_LIMIT': (1000000000, 1000000), 'TRACE_MISS_LIMIT': (1000000000, 1000000)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict[str, str]) -> str:
    """Load the demo and return the path of a sold, unrecalled apple package's page."""
    code = r"""
import sys
sys.path.insert(0, ".")
from sqlalchemy import select
from trace import create_app, demo
from trace.cli import init_database
from trace.db import read_session
from trace.domain.tables.batches import Batch, Package, PackageSecret
from trace.domain.tables.catalogue import Product
from trace.domain.identifiers import package_path
app = create_app()
with app.app_context():
    init_database()
    svc = app.extensions["trace"]
    print(demo.load(svc.trace), file=sys.stderr)
    with read_session(svc.engine) as s:
        serial, lot, gtin = s.execute(
            select(PackageSecret.serial, Batch.lot_code, Product.gtin)
            .join(Package, Package.id == PackageSecret.package_id).join(Batch, Batch.id == Package.batch_id)
            .join(Product, Product.id == Batch.product_id)
            .where(Product.gtin.is_not(None), Package.status == "sold", Batch.recalled.is_(False))
            .order_by(Package.id).limit(1)).one()
    print(package_path(serial, gtin, lot))
"""
    out = subprocess.run([str(PY), "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    return out.stdout.strip().splitlines()[-1]


def pick(env: dict[str, str]) -> str:
    """A sold, unrecalled package with a GTIN from the middle of an existing database."""
    code = r"""
import sys
sys.path.insert(0, ".")
from sqlalchemy import func, select
from trace import create_app
from trace.db import read_session
from trace.domain.tables.batches import Batch, Package, PackageSecret
from trace.domain.tables.catalogue import Product
from trace.domain.identifiers import package_path
from trace.ledger.models import LogEntry
app = create_app()
with app.app_context():
    svc = app.extensions["trace"]
    with read_session(svc.engine) as s:
        middle = (s.scalar(select(func.max(Package.id))) or 0) // 2
        serial, lot, gtin = s.execute(
            select(PackageSecret.serial, Batch.lot_code, Product.gtin)
            .join(Package, Package.id == PackageSecret.package_id).join(Batch, Batch.id == Package.batch_id)
            .join(Product, Product.id == Batch.product_id)
            .where(Package.id >= middle, Product.gtin.is_not(None), Package.status == "sold", Batch.recalled.is_(False))
            .order_by(Package.id).limit(1)).one()
        entries = s.scalar(select(func.count()).select_from(LogEntry))
        packages = s.scalar(select(func.count()).select_from(Package))
    print(f"{entries} entries, {packages} packages", file=sys.stderr)
    print(package_path(serial, gtin, lot))
"""
    out = subprocess.run([str(PY), "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    return out.stdout.strip().splitlines()[-1]


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout} s")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: int, connections: int, threads: int) -> dict[str, float]:
    """Run wrk and parse its figures."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", url],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
    return {"rps": rps, "p50": pct.get("50", 0), "p90": pct.get("90", 0), "p99": pct.get("99", 0),
            "requests": total, "errors": non2xx + socket_errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2)
    ap.add_argument("--threads", type=int, default=2, help="threads per worker (gthread)")
    ap.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    ap.add_argument("--postgres", help="an EMPTY PostgreSQL database URL to use instead of SQLite")
    ap.add_argument("--database", help="an existing, migrated database (a copy: scans write to it)")
    ap.add_argument("--key", help="the log's key file of --database")
    args = ap.parse_args()
    if bool(args.database) != bool(args.key):
        raise SystemExit("--database and --key go together")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    tmp = tempfile.mkdtemp(prefix="bench-public-")
    env = dict(os.environ, DATABASE_URL=args.database or args.postgres or f"sqlite:///{tmp}/trace.db",
               TRACE_KEY_FILE=args.key or f"{tmp}/log.key", SECRET_KEY="bench-secret", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    if args.database:
        path = pick(env)
        print(f"database {args.database.split('/')[-1]}; page {path}")
    else:
        path = prepare(env)
        print(f"demo loaded in {time.perf_counter() - t0:.1f} s; page {path}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(GUNICORN), "--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
           "--worker-class", args.worker_class, "--threads", str(args.threads), "--backlog", "2048",
           "--log-level", "warning", f"trace:create_app({APP_CONFIG})"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_up(base + "/healthz")
        for url in (base + "/healthz", base + path):  # warm every worker's caches
            subprocess.run(["wrk", "-t1", "-c8", "-d2s", url], check=True, capture_output=True)
        wrk_threads = 2
        trivial = wrk(base + "/healthz", args.seconds, args.connections, wrk_threads)
        page = wrk(base + path, args.seconds, args.connections, wrk_threads)
        with urllib.request.urlopen(base + path, timeout=5) as r:
            body = r.read()
            assert r.status == 200 and "苹果".encode() in body, "the page did not render"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if not args.postgres:
            shutil.rmtree(tmp, ignore_errors=True)  # (an existing --database is left where it is)
    ratio = page["rps"] / trivial["rps"]
    print(f"gunicorn {args.worker_class}, {args.workers} workers x {args.threads if args.worker_class == 'gthread' else 1} threads; wrk {wrk_threads} threads, "
          f"{args.connections} connections, {args.seconds} s each; database {'PostgreSQL' if args.postgres else 'SQLite (WAL)'}"
          f"{' ' + args.database.split('/')[-1] if args.database else ' (demo)'}")
    print(f"{'route':<34}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}")
    for name, r in (("/healthz (trivial)", trivial), ("package page (scan counted)", page)):
        print(f"{name:<34}{r['rps']:>10.0f}{r['p50']:>9.1f}{r['p90']:>9.1f}{r['p99']:>9.1f}{r['requests']:>10}{r['errors']:>8}")
    print(f"page size {len(body)} bytes; ratio page/trivial = {ratio:.1%} (target >= 30%)")
    ok = ratio >= 0.30 and page["errors"] == 0 and trivial["errors"] == 0 and page["p99"] < 100
    print("PASS" if ok else "FAIL: " + ", ".join(
        m for m, bad in (("ratio below 30%", ratio < 0.30), ("errors", page["errors"] or trivial["errors"]),
                         ("p99 >= 100 ms", page["p99"] >= 100)) if bad))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
