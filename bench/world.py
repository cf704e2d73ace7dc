"""Logs for the benchmarks, built through the domain commands (so that they verify): a small
world for per-command figures, and a season of any size with a realistic mix of events.

A season's batch goes harvest, official inspection, grade, grower -> carrier -> processor,
pack, processor -> cold store, storage, cold store -> retailer, sale: 14 entries; one batch in
ten is split first and one in fifty processed, one in a hundred recalled. Commands go 2,000 to a
transaction (one checkpoint each), as an import would."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from trace.clock import FollowingClock, rfc3339
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.identifiers import uscc_check_char

PER_TX = 2000


def _uscc(n: int, prefix: str = "91640502") -> str:
    body = f"{prefix}{n:08d}X"
    return body + uscc_check_char(body)


def small(tr: Trace) -> dict[str, Any]:
    """A product, a grower with a plot and one harvested batch. The world is recorded in its own
    time (2025), so `tr` gets a demo clock (trace.clock.FollowingClock), as the demo has."""
    tr.clock = FollowingClock(datetime(2025, 9, 1, tzinfo=UTC))
    tr.define_product(SYSTEM, id="bench-apple", name_zh="沙坡头苹果", name_en="Shapotou apple", harvest_months=list(range(1, 13)),
                      yield_g_per_mu=10**12, lot_prefix="BEN", area=[("迎水桥镇", "*")])
    gid = tr.register_party(SYSTEM, kind="grower", name="基准合作社", uscc=_uscc(1))
    plot = tr.register_plot(SYSTEM, party_id=gid, township="迎水桥镇", village="沙坡头村", area_mu="100")
    grower = Actor(None, gid)
    batch = tr.register_harvest(grower, plot_id=plot, product_id="bench-apple", quantity_g=10**9,
                                occurred_at="2025-09-20T09:00+08:00")
    return {"grower": grower, "batch": batch.id}


def season(tr: Trace, *, entries: int, packages: int, growers: int = 20) -> dict[str, int]:
    """A log of about `entries` entries with about `packages` packages, recorded in its own time
    (the last 300 days) by a demo clock, each command when it says it happened."""
    tr.define_product(SYSTEM, id="bench-apple", name_zh="沙坡头苹果", name_en="Shapotou apple", harvest_months=list(range(1, 13)),
                      yield_g_per_mu=10**12, lot_prefix="BEN", area=[("迎水桥镇", "*")], gtin="06901234567892")
    ids = {kind: tr.register_party(SYSTEM, kind=kind, name=f"基准{kind}", uscc=_uscc(n, "11640502" if kind == "regulator" else "91640502"))
           for n, kind in enumerate(["processor", "cold_store", "carrier", "retailer", "regulator"], 2)}
    actors = {k: Actor(None, v) for k, v in ids.items()}
    farms = []
    for g in range(growers):
        gid = tr.register_party(SYSTEM, kind="grower", name=f"基准合作社{g}", uscc=_uscc(100 + g))
        farms.append((Actor(None, gid), tr.register_plot(SYSTEM, party_id=gid, township="迎水桥镇", village=f"村{g}", area_mu="99999")))
    per_batch = 14
    n_batches = max(1, (entries - 10 - 2 * growers) // per_batch)
    per_pack = max(1, round(packages / n_batches))
    start = datetime.now(UTC) - timedelta(days=300)
    tr.clock = FollowingClock(start)
    step = timedelta(days=290) / n_batches
    made = {"batches": 0, "packages": 0}
    pending: list[tuple[Actor, str, dict[str, Any]]] = []
    next_batch = 1
    next_package = 1

    def flush() -> None:
        if pending:
            tr.run_many(pending)
            pending.clear()

    for i in range(n_batches):
        grower, plot = farms[i % len(farms)]
        t0 = start + i * step

        def at(minutes: int, t0: datetime = t0) -> str:
            return rfc3339(t0 + timedelta(minutes=minutes))

        bid = next_batch
        next_batch += 1
        journey: list[tuple[Actor, str, dict[str, Any]]] = [
            (grower, "harvest", {"plot": plot, "product": "bench-apple", "quantity_g": 1_000_000, "occurred_at": at(0)}),
            (actors["regulator"], "inspect", {"batch": bid, "lab": "宁夏农产品质量检测中心", "report_no": f"NX-{i}", "passed": True,
                                              "results": [{"name": "铅 Pb", "value": "<0.02", "limit": "0.1", "unit": "mg/kg", "pass": True}],
                                              "occurred_at": at(60)}),
            (grower, "grade", {"batch": bid, "grade": "一级", "occurred_at": at(90)}),
            (grower, "ship", {"batch": bid, "to_party": ids["carrier"], "vehicle": "宁E·12345", "occurred_at": at(120)}),
            (actors["carrier"], "receive", {"batch": bid, "occurred_at": at(150)}),
            (actors["carrier"], "ship", {"batch": bid, "to_party": ids["processor"], "occurred_at": at(180)}),
            (actors["processor"], "receive", {"batch": bid, "occurred_at": at(240)}),
        ]
        work = bid
        if i % 10 == 3:  # a split: the pack comes from the first new lot
            work = next_batch
            next_batch += 2
            journey.append((actors["processor"], "split", {"batch": bid, "quantities": [400_000, 300_000], "occurred_at": at(270)}))
        elif i % 50 == 7:  # dried fruit
            work = next_batch
            next_batch += 1
            journey.append((actors["processor"], "process", {"batch": bid, "input_g": 500_000, "output_g": 200_000,
                                                             "form": "dried", "occurred_at": at(270)}))
        journey += [
            (actors["processor"], "pack", {"batch": work, "count": per_pack, "net_g": 5000, "occurred_at": at(300)}),
            (actors["processor"], "ship", {"batch": work, "to_party": ids["cold_store"], "occurred_at": at(330)}),
            (actors["cold_store"], "receive", {"batch": work, "all_packages": True, "occurred_at": at(360)}),
            (actors["cold_store"], "store", {"batch": work, "facility": "迎水桥冷库 3 号库", "temperature_c": "1.5", "occurred_at": at(370)}),
            (actors["cold_store"], "ship", {"batch": work, "to_party": ids["retailer"], "occurred_at": at(600)}),
            (actors["retailer"], "receive", {"batch": work, "all_packages": True, "occurred_at": at(660)}),
            (actors["retailer"], "sell", {"batch": work, "packages": list(range(next_package, next_package + max(1, per_pack // 2))),
                                          "occurred_at": at(900)}),
        ]
        if i % 100 == 42:
            journey.append((actors["regulator"], "recall", {"batch": bid, "reason": "抽检霉变超标 mould found", "level": 2,
                                                                "occurred_at": at(960)}))
        next_package += per_pack
        made["batches"] += next_batch - bid
        made["packages"] += per_pack
        pending.extend(journey)
        if len(pending) >= PER_TX:
            flush()
    flush()
    from trace.db import read_session
    from trace.ledger.store import Ledger

    with read_session(tr.engine) as s:
        made["entries"] = Ledger.size(s)
    return made


def sibling(url: str, name: str) -> str:
    """A second, empty database of the same PostgreSQL server."""
    from sqlalchemy import create_engine, text

    base, db = url.rsplit("/", 1)
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}_{name}"'))
        conn.execute(text(f'CREATE DATABASE "{db}_{name}"'))
    admin.dispose()
    return f"{base}/{db}_{name}"
