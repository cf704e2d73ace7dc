"""A believable season of demo data, written through the same domain commands as real use.

The season is recorded with a demo clock (trace.clock.FollowingClock): each command is recorded
at the time it says it happened, in the demo's own time, so that the time rules hold for it as
they would have live, and every entry says a demo clock recorded it (every page then says "demo
data"). Nothing here teaches the system to take back-dated entries: a real log's entries say
they are not demo entries, and its late ones need the bureau's approval (the demo shows one).

What it holds: the GI catalogue with its registrations as ../shared/DOMAIN.md found them (what
was not found stays unknown: no made-up registration number), the district's division codes
(NBS 2023), ten organisations, a household grower and a produce buyer, 17 plots with a season
of farming records each (pruning, irrigation, fertilising, pest control with the bureau's
pesticides, bagging apples, flowering and fruit-set notes), harvests in each product's months
(one refused for a spray's pre-harvest interval and made later), certificates of conformity
through receipts, splits, merges and processing, inspections official and own (one failed, on a
plot with a banned pesticide), a recall, a correction, approved and unapproved late entries,
GI logo authorisations, certifications (one expired, one revoked) and platform codes."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from trace import demo_bureau
from trace.clock import CHINA, FollowingClock, utc_now
from trace.db import read_session
from trace.domain import accounts
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.errors import DomainError
from trace.domain.identifiers import USCC_CHARS, gtin_check_digit, id_check_char, uscc_check_char
from trace.domain.queries.field import shipped_divisions
from trace.domain.tables.batches import Batch, Package

DEMO_PASSWORD = "shapotou-demo"  # demo only; printed by `make run` and listed in the README
APPLE_GTIN = "0690123456789" + gtin_check_digit("0690123456789")  # a test GTIN (GS1 China prefix)

# Division codes (trace/domain/data/divisions_640502.csv, NBS 2023).
SHAPOTOU, ZHONGNING = "640502000000", "640521000000"
XIANGSHAN = "640502200000"
XIANGSHAN_VILLAGES = {"景庄村": "640502200200", "梁水村": "640502200201", "黄泉村": "640502200202", "深井村": "640502200204",
                      "三眼井村": "640502200205", "新水村": "640502200206", "红圈村": "640502200207", "米粮川村": "640502200208"}
NANCHANGTAN = "640502108216"  # 南长滩村, listed under 迎水桥镇 (the 2015 pear registration names 香山乡)
GOJI_TOWNSHIPS = {"东园镇": "640502102000", "宣和镇": "640502105000", "柔远镇": "640502103000", "镇罗镇": "640502104000",
                  "永康镇": "640502106000"}

# The catalogue as DOMAIN.md has it. Harvest months are the bureau's working rule in the demo
# where no source gave a season (jujube, goji); areas not found are the named place as a whole.
PRODUCTS = [
    dict(id="shapotou-apple", name_zh="沙坡头苹果", name_en="Shapotou apple", lot_prefix="APL", gi_ref="",
         gi_kind="agi", gi_date="2018-02-12",  # number, holder and area not found
         harvest_months=[10], yield_g_per_mu=3_000_000, gtin=APPLE_GTIN, area=[("沙坡头区", "*", SHAPOTOU)]),
    dict(id="nanchangtan-jujube", name_zh="南长滩大枣", name_en="Nanchangtan jujube", lot_prefix="JUJ", gi_ref="",
         harvest_months=[9, 10], yield_g_per_mu=800_000, area=[("迎水桥镇", "南长滩村", NANCHANGTAN)]),
    dict(id="nanchangtan-soft-pear", name_zh="南长滩软梨子", name_en="Nanchangtan soft pear", lot_prefix="PEAR",
         gi_ref="AGI01791", gi_kind="agi", gi_holder="中卫市梨枣协会", gi_date="2015-11-05",
         harvest_months=[10, 11], yield_g_per_mu=2_000_000, area=[("香山乡", v, c) for v, c in XIANGSHAN_VILLAGES.items()]),
    dict(id="ningxia-goji", name_zh="宁夏枸杞", name_en="Ningxia goji", lot_prefix="GOJI", gi_ref="", gi_kind="gi_product",
         harvest_months=[6, 7, 8, 9, 10], yield_g_per_mu=300_000,
         area=[("中宁县", "*", ZHONGNING), *((t, "*", c) for t, c in GOJI_TOWNSHIPS.items())]),
]

# The bureau's pesticide list in the demo: real active ingredients, demo registration numbers
# (DEMO…) and intervals; methamidophos (甲胺磷) is banned in China.
PESTICIDES = [
    dict(reg_no="DEMO000101", name="吡虫啉", active_ingredient="imidacloprid 吡虫啉 10%",
         intervals=[["shapotou-apple", 14], ["nanchangtan-soft-pear", 14], ["nanchangtan-jujube", 14]]),
    dict(reg_no="DEMO000102", name="苯醚甲环唑", active_ingredient="difenoconazole 苯醚甲环唑 10%",
         intervals=[["shapotou-apple", 21], ["nanchangtan-soft-pear", 14]]),
    dict(reg_no="DEMO000103", name="高效氯氰菊酯", active_ingredient="beta-cypermethrin 高效氯氰菊酯 4.5%",
         intervals=[["shapotou-apple", 21], ["nanchangtan-jujube", 7], ["nanchangtan-soft-pear", 14]]),
    dict(reg_no="DEMO000104", name="石硫合剂", active_ingredient="lime sulphur 石硫合剂 45%",
         intervals=[["shapotou-apple", 7], ["nanchangtan-soft-pear", 7], ["nanchangtan-jujube", 7]]),
    dict(reg_no="DEMO000901", name="甲胺磷", active_ingredient="methamidophos 甲胺磷", intervals=[], banned=True),
]


def make_uscc(rng: random.Random, prefix: str) -> str:
    """A well-formed unified social credit code (GB 32100 check character) for demo parties."""
    body = prefix + "".join(rng.choice(USCC_CHARS[:10]) for _ in range(8)) + rng.choice(USCC_CHARS)
    return body + uscc_check_char(body)


def make_id_number(birth: str, sequence: int) -> str:
    """A well-formed resident identity number (GB 11643 check character) registered in Shapotou."""
    body = f"640502{birth}{sequence:03d}"
    return body + id_check_char(body)


def season_year(now: datetime) -> int:
    """The latest harvest season that is over: soft pears are picked in late autumn, so this
    year from December on, else last year."""
    local = now.astimezone(CHINA)
    return local.year if local.month == 12 else local.year - 1


@dataclass
class Plan:
    """The season's commands by time: run in order, each recorded at its own time."""

    items: list[tuple[datetime, int, Callable[[], Any]]] = field(default_factory=list)

    def at(self, when: datetime, fn: Callable[[], Any]) -> None:
        """Do `fn` at `when`."""
        self.items.append((when, len(self.items), fn))

    def run(self) -> None:
        """Everything, in the order it happened."""
        for _when, _n, fn in sorted(self.items, key=lambda i: (i[0], i[1])):
            fn()


def load(trace: Trace, seed: int = 2026) -> str:
    """Write the demo season through the domain commands; returns a summary."""
    rng = random.Random(seed)
    year = season_year(utc_now())
    clock = FollowingClock(datetime(year, 2, 20, 9, tzinfo=CHINA))
    trace = Trace(trace.engine, trace.ledger, clock=clock)  # the demo's own time (later demos record with it too)

    def at(month: int, day: int, hour: int = 9, minute: int | None = None) -> datetime:
        return datetime(year, month, day, hour, rng.randrange(60) if minute is None else minute, tzinfo=CHINA)

    run = trace.run
    run("division.define", SYSTEM, {"divisions": shipped_divisions()})
    for p in PRODUCTS:
        trace.define_product(SYSTEM, **p)
    for p in PESTICIDES:
        run("pesticide.define", SYSTEM, p)

    def party(kind: str, name: str, township: str = "", phone: str = "", **kw: Any) -> int:
        prefix = "11640502" if kind == "regulator" else "93640502" if "合作社" in name else "91640502"
        uscc = None if kw.get("form") == "person" else make_uscc(rng, prefix)
        return trace.register_party(SYSTEM, kind=kind, name=name, uscc=uscc, township=township,
                                    phone=phone or f"0955-70{rng.randrange(10000, 99999)}", **kw)

    coop_nct = party("grower", "中卫市沙坡头区南长滩红枣种植专业合作社", "迎水桥镇")
    coop_pear = party("grower", "中卫市沙坡头区香山乡软梨子种植专业合作社", "香山乡", platform_code="DEMO-ZT-640502-0001")
    coop_apple = party("grower", "中卫市沙坡头区迎水桥镇苹果种植专业合作社", "迎水桥镇")
    coop_dy = party("grower", "中卫市沙坡头区东园镇果品种植专业合作社", "东园镇")
    household = party("grower", "马建国", "香山乡", form="person", id_number=make_id_number("19680315", 271))
    buyer = party("buyer", "中卫市沙坡头区香山果品收购部", "香山乡")
    proc_fruit = party("processor", "中卫市沙坡头果品加工有限公司", "柔远镇")
    proc_date = party("processor", "宁夏南长滩枣业有限公司", "迎水桥镇")
    cold = party("cold_store", "中卫市沙坡头区冷链仓储有限公司", "迎水桥镇")
    carrier = party("carrier", "宁夏中卫顺达冷链物流有限公司", "滨河镇")
    retailer = party("retailer", "中卫市新百连锁超市有限公司", "滨河镇")
    amr = party("regulator", "中卫市沙坡头区市场监督管理局", "滨河镇", phone="0955-12315")
    names = {coop_nct: "nct-coop", coop_pear: "pear-coop", coop_apple: "apple-coop", coop_dy: "dongyuan-coop",
             household: "ma-household", buyer: "buyer", proc_fruit: "fruit-processor", proc_date: "date-processor",
             cold: "cold-store", carrier: "carrier", retailer: "retailer", amr: "regulator"}
    _users(trace, names)
    run("party.platform_code", Actor(None, coop_apple), {"party": coop_apple, "code": "DEMO-ZT-640502-0002"})

    def A(pid: int) -> Actor:  # noqa: N802 - reads like a role
        return Actor(None, pid)

    bureau = A(amr)
    # Who may use the GI special logo, per product (demo announcements); one authorisation ends.
    for pid, product in [(coop_pear, "nanchangtan-soft-pear"), (proc_fruit, "shapotou-apple"),
                         (proc_fruit, "nanchangtan-soft-pear"), (proc_date, "nanchangtan-jujube"), (coop_apple, "shapotou-apple")]:
        run("gi.authorise", bureau, {"party": pid, "product": product, "announcement": f"演示公告 {year} 第 1 号 (demo)",
                                     "valid_from": f"{year}-01-01", "valid_until": f"{year + 2}-12-31"})
    ended = run("gi.authorise", bureau, {"party": cold, "product": "shapotou-apple", "announcement": f"演示公告 {year} 第 1 号 (demo)",
                                         "valid_from": f"{year}-01-01"})
    run("gi.revoke", bureau, {"authorisation": ended.entry, "reason": "冷库不包装产品，停止使用 the cold store packs nothing"})

    plots: dict[int, list[int]] = {}
    plot_product: dict[int, str] = {}
    for pid, product, places in [
        (coop_nct, "nanchangtan-jujube", [NANCHANGTAN] * 4),
        (coop_pear, "nanchangtan-soft-pear", [XIANGSHAN_VILLAGES[v] for v in ("景庄村", "梁水村", "红圈村", "三眼井村")]),
        (household, "nanchangtan-soft-pear", [XIANGSHAN_VILLAGES["黄泉村"]]),
        (coop_apple, "shapotou-apple", ["640502108211", "640502108204", "640502108213", "640502108215"]),
        (coop_dy, "shapotou-apple", ["640502102218", "640502102217", "640502102206"]),
    ]:
        plots[pid] = []
        for code in places:
            area = "6.5" if pid == household else f"{rng.randrange(15, 40)}.{rng.randrange(10)}"
            plot = trace.register_plot(SYSTEM, party_id=pid, division=code, area_mu=area,
                                       lat=f"37.{rng.randrange(400000, 560000)}", lon=f"104.{rng.randrange(800000, 999999)}")
            plots[pid].append(plot)
            plot_product[plot] = product

    # Certifications: green food for the apple coop, organic processing, a GAP certificate that
    # expires before the pear harvest, and one the bureau revokes after a banned pesticide.
    run("certification.add", bureau, {"party": coop_apple, "scheme": "green_food", "number": f"LB-DEMO-{year}-0001",
                                      "issuer": "中国绿色食品发展中心 (demo)", "scope": "苹果 apples",
                                      "valid_from": f"{year - 1}-03-01", "valid_until": f"{year + 2}-02-28"})
    run("certification.add", A(proc_fruit), {"party": proc_fruit, "scheme": "organic", "number": f"OP-DEMO-{year}-0003",
                                             "issuer": "有机产品认证机构 (demo)", "scope": "鲜果分级包装 grading and packing",
                                             "valid_from": f"{year}-01-01", "valid_until": f"{year + 1}-12-31"})
    run("certification.add", A(coop_pear), {"party": coop_pear, "plot": plots[coop_pear][0], "scheme": "gap",
                                            "number": f"GAP-DEMO-{year - 3}-0002", "issuer": "GAP 认证机构 (demo)",
                                            "scope": "软梨子 soft pears", "valid_from": f"{year - 3}-11-01", "valid_until": f"{year}-10-31"})
    dy_cert = run("certification.add", bureau, {"party": coop_dy, "scheme": "green_food", "number": f"LB-DEMO-{year}-0004",
                                                "issuer": "中国绿色食品发展中心 (demo)", "scope": "苹果 apples",
                                                "valid_from": f"{year}-01-01", "valid_until": f"{year + 2}-12-31"})

    plan = Plan()
    sprays = _farming(plan, run, rng, at, plots, plot_product, A)
    # The banned spray on the last Dongyuan plot: recorded, with its alert; the bureau revokes the
    # coop's green food certificate after it.
    banned_plot = plots[coop_dy][-1]
    plan.at(at(8, 20, 7), lambda: run("farm.spray", A(coop_dy), {
        "plot": banned_plot, "product": "shapotou-apple", "pesticide": "DEMO000901", "dose": "1000倍液", "area_mu": "1",
        "target": "食心虫 fruit borer", "operator": "李明", "occurred_at": at(8, 20, 7, 30)}))
    plan.at(at(9, 2, 10), lambda: run("certification.revoke", bureau, {
        "id": dy_cert.event.certification.id, "reason": "发现使用禁用农药 a banned pesticide was used"}))
    # The spray that refuses one apple harvest: difenoconazole (21 days) on 24 September.
    phi_plot = plots[coop_apple][1]
    phi_spray = at(9, 24, 8, 0)
    plan.at(phi_spray, lambda: run("farm.spray", A(coop_apple), {
        "plot": phi_plot, "product": "shapotou-apple", "pesticide": "DEMO000102", "dose": "2000倍液", "area_mu": "2",
        "target": "轮纹病 ring rot", "operator": "王强", "occurred_at": phi_spray}))
    del sprays

    state: dict[str, Any] = {"harvests": [], "packages": 0, "refused": ""}
    _season(plan, trace, run, rng, at, year, state, plots, A, names=dict(
        coop_nct=coop_nct, coop_pear=coop_pear, coop_apple=coop_apple, coop_dy=coop_dy, household=household, buyer=buyer,
        proc_fruit=proc_fruit, proc_date=proc_date, cold=cold, carrier=carrier, retailer=retailer, amr=amr),
        phi=(phi_plot, phi_spray), banned_plot=banned_plot, clock=clock)
    plan.run()
    clock.advance(datetime(year, 11, 30, 18, tzinfo=CHINA))
    trace.set_credit(bureau, coop_apple, "red", "连续三年抽检全部合格 three years without a failed test")
    demo_bureau.load(trace)
    with read_session(trace.engine) as s:
        nb = s.scalar(select(func.count()).select_from(Batch))
        npk = s.scalar(select(func.count()).select_from(Package))
    return (f"demo season {year}: 4 products, {len(names)} parties, {sum(len(v) for v in plots.values())} plots, "
            f"{nb} batches, {npk} packages ({state['refused']}); "
            f"logins: {', '.join(sorted([*names.values(), 'admin']))} (password {DEMO_PASSWORD})")


# -- the season on the plots -------------------------------------------------------------------------------


def _farming(plan: Plan, run: Callable[..., Any], rng: random.Random, at: Callable[..., datetime],
             plots: dict[int, list[int]], plot_product: dict[int, str], A: Callable[[int], Actor]) -> int:  # noqa: N803
    """Every plot's season of records, March to September; returns the number of sprays."""
    owner = {plot: pid for pid, ps in plots.items() for plot in ps}
    n = 0
    for plot, product in plot_product.items():
        actor = A(owner[plot])
        area = "1"

        def record(when: datetime, command: str, data: dict[str, Any], actor: Actor = actor, plot: int = plot) -> None:
            plan.at(when, lambda: run(command, actor, {"plot": plot, **data, "occurred_at": when}))

        apple, pear = product == "shapotou-apple", product == "nanchangtan-soft-pear"
        record(at(3, 3 + plot % 10), "farm.work", {"kind": "prune", "note": "冬剪 winter pruning"})
        record(at(3, 18 + plot % 8), "farm.spray", {"product": product, "pesticide": "DEMO000104", "dose": "波美5度",
                                                    "area_mu": area, "target": "越冬病虫 overwintering pests",
                                                    "operator": rng.choice(["王强", "张丽", "马文"])})
        record(at(4, 2 + plot % 9), "farm.fertilise", {"name": "腐熟羊粪有机肥 composted sheep manure", "source": "本村养殖场 village farm",
                                                      "amount_g_per_mu": 1_500_000, "area_mu": area})
        record(at(4, 12 + plot % 6), "farm.work", {"kind": "irrigate", "note": "黄河水漫灌 Yellow River water"})
        record(at(4, 20 + plot % 7) if not pear else at(4, 10 + plot % 5), "farm.work", {"kind": "flower", "note": "盛花期 full bloom"})
        record(at(5, 15 + plot % 8), "farm.work", {"kind": "fruit_set", "note": "坐果良好 good fruit set"})
        record(at(5, 25 + plot % 4), "farm.spray", {"product": product, "pesticide": "DEMO000101", "dose": "3000倍液",
                                                    "area_mu": area, "target": "蚜虫 aphids", "operator": rng.choice(["王强", "张丽"])})
        record(at(6, 10 + plot % 10), "farm.fertilise", {"name": "硫酸钾复合肥 NPK 15-15-15", "source": "中卫农资公司 (demo)",
                                                        "amount_g_per_mu": 40_000, "area_mu": area})
        if apple:
            record(at(6, 20 + plot % 8), "farm.work", {"kind": "bag", "note": "套纸袋 paper bags"})
        record(at(7, 15 + plot % 10), "farm.work", {"kind": "pest_seen", "note": "零星食心虫 a few fruit borers"})
        record(at(8, 5 + plot % 10), "farm.spray", {"product": product, "pesticide": "DEMO000103", "dose": "2000倍液",
                                                    "area_mu": area, "target": "食心虫 fruit borer", "operator": rng.choice(["马文", "张丽"])})
        n += 3
    return n


def _season(plan: Plan, trace: Trace, run: Callable[..., Any], rng: random.Random, at: Callable[..., datetime], year: int,
            state: dict[str, Any], plots: dict[int, list[int]], A: Callable[[int], Actor], *, names: dict[str, int],  # noqa: N803
            phi: tuple[int, datetime], banned_plot: int, clock: FollowingClock) -> None:
    """Harvests and journeys, planned at their times."""
    p = names
    bureau = A(p["amr"])
    harvests = []  # (grower, product, plot, time, kg)
    for grower, product, start, kg in [(p["coop_nct"], "nanchangtan-jujube", at(9, 25, 7, 0), (900, 2500)),
                                       (p["coop_pear"], "nanchangtan-soft-pear", at(11, 8, 7, 0), (1500, 4000)),
                                       (p["coop_apple"], "shapotou-apple", at(10, 12, 7, 0), (2000, 6000)),
                                       (p["coop_dy"], "shapotou-apple", at(10, 13, 7, 0), (2000, 5500))]:
        for i in range(12):
            plot = plots[grower][i % len(plots[grower])]
            harvests.append((grower, product, plot, start + timedelta(days=i, hours=i % 4), rng.randrange(*kg) * 1000))
    for i in range(2):
        harvests.append((p["household"], "nanchangtan-soft-pear", plots[p["household"]][0], at(11, 10 + 4 * i, 8, 0), 600_000))
    phi_plot, phi_spray = phi

    for n, (grower, product, plot, t0, qty) in enumerate(harvests):
        lot: dict[str, Any] = {}
        if plot == phi_plot and t0.date() < (phi_spray + timedelta(days=21)).date() and not state["refused"]:
            # Within difenoconazole's 21 days: refused (nothing is written), made on the first allowed day.
            def attempt(grower: int = grower, plot: int = plot, t0: datetime = t0, qty: int = qty) -> None:
                try:
                    trace.register_harvest(A(grower), plot_id=plot, product_id="shapotou-apple", quantity_g=qty, occurred_at=t0)
                except DomainError as exc:
                    state["refused"] = f"one harvest refused on {t0.date()}: {exc.code}, made on {phi_spray.date() + timedelta(days=21)}"
            state["refused"] = "pending"
            plan.at(t0, attempt)
            t0 = datetime.combine(phi_spray.date() + timedelta(days=21), t0.timetz())
        _journey(plan, trace, run, rng, year, state, lot, n, grower, product, plot, t0, qty, A, p, bureau,
                 failed=plot == banned_plot and n % 4 == 2, certify=plot != banned_plot, clock=clock)
        state["harvests"].append(lot)
    # The buyer mixes a household batch with a cooperative batch: a new certificate links both.
    pears = [lot for lot in state["harvests"] if lot.get("to_buyer")]

    def buyer_merge() -> None:
        ids = [lot["id"] for lot in pears]
        with read_session(trace.engine) as s:
            takes = [s.get_one(Batch, b).loose_g for b in ids]
        merged = trace.merge(A(p["buyer"]), list(zip(ids, takes, strict=True)), occurred_at=at(11, 22, 10, 0))
        trace.ship(A(p["buyer"]), merged.id, to_party=p["proc_fruit"], vehicle="宁E·60231", occurred_at=at(11, 22, 14, 0))
        trace.receive(A(p["proc_fruit"]), merged.id, occurred_at=at(11, 22, 17, 0))
        state["packages"] += len(trace.pack(A(p["proc_fruit"]), merged.id, count=40, net_g=2500, shelf_life_days=90,
                                            occurred_at=at(11, 23, 9, 0)))
    plan.at(at(11, 22, 10, 0), buyer_merge)

    # The processor merges the loose rest of two apple batches and packs it.
    def apple_merge() -> None:
        with read_session(trace.engine) as s:
            rows = s.scalars(select(Batch).where(Batch.custodian_id == p["proc_fruit"], Batch.product_id == "shapotou-apple",
                                                 Batch.status == "active", Batch.transit_to_id.is_(None),
                                                 Batch.recalled.is_(False), Batch.form == "fresh").order_by(Batch.id)).all()
            rows = [b for b in rows if b.loose_g > 0][:2]
            parts = [(b.id, b.loose_g) for b in rows]
        if len(parts) == 2:
            merged = trace.merge(A(p["proc_fruit"]), parts, occurred_at=at(11, 3, 10, 0))
            state["packages"] += len(trace.pack(A(p["proc_fruit"]), merged.id, count=60, net_g=5000, shelf_life_days=120,
                                                occurred_at=at(11, 4, 9, 0)))
    plan.at(at(11, 3, 10, 0), apple_merge)


def _journey(plan: Plan, trace: Trace, run: Callable[..., Any], rng: random.Random, year: int, state: dict[str, Any],
             lot: dict[str, Any], n: int, grower: int, product: str, plot: int, t0: datetime, qty: int,
             A: Callable[[int], Actor], p: dict[str, int], bureau: Actor, *, failed: bool, certify: bool,  # noqa: N803
             clock: FollowingClock) -> None:
    """One batch from harvest to shop, planned command by command at their times."""
    g = A(grower)
    h, d = timedelta(hours=1), timedelta(days=1)
    official = n % 3 == 0 or failed
    to_buyer = grower == p["household"] or (grower == p["coop_pear"] and n % 12 == 5)
    lot["to_buyer"] = to_buyer
    processor = p["proc_date"] if product == "nanchangtan-jujube" else p["proc_fruit"]
    packer = g if grower == p["coop_dy"] and n % 12 == 7 else A(processor)  # one coop packs its own (not a GI logo user)
    held = 12 if n == 6 else 6  # days until it leaves the cold store (the late storage record comes first)

    def step(when: datetime, fn: Callable[[], Any]) -> None:
        plan.at(when, fn)

    def harvest() -> None:
        lot["id"] = trace.register_harvest(g, plot_id=plot, product_id=product, quantity_g=qty, occurred_at=t0).id
    step(t0, harvest)
    step(t0 + 3 * h, lambda: trace.inspect(
        bureau if official else g, lot["id"], lab="宁夏回族自治区农产品质量安全检测中心" if official else "自检室 own lab",
        report_no=f"NX-{year}-{1000 + n}", passed=not failed, certificate_no="" if failed else f"CC{year}{n:05d}",
        results=[{"name": "甲胺磷 methamidophos" if failed else "毒死蜱 chlorpyrifos", "value": "0.09" if failed else "<0.01",
                  "limit": "0.05" if failed else "0.02", "unit": "mg/kg", "pass": not failed},
                 {"name": "铅 Pb", "value": "<0.02", "limit": "0.1", "unit": "mg/kg", "pass": True}],
        occurred_at=t0 + 3 * h))
    if failed:
        return  # held by its failed inspection; no certificate can pledge its residues
    if n == 26:
        step(t0 + 4 * h, lambda: run("batch.platform_code", g, {"batch": lot["id"], "code": f"DEMO-ZS-{year}-000001"}))
    if certify:  # the grower's 承诺达标合格证, on the basis that is true of the batch
        step(t0 + 5 * h, lambda: run("certificate.issue", g, {
            "batch": lot["id"], "basis": "commissioned_test" if official else "own_test", "occurred_at": t0 + 5 * h}))
    step(t0 + 6 * h, lambda: trace.grade(g, lot["id"], grade=rng.choice(["特级", "一级", "一级", "二级"]), occurred_at=t0 + 6 * h))
    if to_buyer:
        step(t0 + 8 * h, lambda: trace.ship(g, lot["id"], to_party=p["buyer"], occurred_at=t0 + 8 * h))
        step(t0 + 10 * h, lambda: trace.receive(A(p["buyer"]), lot["id"], occurred_at=t0 + 10 * h))
        return
    if packer.party_id != grower:
        step(t0 + 8 * h, lambda: trace.ship(g, lot["id"], to_party=p["carrier"], vehicle=f"宁E·{rng.randrange(10000, 99999)}",
                                            occurred_at=t0 + 8 * h))
        step(t0 + 9 * h, lambda: trace.receive(A(p["carrier"]), lot["id"], occurred_at=t0 + 9 * h))
        step(t0 + 10 * h, lambda: trace.ship(A(p["carrier"]), lot["id"], to_party=processor,
                                             vehicle=f"宁E·{rng.randrange(10000, 99999)}", occurred_at=t0 + 10 * h))
        step(t0 + 12 * h, lambda: trace.receive(A(processor), lot["id"], occurred_at=t0 + 12 * h))

    def transform() -> None:
        bid = lot["id"]
        lot["work"] = [bid]
        if product == "nanchangtan-jujube" and n % 2 == 0:
            q = _quantity(trace, bid)
            lot["work"].append(trace.process(packer, bid, input_g=q // 2, output_g=q // 2 * 38 // 100, form="dried",
                                             method="自然晾晒 sun-dried", occurred_at=t0 + d).id)
        elif n % 4 == 1 and packer.party_id == processor:  # a split: the new lots' certificates link the harvest's
            q = _quantity(trace, bid)
            lot["work"] = [k.id for k in trace.split(packer, bid, [q // 2, q // 3], occurred_at=t0 + d)]
    step(t0 + d, transform)

    def pack() -> None:
        for w in lot["work"]:
            state["packages"] += len(trace.pack(packer, w, count=rng.randrange(20, 40), net_g=5000 if "apple" in product else 2500,
                                                shelf_life_days=120 if "apple" in product else 60 if "pear" in product else 180,
                                                occurred_at=t0 + 2 * d))
    step(t0 + 2 * d, pack)
    step(t0 + 2 * d + 3 * h, lambda: trace.ship(packer, lot["work"][0], to_party=p["cold"], occurred_at=t0 + 2 * d + 3 * h))
    step(t0 + 2 * d + 5 * h, lambda: trace.receive(A(p["cold"]), lot["work"][0], occurred_at=t0 + 2 * d + 5 * h))
    stored_at = t0 + 2 * d + 6 * h
    if n == 6:  # the cold store forgot to record storage: the bureau approves the late entry, marked 补录
        late = t0 + 11 * d

        def approve() -> None:
            run("late.approve", bureau, {"party": p["cold"], "batch": lot["work"][0], "earliest": stored_at - h,
                                         "reason": "冷库系统停电，按纸质记录补录 a power cut: copied from the paper log"})

        def store_late() -> None:
            with clock.recording_at(late):
                trace.store(A(p["cold"]), lot["work"][0], facility="迎水桥冷库 3 号库", temperature_c="0.5", occurred_at=stored_at)
        step(late - h, approve)
        step(late, store_late)
    else:
        def store() -> None:
            lot["stored"] = trace.store(A(p["cold"]), lot["work"][0], facility="迎水桥冷库 3 号库",
                                        temperature_c=f"{rng.choice([0, 1, 2])}.{rng.randrange(10)}", occurred_at=stored_at)
        step(stored_at, store)
    if n == 4:  # a misread thermometer, put right by a later entry (the first one stays)
        step(t0 + 2 * d + 9 * h, lambda: trace.correct(A(p["cold"]), lot["work"][0], target=lot["stored"],
                                                        changes={"temperature_dc": "1.5"}, reason="温度计读数抄错 misread",
                                                        occurred_at=t0 + 2 * d + 9 * h))
    step(t0 + held * d, lambda: trace.ship(A(p["cold"]), lot["work"][0], to_party=p["retailer"],
                                           vehicle=f"宁E·{rng.randrange(10000, 99999)}", occurred_at=t0 + held * d))
    step(t0 + held * d + 4 * h, lambda: trace.receive(A(p["retailer"]), lot["work"][0], occurred_at=t0 + held * d + 4 * h))
    if n % 3 != 2:
        def sell() -> None:
            with read_session(trace.engine) as s:
                ids = list(s.scalars(select(Package.id).where(Package.batch_id == lot["work"][0]).order_by(Package.id).limit(10)))
            sold = t0 + (held + 1) * d
            if n % 12 == 7 and grower == p["coop_nct"]:  # the shop types its sale in two days later: 补录, no approval needed
                with clock.recording_at(sold + 2 * d):
                    trace.sell(A(p["retailer"]), lot["work"][0], package_ids=ids, occurred_at=sold)
            else:
                trace.sell(A(p["retailer"]), lot["work"][0], package_ids=ids, occurred_at=sold)
        step(t0 + (held + 1) * d, sell)
    if n == 9:  # the bureau recalls a batch after a consumer complaint: everything made from it follows
        step(t0 + 8 * d, lambda: trace.recall(bureau, lot["id"], reason="消费者投诉异味，抽检霉变超标 mould found in a follow-up sample",
                                              occurred_at=t0 + 8 * d))


def _quantity(trace: Trace, batch_id: int) -> int:
    """A batch's current quantity in grams."""
    with read_session(trace.engine) as s:
        return s.get_one(Batch, batch_id).quantity_g


def _users(trace: Trace, names: dict[int, str]) -> None:
    """One login per demo party, plus an administrator (one password, hashed once)."""
    digest = generate_password_hash(DEMO_PASSWORD)
    for pid, username in [*names.items(), (None, "admin")]:
        accounts.create_user(trace, SYSTEM, party_id=pid, username=username, password=DEMO_PASSWORD,
                             is_admin=pid is None, password_hash=digest)
