"""The demo season is believable and verifies; the migrations build exactly the models' schema."""
from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from trace import demo
from trace.db import Base, read_session
from trace.domain.identifiers import gtin_problem
from trace.domain.tables.batches import Batch, BatchLink, Package
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, Plot, User


def test_demo_season(svc, runner) -> None:
    summary = demo.load(svc.trace)
    assert "batches" in summary
    with read_session(svc.engine) as s:
        kinds = dict(s.execute(select(Party.kind, func.count()).group_by(Party.kind)).all())
        assert kinds["grower"] >= 3 and kinds["processor"] >= 2
        assert kinds["cold_store"] >= 1 and kinds["carrier"] >= 1 and kinds["retailer"] >= 1 and kinds["regulator"] >= 1
        products = {p.id: p for p in s.scalars(select(Product))}
        assert {"shapotou-apple", "nanchangtan-jujube", "nanchangtan-soft-pear", "ningxia-goji"} <= products.keys()
        pear = products["nanchangtan-soft-pear"]
        assert pear.gi_ref == "AGI01791" and len(pear.area) == 8 and {a.township for a in pear.area} == {"香山乡"}
        assert gtin_problem(products["shapotou-apple"].gtin) is None
        # plots lie in their products' areas
        for plot in s.scalars(select(Plot)):
            assert any(p.allows(plot.township, plot.village, plot.division) for p in products.values())
        assert s.scalar(select(func.count()).select_from(Batch)) >= 50
        assert s.scalar(select(func.count()).select_from(Package)) >= 1000
        assert {r for (r,) in s.execute(select(BatchLink.kind).distinct())} == {"split", "merge", "process"}
        assert s.scalar(select(func.count()).select_from(Batch).where(Batch.form == "dried")) >= 1
        assert s.scalar(select(func.count()).select_from(Batch).where(Batch.inspection == "failed")) >= 1
        assert s.scalar(select(func.count()).select_from(Batch).where(Batch.recalled)) >= 2  # a batch and its children
        assert {p.id for p in s.scalars(select(Product))} == {b for (b,) in s.execute(select(Batch.product_id).distinct())} | {"ningxia-goji"}
        assert s.scalar(select(func.count()).select_from(User)) == sum(kinds.values()) + 1  # one login per party, one admin
        kinds_logged = {json.loads(b)["event"]["type"] for _, b in svc.ledger.iter_entries(s)}
    assert {"harvest", "inspect", "grade", "split", "merge", "process", "pack", "store", "ship", "receive", "sell", "recall"} <= kinds_logged
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output


def test_demo_command_loads_once(runner) -> None:
    first = runner.invoke(args=["demo", "--if-empty"])
    assert first.exit_code == 0 and "packages" in first.output
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "already loaded" in again.output
    assert runner.invoke(args=["demo"]).exit_code != 0
    cp = runner.invoke(args=["checkpoint"])
    assert cp.exit_code == 0 and cp.output.startswith("shapotou.trace.example/log\n")


def test_migrations_match_the_models(svc) -> None:
    with svc.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
