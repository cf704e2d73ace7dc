"""Fixtures: a fresh app and database per test, on SQLite and (when available) PostgreSQL."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select, text

import trace

# The standard library has a module called trace; ours must win (run from the project root).
if not hasattr(trace, "create_app"):
    raise RuntimeError(f"`import trace` found {trace.__file__}, not this project's package: run pytest from the project root")

from trace import create_app  # noqa: E402
from trace.cli import migrate  # noqa: E402
from trace.clock import CHINA  # noqa: E402
from trace.db import Base, read_session, write_session  # noqa: E402
from trace.domain.actors import SYSTEM, Actor  # noqa: E402
from trace.domain.commands import Trace  # noqa: E402
from trace.ledger.store import Ledger  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEASON = 2025
# A test records its season (SEASON) in that season's own time, as the demo does: every app the
# tests make (in this process or a spawned one) records each command when it says it happened,
# with a demo clock (trace.clock.FollowingClock: its entries say they are demo data), so that the
# time rules hold for it. Tests of the time rules make a Trace with a clock of their own.
os.environ.setdefault("TRACE_DEMO_CLOCK", f"{SEASON}-01-01")
PG_URL = os.environ.get("TRACE_TEST_POSTGRES", "")
ENGINES = ["sqlite"] + (["postgresql"] if PG_URL else [])
if os.environ.get("TRACE_REQUIRE_POSTGRES") and not PG_URL:
    raise RuntimeError("TRACE_REQUIRE_POSTGRES is set but no PostgreSQL was found (TRACE_TEST_POSTGRES is empty)")


def pytest_configure(config: pytest.Config) -> None:
    """Compile the translation catalogue with Babel's own tool, so that plain `pytest` sees a current one."""
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(ROOT / "trace" / "translations"), "-D", "messages"])


def pytest_report_header() -> str:
    return f"databases: {', '.join(ENGINES)}" + ("" if PG_URL else " (no PostgreSQL found: install it or set TRACE_TEST_POSTGRES)")


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrate each engine's database once per session."""
    out = {}
    tpl = tmp_path_factory.mktemp("tpl") / "template.db"
    migrate(f"sqlite:///{tpl}")
    out["sqlite"] = str(tpl)
    if PG_URL:
        # A database of our own per test session, so that parallel runs never collide.
        name = f"trace_t{os.getpid()}"
        admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        migrate(url)
        out["postgresql"] = url
        yield out
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    yield out


def _truncate_pg(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    meta = MetaData()
    meta.reflect(engine)
    names = ", ".join(f'"{t}"' for t in meta.tables if t != "alembic_version")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, _templates: dict[str, str], tmp_path: Path) -> str:
    """A migrated, empty database of each engine."""
    if request.param == "sqlite":
        path = tmp_path / "trace.db"
        shutil.copy(_templates["sqlite"], path)
        return f"sqlite:///{path}"
    _truncate_pg(_templates["postgresql"])
    return _templates["postgresql"]


@pytest.fixture
def app(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh app on a fresh database with an empty log and its own signing key."""
    app = create_app({"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                      "SECRET_KEY": "test-secret", "SECRET_KEY_FILE": str(tmp_path / "secret")})
    svc = app.extensions["trace"]
    with write_session(svc.engine) as s:
        Ledger.create_head(s)
    yield app
    svc.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def svc(app):  # type: ignore[no-untyped-def]
    """The app's services (engine, ledger, trace)."""
    return app.extensions["trace"]


@pytest.fixture
def tr(svc) -> Trace:  # type: ignore[no-untyped-def]
    """The domain service."""
    return svc.trace


def t(month: int, day: int, hour: int = 9) -> datetime:
    """A time in the test season, Beijing time."""
    return datetime(SEASON, month, day, hour, tzinfo=CHINA)


def uscc(n: int, prefix: str = "91640502") -> str:
    """A valid unified social credit code, distinct per n."""
    from trace.domain.identifiers import uscc_check_char

    body = f"{prefix}{n:08d}X"
    return body + uscc_check_char(body)


@pytest.fixture
def world(tr: Trace) -> dict[str, Any]:
    """A small GI world: the soft pear and apple, a grower with plots in and out of the area, a
    processor, a cold store, a carrier, a retailer and the bureau."""
    tr.define_product(SYSTEM, id="nanchangtan-soft-pear", name_zh="南长滩软梨子", name_en="Nanchangtan soft pear",
                      harvest_months=[9, 10], yield_g_per_mu=2_000_000, lot_prefix="PEAR", gi_ref="AGI01791",
                      area=[("香山乡", "南长滩村"), ("香山乡", "北长滩村")])
    tr.define_product(SYSTEM, id="shapotou-apple", name_zh="沙坡头苹果", name_en="Shapotou apple",
                      harvest_months=[9, 10], yield_g_per_mu=3_000_000, lot_prefix="APL", gtin="06901234567892",
                      area=[("迎水桥镇", "*")])
    ids: dict[str, Any] = {}
    for n, (key, kind, name) in enumerate([
        ("grower", "grower", "南长滩合作社"), ("grower2", "grower", "迎水桥苹果合作社"), ("processor", "processor", "沙坡头果品加工"),
        ("cold", "cold_store", "冷链仓储"), ("carrier", "carrier", "顺达物流"), ("retailer", "retailer", "新百超市"),
        ("bureau", "regulator", "沙坡头区市场监督管理局")], 1):
        ids[key] = tr.register_party(SYSTEM, kind=kind, name=name, uscc=uscc(n, "11640502" if kind == "regulator" else "91640502"))
    ids["plot"] = tr.register_plot(SYSTEM, party_id=ids["grower"], township="香山乡", village="南长滩村", area_mu="10")
    ids["plot_out"] = tr.register_plot(SYSTEM, party_id=ids["grower"], township="香山乡", village="景庄村", area_mu="5")
    ids["plot2"] = tr.register_plot(SYSTEM, party_id=ids["grower2"], township="迎水桥镇", village="沙坡头村", area_mu="4.5")
    ids["actors"] = {k: Actor(None, v) for k, v in ids.items() if isinstance(v, int) and k.startswith(("grower", "processor", "cold", "carrier", "retailer", "bureau"))}
    return ids


# Tables a refused request writes on purpose: a failed login is counted (trace.domain.throttle).
NOT_IN_SNAPSHOT = {"login_throttle"}


@pytest.fixture
def snapshot(svc) -> Callable[[], tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """A function returning the log size and every other table's rows, to prove nothing changed."""
    def take() -> tuple[Any, ...]:
        with read_session(svc.engine) as s:
            tables = []
            for table in Base.metadata.sorted_tables:
                if table.name in NOT_IN_SNAPSHOT:
                    continue
                pk = list(table.primary_key.columns)
                tables.append((table.name, s.execute(select(table).order_by(*pk)).all()))
            return Ledger.size(s), tables
    return take


@pytest.fixture
def harvest(tr: Trace, world: dict[str, Any]) -> Callable[..., Any]:
    """Register a pear harvest of `kg` from the grower's plot."""
    def make(kg: int = 1000, when: datetime | None = None) -> Any:
        return tr.register_harvest(world["actors"]["grower"], plot_id=world["plot"], product_id="nanchangtan-soft-pear",
                                   quantity_g=kg * 1000, occurred_at=when or t(9, 20))
    return make

