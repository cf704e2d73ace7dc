"""Signer record and witness benchmark: append rates with the signer's record and a witness
cosigning (a real witness process over HTTP on this machine), against plain SQLAlchemy inserts
measured in the same run, and the time from a write's commit to a stored cosignature covering it.

    .venv/bin/python bench/bench_witness.py [--database-url URL] [--single 1000] [--batches 20]

Targets (issue 8): single appends >= 40% of plain insert+commit; 1,000-event appends >= 25% of
plain batched inserts, both with the record and cosigning on. Run from the project root."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ledger import _sibling, grade_event, plain, setup  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from trace.db import read_session, write_session  # noqa: E402
from trace.ledger.store import Ledger  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_witness(tmp: str, origin: str, vkey: str) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    """`flask --app trace witness serve` in its own process, with its own key and state."""
    env = {**os.environ, "TRACE_WITNESS_KEY_FILE": f"{tmp}/witness.key", "TRACE_WITNESS_STATE": f"{tmp}/witness.db",
           "TRACE_WITNESS_LOGS": f"{origin} {vkey}", "TRACE_WITNESS_NAME": "witness.bench/w1", "SECRET_KEY": "bench",
           "DATABASE_URL": f"sqlite:///{tmp}/unused.db"}
    flask = str(Path(sys.executable).parent / "flask")
    wkey = subprocess.run([flask, "--app", "trace", "witness", "key"], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([flask, "--app", "trace", "witness", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"{wkey} http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--single", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--latency", type=int, default=300, help="paced writes whose cosignature delay is measured")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-witness-")
    url = _sibling(args.database_url, tmp) if args.database_url else f"sqlite:///{tmp}/bench.db"
    print(f"database: {url.split('@')[-1]}")
    _app, svc, actor, batch_id = setup(url, f"{tmp}/log.key")
    proc, spec = start_witness(tmp, svc.origin, svc.signer.vkey)
    try:
        svc.witnesses_spec = spec
        svc.__dict__.pop("witnesses", None)
        cosigning = svc.cosigning
        guarded = svc.ledger  # signer record on
        guarded.on_checkpoint = cosigning.notify  # cosigning on
        bare = Ledger(svc.origin, svc.signer)  # the ledger as before this issue: no record, no witness
        recorded = Ledger(svc.origin, svc.signer, record=guarded.record)  # the record, no witness
        run(svc, guarded, bare, recorded, cosigning, actor, batch_id, args)
    finally:
        svc.cosigning.close()
        proc.terminate()
        proc.wait(timeout=10)


def run(svc, guarded, bare, recorded, cosigning, actor, batch_id, args) -> None:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        row_size = len(svc.ledger.entry(s, svc.ledger.size(s) - 1))
    rec = lambda i: {"event": grade_event(batch_id, i), "party": actor.party_id, "user": None}  # noqa: E731
    base = 20_000_000

    def write(ledger, records) -> int:  # type: ignore[no-untyped-def]
        with write_session(svc.engine) as s:
            head = ledger.lock(s)
            head, _ = ledger.append_many(s, head, records)
            ledger.sign_checkpoint(s, head)
        return head.size

    def plain_single(i: int) -> None:
        with Session(svc.engine) as s:
            s.execute(insert(plain), {"idx": base + i, "body": os.urandom(row_size)})
            s.commit()

    def plain_batch(b: int) -> None:
        with Session(svc.engine) as s:
            s.execute(insert(plain), [{"idx": base + 5_000_000 + b * 1000 + i, "body": os.urandom(row_size)} for i in range(1000)])
            s.commit()

    rates: dict[str, list[float]] = {k: [] for k in ("plain1", "bare1", "rec1", "log1", "plainN", "bareN", "recN", "logN")}
    n1, nN = args.single // 5, max(1, args.batches // 5)
    for r in range(5):  # interleaved rounds: every variant sees the same machine load
        for key, fn in (("plain1", lambda i, r=r: plain_single(r * args.single + i)), ("bare1", lambda i: write(bare, [rec(i)])),
                        ("rec1", lambda i: write(recorded, [rec(i)])), ("log1", lambda i: write(guarded, [rec(i)]))):
            t0 = time.perf_counter()
            for i in range(n1):
                fn(i)
            rates[key].append(n1 / (time.perf_counter() - t0))
        for key, fn in (("plainN", lambda b, r=r: plain_batch(r * args.batches + b)), ("bareN", lambda b: write(bare, [rec(i) for i in range(1000)])),
                        ("recN", lambda b: write(recorded, [rec(i) for i in range(1000)])), ("logN", lambda b: write(guarded, [rec(i) for i in range(1000)]))):
            t0 = time.perf_counter()
            for b in range(nN):
                fn(b)
            rates[key].append(nN * 1000 / (time.perf_counter() - t0))
    m = {k: statistics.median(v) for k, v in rates.items()}
    print(f"entry size {row_size} bytes; medians of 5 interleaved rounds; cosigning rounds so far: {cosigning.rounds}")
    print(f"plain insert+commit, 1/transaction:        {m['plain1']:8.0f}/s")
    print(f"log, no record, no witness (before):       {m['bare1']:8.0f}/s  ratio {m['bare1'] / m['plain1']:6.1%}")
    print(f"log + signer record:                       {m['rec1']:8.0f}/s  ratio {m['rec1'] / m['plain1']:6.1%}")
    print(f"log + signer record + witness cosigning:   {m['log1']:8.0f}/s  ratio {m['log1'] / m['plain1']:6.1%}  (target >= 40%)")
    print(f"plain batched inserts, 1000/transaction:   {m['plainN']:8.0f}/s")
    print(f"log, no record, no witness (before):       {m['bareN']:8.0f}/s  ratio {m['bareN'] / m['plainN']:6.1%}")
    print(f"log + signer record:                       {m['recN']:8.0f}/s  ratio {m['recN'] / m['plainN']:6.1%}")
    print(f"log + signer record + witness cosigning:   {m['logN']:8.0f}/s  ratio {m['logN'] / m['plainN']:6.1%}  (target >= 25%)")

    # Write -> cosigned checkpoint: paced single writes, each timed from its commit until the
    # witness's cosignature on a checkpoint of at least its size is stored.
    name = cosigning.witnesses[0].name
    waits = []
    for i in range(args.latency):
        size = write(guarded, [rec(i)])
        t0 = time.monotonic()
        while cosigning.cosigned.get(name, (0, 0.0))[0] < size:
            time.sleep(0.0002)
            if time.monotonic() - t0 > 30:
                raise SystemExit(f"no cosignature for size {size} within 30 s")
        waits.append(max(0.0, cosigning.cosigned[name][1] - t0))
        time.sleep(0.01)
    waits.sort()
    print(f"write -> cosigned checkpoint ({args.latency} paced writes, witness over HTTP on this machine): "
          f"median {statistics.median(waits) * 1000:.1f} ms, p99 {waits[int(len(waits) * 0.99) - 1] * 1000:.1f} ms, "
          f"max {waits[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
