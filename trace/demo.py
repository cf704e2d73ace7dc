"""A believable season of demo data: the GI catalogue, the district's parties, and 50+ batches
with full journeys from plot to shelf (splits, a merge, dried dates, a failed inspection and a
recall), all written through the same domain commands as real use."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from trace import demo_bureau
from trace.clock import CHINA
from trace.db import read_session
from trace.domain import accounts
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.identifiers import USCC_CHARS, gtin_check_digit, uscc_check_char
from trace.domain.tables.batches import Batch, Package

DEMO_PASSWORD = "shapotou-demo"  # demo only; printed by `make run` and listed in the README
APPLE_GTIN = "0690123456789" + gtin_check_digit("0690123456789")  # a test GTIN (GS1 China prefix)

# Villages of Xiangshan township (香山乡) along the Yellow River gorge, where the soft pear and
# the jujube of Nanchangtan are registered. A regulator can change these areas with an event.
XIANGSHAN_VILLAGES = ["南长滩村", "北长滩村", "梁水园村", "红泉村", "景庄村", "三眼井村", "黄泉村", "沙泉村"]
APPLE_TOWNSHIPS = ["迎水桥镇", "东园镇", "柔远镇", "镇罗镇", "宣和镇", "永康镇", "常乐镇"]

PRODUCTS = [
    dict(id="shapotou-apple", name_zh="沙坡头苹果", name_en="Shapotou apple", lot_prefix="APL", gi_ref="AGI-SPT-APPLE",
         harvest_months=[9, 10, 11], yield_g_per_mu=3_000_000, gtin=APPLE_GTIN,
         area=[(t, "*") for t in APPLE_TOWNSHIPS]),
    dict(id="nanchangtan-jujube", name_zh="南长滩大枣", name_en="Nanchangtan jujube", lot_prefix="JUJ", gi_ref="AGI-NCT-JUJUBE",
         harvest_months=[9, 10], yield_g_per_mu=800_000, area=[("香山乡", v) for v in XIANGSHAN_VILLAGES[:4]]),
    dict(id="nanchangtan-soft-pear", name_zh="南长滩软梨子", name_en="Nanchangtan soft pear", lot_prefix="PEAR", gi_ref="AGI01791",
         harvest_months=[9, 10], yield_g_per_mu=2_000_000, area=[("香山乡", v) for v in XIANGSHAN_VILLAGES]),
    dict(id="ningxia-goji", name_zh="宁夏枸杞", name_en="Ningxia goji", lot_prefix="GOJI", gi_ref="AGI-NX-GOJI",
         harvest_months=[6, 7, 8, 9, 10], yield_g_per_mu=300_000, area=[(t, "*") for t in ("常乐镇", "永康镇", "宣和镇")]),
]


def make_uscc(rng: random.Random, prefix: str) -> str:
    """A well-formed unified social credit code (GB 32100 check character) for demo parties."""
    body = prefix + "".join(rng.choice(USCC_CHARS[:10]) for _ in range(8)) + rng.choice(USCC_CHARS)
    return body + uscc_check_char(body)


def season_year(now: datetime) -> int:
    """The latest harvest season that is over: this year from November on, else last year."""
    local = now.astimezone(CHINA)
    return local.year if local.month >= 11 else local.year - 1


def load(trace: Trace, seed: int = 2026) -> str:
    """Write the demo season through the domain commands; returns a summary."""
    rng = random.Random(seed)
    year = season_year(trace.clock())

    def at(month: int, day: int, hour: int = 9) -> datetime:
        return datetime(year, month, day, hour, rng.randrange(60), tzinfo=CHINA)

    for p in PRODUCTS:
        trace.define_product(SYSTEM, **p)

    def party(kind: str, name: str, township: str = "", gi_logo: bool = False, phone: str = "") -> int:
        prefix = "11640502" if kind == "regulator" else "93640502" if "合作社" in name else "91640502"
        return trace.register_party(SYSTEM, kind=kind, name=name, uscc=make_uscc(rng, prefix), township=township,
                                    gi_logo=gi_logo, phone=phone or f"0955-70{rng.randrange(10000, 99999)}")

    coop_nct = party("grower", "中卫市沙坡头区南长滩红枣种植专业合作社", "香山乡", gi_logo=True)
    coop_pear = party("grower", "中卫市沙坡头区香山乡软梨子种植专业合作社", "香山乡", gi_logo=True)
    coop_apple = party("grower", "中卫市沙坡头区迎水桥镇苹果种植专业合作社", "迎水桥镇", gi_logo=True)
    coop_dy = party("grower", "中卫市沙坡头区东园镇果品种植专业合作社", "东园镇")
    proc_fruit = party("processor", "中卫市沙坡头果品加工有限公司", "柔远镇", gi_logo=True)
    proc_date = party("processor", "宁夏南长滩枣业有限公司", "香山乡", gi_logo=True)
    cold = party("cold_store", "中卫市沙坡头区冷链仓储有限公司", "迎水桥镇")
    carrier = party("carrier", "宁夏中卫顺达冷链物流有限公司", "滨河镇")
    retailer = party("retailer", "中卫市新百连锁超市有限公司", "滨河镇")
    amr = party("regulator", "中卫市沙坡头区市场监督管理局", "滨河镇", phone="0955-12315")
    names = {coop_nct: "nct-coop", coop_pear: "pear-coop", coop_apple: "apple-coop", coop_dy: "dongyuan-coop",
             proc_fruit: "fruit-processor", proc_date: "date-processor", cold: "cold-store", carrier: "carrier",
             retailer: "retailer", amr: "regulator"}
    _users(trace, names)

    def A(pid: int) -> Actor:  # noqa: N802 - reads like a role
        return Actor(None, pid)

    plots: dict[int, list[int]] = {}
    for pid, places in [(coop_nct, [("香山乡", "南长滩村")] * 3 + [("香山乡", "北长滩村")]),
                        (coop_pear, [("香山乡", v) for v in ("南长滩村", "梁水园村", "景庄村", "红泉村")]),
                        (coop_apple, [("迎水桥镇", v) for v in ("夹道村", "沙坡头村", "何滩村", "鸣沙村")]),
                        (coop_dy, [("东园镇", v) for v in ("金沙村", "郭庄村", "黄湾村")])]:
        plots[pid] = [trace.register_plot(SYSTEM, party_id=pid, township=t, village=v, area_mu=f"{rng.randrange(8, 40)}.{rng.randrange(10)}",
                                          lat=f"37.{rng.randrange(400000, 560000)}", lon=f"104.{rng.randrange(800000, 999999)}")
                      for t, v in places]

    harvests: list[tuple[int, int, str]] = []  # (grower, batch id, product)
    for grower, product, kg in [(coop_nct, "nanchangtan-jujube", (900, 2500)), (coop_pear, "nanchangtan-soft-pear", (1500, 4000)),
                                (coop_apple, "shapotou-apple", (3000, 9000)), (coop_dy, "shapotou-apple", (2500, 7000))]:
        for i in range(13):
            plot = plots[grower][i % len(plots[grower])]
            when = at(9 if i < 7 else 10, 5 + i, 7 + i % 4)
            b = trace.register_harvest(A(grower), plot_id=plot, product_id=product,
                                       quantity_g=rng.randrange(*kg) * 1000, occurred_at=when)
            harvests.append((grower, b.id, product))

    packages = 0
    failed = recalled = None
    for n, (grower, bid, product) in enumerate(harvests):
        t = at(10, 20 if n % 2 else 18)
        bad = n == 17  # one batch fails its pesticide-residue test
        trace.inspect(A(amr if n % 3 == 0 else grower), bid, lab="宁夏回族自治区农产品质量安全检测中心" if n % 3 == 0 else "中卫市农产品质量检测站",
                      report_no=f"NX-{year}-{1000 + n}", passed=not bad, certificate_no="" if bad else f"CC{year}{n:05d}",
                      results=[{"name": "毒死蜱 chlorpyrifos", "value": "0.08" if bad else "<0.01", "limit": "0.02", "unit": "mg/kg", "pass": not bad},
                               {"name": "铅 Pb", "value": "<0.02", "limit": "0.1", "unit": "mg/kg", "pass": True}],
                      occurred_at=t)
        if bad:
            failed = bid
            continue
        trace.grade(A(grower), bid, grade=rng.choice(["特级", "一级", "一级", "二级"]), occurred_at=t + timedelta(hours=2))
        processor = proc_date if product == "nanchangtan-jujube" else proc_fruit
        trace.ship(A(grower), bid, to_party=carrier, vehicle=f"宁E·{rng.randrange(10000, 99999)}", occurred_at=t + timedelta(hours=4))
        trace.receive(A(carrier), bid, occurred_at=t + timedelta(hours=5))
        trace.ship(A(carrier), bid, to_party=processor, vehicle=f"宁E·{rng.randrange(10000, 99999)}", occurred_at=t + timedelta(hours=6))
        trace.receive(A(processor), bid, occurred_at=t + timedelta(hours=8))
        work = [bid]
        if product == "nanchangtan-jujube" and n % 2 == 0:
            qty = _quantity(trace, bid)
            dried = trace.process(A(processor), bid, input_g=qty // 2, output_g=qty // 2 * 38 // 100, form="dried",
                                  method="自然晾晒 sun-dried", occurred_at=t + timedelta(days=1))
            work.append(dried.id)
        elif n % 4 == 1:
            qty = _quantity(trace, bid)
            kids = trace.split(A(processor), bid, [qty // 2, qty // 3], occurred_at=t + timedelta(days=1))
            work = [k.id for k in kids]
        for w in work:
            pk = trace.pack(A(processor), w, count=rng.randrange(20, 40), net_g=5000 if "apple" in product else 2500,
                            occurred_at=t + timedelta(days=2))
            packages += len(pk)
        dest = work[0]
        trace.ship(A(processor), dest, to_party=cold, occurred_at=t + timedelta(days=2, hours=3))
        trace.receive(A(cold), dest, occurred_at=t + timedelta(days=2, hours=5))
        stored = trace.store(A(cold), dest, facility="迎水桥冷库 3 号库", temperature_c=f"{rng.choice([0, 1, 2])}.{rng.randrange(10)}",
                             occurred_at=t + timedelta(days=2, hours=6))
        if n == 4:  # a misread thermometer, put right by a later entry (the first one stays)
            trace.correct(A(cold), dest, target=stored, changes={"temperature_dc": "1.5"}, reason="温度计读数抄错 misread",
                          occurred_at=t + timedelta(days=2, hours=9))
        trace.ship(A(cold), dest, to_party=retailer, vehicle=f"宁E·{rng.randrange(10000, 99999)}", occurred_at=t + timedelta(days=12))
        trace.receive(A(retailer), dest, occurred_at=t + timedelta(days=12, hours=4))
        if n % 3 != 2:
            with read_session(trace.engine) as s:
                ids = list(s.scalars(select(Package.id).where(Package.batch_id == dest).order_by(Package.id).limit(10)))
            trace.sell(A(retailer), dest, package_ids=ids, occurred_at=t + timedelta(days=14))
        if n == 9:
            recalled = bid
    # A merge of two apple batches at the processor (both still held there).
    apples = [b for g, b, p in harvests if p == "shapotou-apple"]
    with read_session(trace.engine) as s:
        mergeable = [b for b in apples if (bt := s.get_one(Batch, b)).custodian_id == proc_fruit and bt.status == "active" and bt.loose_g > 0 and bt.transit_to_id is None and not bt.recalled][:2]
        takes = [s.get_one(Batch, b).loose_g for b in mergeable]
    merged = trace.merge(A(proc_fruit), list(zip(mergeable, takes, strict=True)), occurred_at=at(11, 3))
    packages += len(trace.pack(A(proc_fruit), merged.id, count=60, net_g=5000, occurred_at=at(11, 4)))
    # The bureau recalls a batch after a consumer complaint: everything made from it follows.
    assert recalled is not None and failed is not None
    trace.recall(A(amr), recalled, reason="消费者投诉异味，抽检霉变超标 mould found in a follow-up sample", occurred_at=at(11, 8))
    trace.set_credit(A(amr), coop_apple, "red", "连续三年抽检全部合格 three years without a failed test")
    demo_bureau.load(trace)
    with read_session(trace.engine) as s:
        nb = s.scalar(select(func.count()).select_from(Batch))
    return (f"demo season {year}: 4 products, 10 parties, {sum(len(v) for v in plots.values())} plots, "
            f"{nb} batches, {packages} packages; logins: {', '.join(sorted(names.values()))} (password {DEMO_PASSWORD})")


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
