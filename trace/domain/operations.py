"""Commands on the ledger's domain, named by verbs: register_harvest, split, ship, recall ...

Each command runs in ONE transaction: take the log's write lock, check the command against
the current state, append the event to the log, apply it to the state tables, sign a
checkpoint, commit. A refused command raises a DomainError and writes nothing."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.db import write_session
from trace.domain import projection
from trace.domain.batches import Batch, BatchEvent, BatchLink, Package, PackageSecret
from trace.domain.catalogue import Product
from trace.domain.codes import (
    LOT_RE,
    gtin_problem,
    lot_code,
    new_serial,
    serial_hash,
    uscc_problem,
)
from trace.domain.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.parties import CreditStatus, Party, PartyContact, PartyKind, Plot
from trace.ledger.store import Head, Ledger, rfc3339

CHINA = timezone(timedelta(hours=8))
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run a little ahead
MAX_TEXT = 200
MAX_GRAMS = 10**12  # a million tonnes: anything bigger is a typo
HANDLERS = (PartyKind.PROCESSOR, PartyKind.COLD_STORE, PartyKind.CARRIER, PartyKind.RETAILER)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user of a party, or the system itself (CLI, demo) with admin rights."""

    user_id: int | None
    party_id: int | None
    is_admin: bool = False


SYSTEM = Actor(None, None, True)


@dataclass
class Tx:
    """One write transaction under the log lock."""

    session: Session
    head: Head
    ledger: Ledger
    actor: Actor
    now: datetime
    indexes: list[int] = field(default_factory=list)

    def record(self, event: dict[str, Any]) -> int:
        """Append `event` to the log and apply it to the state tables; returns its entry index."""
        rec = {"event": event, "party": self.actor.party_id, "user": self.actor.user_id}
        self.head, entry = self.ledger.append(self.session, self.head, rec)
        # Apply exactly what the log holds, as a replay would.
        projection.apply(self.session, entry.index, json.loads(entry.body))
        self.session.flush()
        self.indexes.append(entry.index)
        return entry.index

    def next_id(self, model: type, column: str = "id") -> int:
        """Next explicit id; safe because we hold the write lock, and replay-stable (no sequences)."""
        return (self.session.scalar(select(func.max(getattr(model, column)))) or 0) + 1


# -- input checking ------------------------------------------------------------------------


def text(value: object, field_: str, zh: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """A trimmed text input within bounds."""
    s = "" if value is None else str(value).strip()
    if required and not s:
        raise InvalidInput(f"请填写{zh}。", f"{field_.replace('_', ' ').capitalize()} is required.", field_)
    if len(s) > max_len:
        raise InvalidInput(f"{zh}最多 {max_len} 个字符，现在有 {len(s)} 个。",
                           f"{field_.replace('_', ' ').capitalize()} may have at most {max_len} characters, not {len(s)}.", field_)
    if any(ord(c) < 32 and c not in "\t\n" for c in s):
        raise InvalidInput(f"{zh}含有控制字符。", f"{field_} contains control characters.", field_)
    return s


def grams(value: object, field_: str = "quantity_g", *, allow_zero: bool = False) -> int:
    """A quantity in integer grams; refuses floats, negatives and nonsense."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput("数量必须是整数克。", "Quantity must be a whole number of grams.", field_)
    if isinstance(value, str):
        v = value.strip()
        if not re.fullmatch(r"\d{1,13}", v):
            raise InvalidInput("数量必须是不带小数的正整数（克）。", "Quantity must be a positive whole number of grams.", field_)
        value = int(v)
    if not isinstance(value, int):
        raise InvalidInput("数量必须是整数克。", "Quantity must be a whole number of grams.", field_)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput("数量必须大于零。", "Quantity must be greater than zero.", field_)
    if value > MAX_GRAMS:
        raise InvalidInput("数量大得不合理，请检查单位（克）。", "Quantity is implausibly large; check the unit (grams).", field_)
    return value


MAX_ID = 2**31 - 1  # ids are 32-bit integers in every engine


def ident(value: object, field_: str, zh: str) -> int:
    """An id from user input: a positive integer in range, else a clear error (never a driver error)."""
    s = str(value).strip() if value is not None else ""
    if not s.isdigit() or not s.isascii():
        raise InvalidInput(f"{zh}编号必须是正整数。", f"{field_.replace('_', ' ').capitalize()} must be a positive whole number.", field_)
    n = int(s)
    if not 1 <= n <= MAX_ID:
        raise NotFound(f"{zh}不存在。", f"{field_.replace('_', ' ').capitalize()} {s[:20]} does not exist.", field_)
    return n


def when(value: datetime | str | None, now: datetime, field_: str = "occurred_at") -> datetime:
    """An event time: aware, not in the future."""
    if value is None or value == "":
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("时间格式不对，应为 2026-09-20T08:00+08:00。",
                               "The time is not valid; use e.g. 2026-09-20T08:00+08:00.", field_) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA)  # people here type Beijing time
    if value.year < 2000:
        raise InvalidInput("时间不合理：年份应在 2000 年以后。", "The time is implausible: the year must be 2000 or later.", field_)
    if value > now + CLOCK_SKEW:
        raise RuleViolation("事件时间不能晚于现在。", "The event time cannot be in the future.", field_)
    return value


class Trace:
    """The domain's entry point: commands that write, guarded by the rules."""

    def __init__(self, engine: Engine, ledger: Ledger, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.ledger = ledger
        self.clock = clock or ledger.clock

    @contextmanager
    def transaction(self, actor: Actor) -> Iterator[Tx]:
        """A write transaction under the log lock; signs a checkpoint of what it appended."""
        with write_session(self.engine) as session:
            head = self.ledger.lock(session)
            tx = Tx(session, head, self.ledger, actor, self.clock())
            yield tx
            if tx.indexes:
                self.ledger.sign_checkpoint(session, tx.head)

    # -- lookups with authorization --------------------------------------------------------

    @staticmethod
    def _party(s: Session, actor: Actor) -> Party:
        if actor.party_id is None:
            raise Forbidden("此操作需要以某个单位的身份进行。", "This action must be taken on behalf of a party.")
        party = s.get(Party, actor.party_id)
        if party is None:
            raise NotFound("单位不存在。", f"Party {actor.party_id} does not exist.")
        return party

    @staticmethod
    def _batch(s: Session, batch_id: object) -> Batch:
        bid = ident(batch_id, "batch", "批次")
        batch = s.get(Batch, bid)
        if batch is None:
            raise NotFound("批次不存在。", f"Batch {bid} does not exist.", "batch")
        return batch

    def _custody(self, s: Session, actor: Actor, batch: Batch) -> Party:
        """The acting party, if it holds the batch and may append to it now."""
        party = self._party(s, actor)
        if batch.custodian_id != party.id:
            raise Forbidden("该批次不在本单位保管中。", f"Batch {batch.lot_code} is not in your custody.", "batch")
        if batch.transit_to_id is not None:
            raise RuleViolation("该批次已发出，等待对方接收。", f"Batch {batch.lot_code} has been shipped and awaits receipt.", "batch")
        if batch.recalled:
            raise RuleViolation("该批次已被召回，不能再操作。", f"Batch {batch.lot_code} has been recalled.", "batch")
        if batch.status != "active":
            raise RuleViolation("该批次已用完或已售出。", f"Batch {batch.lot_code} is {batch.status}.", "batch")
        return party

    def _regulator_or_custodian(self, s: Session, actor: Actor, batch: Batch, zh: str, en: str) -> None:
        """Regulators act on any batch; anyone else only on batches it holds."""
        party = self._party(s, actor)
        if party.kind != PartyKind.REGULATOR and batch.custodian_id != party.id:
            raise Forbidden(f"只能{zh}本单位保管的批次。", f"You may {en} only batches in your custody.", "batch")

    @staticmethod
    def _not_held(batch: Batch) -> None:
        if batch.inspection == "failed":
            raise RuleViolation("该批次检验不合格，需复检合格后才能包装、发运或销售。",
                                f"Batch {batch.lot_code} failed inspection; it cannot be packed, shipped or sold until it passes a new one.", "batch")

    @staticmethod
    def _not_black(party: Party, zh: str, en: str) -> None:
        if party.credit_status == CreditStatus.BLACK:
            raise RuleViolation(f"本单位已被列入质量信用黑名单，不能{zh}。",
                                f"Your party is on the quality-credit black list and cannot {en}.")

    def _time(self, tx: Tx, value: datetime | str | None, batch: Batch | None = None) -> str:
        t = rfc3339(when(value, tx.now))
        if batch is not None and t < batch.harvested_at:
            raise RuleViolation("事件时间不能早于该批次的采收时间。",
                                f"The event time cannot be before the batch's harvest ({batch.harvested_at}).", "occurred_at")
        return t

    @staticmethod
    def _regulator(s: Session, actor: Actor) -> None:
        party = s.get(Party, actor.party_id) if actor.party_id else None
        if party is None or party.kind != PartyKind.REGULATOR:
            raise Forbidden("只有市场监管部门可以进行此操作。", "Only the market supervision bureau may do this.")

    @classmethod
    def _regulator_or_admin(cls, s: Session, actor: Actor) -> None:
        if not actor.is_admin:
            cls._regulator(s, actor)

    def _new_lot(self, tx: Tx, batch_id: int, product: Product, season: int) -> dict[str, Any]:
        lot = lot_code(product.lot_prefix, season, batch_id)
        assert LOT_RE.match(lot)
        return {"id": batch_id, "lot": lot}

    # -- catalogue, parties, plots -----------------------------------------------------------

    def define_product(self, actor: Actor, *, id: str, name_zh: str, name_en: str, harvest_months: Sequence[int],
                       yield_g_per_mu: int, lot_prefix: str, area: Sequence[tuple[str, str]],
                       gtin: str | None = None, gi_ref: str = "") -> int:
        """Define a GI product or change one (its area, months, ceiling): a regulator's act."""
        pid = text(id, "id", "产品代码", max_len=40)
        if not re.fullmatch(r"[a-z0-9-]+", pid):
            raise InvalidInput("产品代码只能用小写字母、数字和连字符。", "Product id may contain only a-z, 0-9 and -.", "id")
        months = sorted({int(m) for m in harvest_months})
        if not months or any(not 1 <= m <= 12 for m in months):
            raise InvalidInput("采收月份应为 1 到 12。", "Harvest months must be between 1 and 12.", "harvest_months")
        if gtin:
            problem = gtin_problem(gtin)
            if problem:
                raise InvalidInput(f"GTIN 无效：{problem}", f"GTIN {problem}.", "gtin")
        prefix = text(lot_prefix, "lot_prefix", "批号前缀", max_len=8)
        if not re.fullmatch(r"[A-Z0-9]{2,8}", prefix):
            raise InvalidInput("批号前缀为 2 到 8 个大写字母或数字。", "Lot prefix must be 2 to 8 capital letters or digits.", "lot_prefix")
        if not area:
            raise InvalidInput("保护范围不能为空。", "The protected area cannot be empty.", "area")
        places = sorted({(text(t, "township", "乡镇", max_len=40), text(v, "village", "村", max_len=40)) for t, v in area})
        with self.transaction(actor) as tx:
            self._regulator_or_admin(tx.session, actor)
            other = tx.session.scalar(select(Product).where(Product.lot_prefix == prefix, Product.id != pid))
            if other is not None:
                raise RuleViolation("该批号前缀已被其他产品使用。", f"Lot prefix {prefix} is used by {other.id}.", "lot_prefix")
            return tx.record({"type": "product.define", "product": {
                "id": pid, "name_zh": text(name_zh, "name_zh", "中文名称"), "name_en": text(name_en, "name_en", "英文名称"),
                "gtin": gtin or None, "gi_ref": text(gi_ref, "gi_ref", "登记证号", required=False, max_len=40),
                "harvest_months": months, "yield_g_per_mu": grams(yield_g_per_mu, "yield_g_per_mu"),
                "lot_prefix": prefix, "area": [{"township": t, "village": v} for t, v in places]}})

    def register_party(self, actor: Actor, *, kind: str, name: str, uscc: str, township: str = "",
                       gi_logo: bool = False, phone: str = "", address: str = "") -> int:
        """Register a party (administrator or regulator). Returns its id."""
        if kind not in {k.value for k in PartyKind}:
            raise InvalidInput("单位类型无效。", f"Kind must be one of: {', '.join(k.value for k in PartyKind)}.", "kind")
        code = text(uscc, "uscc", "统一社会信用代码", max_len=18 + 10).upper()
        problem = uscc_problem(code)
        if problem:
            raise InvalidInput(f"统一社会信用代码无效（{problem}）。", f"The unified social credit code {problem}.", "uscc")
        nm = text(name, "name", "名称")
        with self.transaction(actor) as tx:
            self._regulator_or_admin(tx.session, actor)
            if tx.session.scalar(select(Party.id).where(Party.uscc == code)) is not None:
                raise RuleViolation("该统一社会信用代码已登记。", "A party with this credit code is already registered.", "uscc")
            pid = tx.next_id(Party)
            tx.record({"type": "party.register", "party": {
                "id": pid, "kind": kind, "name": nm, "uscc": code,
                "township": text(township, "township", "乡镇", required=False, max_len=40), "gi_logo": bool(gi_logo)}})
            # Contact details stay out of the public log.
            tx.session.add(PartyContact(party_id=pid, phone=text(phone, "phone", "电话", required=False, max_len=40),
                                        address=text(address, "address", "地址", required=False)))
            return pid

    def set_credit(self, actor: Actor, party_id: int, status: str, reason: str) -> int:
        """Put a party on the red or black list, or back to normal: regulators only."""
        if status not in {c.value for c in CreditStatus}:
            raise InvalidInput("信用状态无效。", "Status must be normal, red or black.", "status")
        why = text(reason, "reason", "原因", max_len=500)
        with self.transaction(actor) as tx:
            self._regulator(tx.session, actor)  # the credit list is the bureau's alone, not the operator's
            party = tx.session.get(Party, ident(party_id, "party", "单位"))
            if party is None:
                raise NotFound("单位不存在。", f"Party {party_id} does not exist.", "party")
            return tx.record({"type": "party.credit", "party_id": party.id, "status": status, "reason": why})

    def register_plot(self, actor: Actor, *, party_id: int, township: str, village: str, area_mu: str | int,
                      lat: str | None = None, lon: str | None = None) -> int:
        """Register a grower's plot. A grower registers its own; an administrator any grower's."""
        centimu = parse_centi(area_mu, "area_mu", "面积")
        if centimu <= 0 or centimu > 100_000_00:
            raise InvalidInput("面积应大于 0 且不超过 100000 亩。", "Area must be more than 0 and at most 100,000 mu.", "area_mu")
        lat_m = parse_micro(lat, "lat", -90, 90)
        lon_m = parse_micro(lon, "lon", -180, 180)
        with self.transaction(actor) as tx:
            s = tx.session
            owner = s.get(Party, ident(party_id, "party", "单位"))
            if owner is None:
                raise NotFound("单位不存在。", f"Party {party_id} does not exist.", "party")
            if owner.kind != PartyKind.GROWER:
                raise RuleViolation("地块只能属于种植户或合作社。", "Plots belong to growers and cooperatives only.", "party")
            if not actor.is_admin and actor.party_id != owner.id:
                raise Forbidden("只能登记本单位的地块。", "You may register plots of your own party only.", "party")
            pid = tx.next_id(Plot)
            tx.record({"type": "plot.register", "plot": {
                "id": pid, "party_id": owner.id, "township": text(township, "township", "乡镇", max_len=40),
                "village": text(village, "village", "村", max_len=40), "area_centimu": centimu,
                "lat_micro": lat_m, "lon_micro": lon_m}})
            return pid

    # -- the batch's journey ----------------------------------------------------------------

    def register_harvest(self, actor: Actor, *, plot_id: int, product_id: str, quantity_g: object,
                         occurred_at: datetime | str | None = None) -> Batch:
        """Register a harvest from one of the actor's plots, under the GI origin rules."""
        qty = grams(quantity_g)
        with self.transaction(actor) as tx:
            s = tx.session
            party = self._party(s, actor)
            if party.kind != PartyKind.GROWER:
                raise Forbidden("只有种植户或合作社可以登记采收。", "Only growers and cooperatives register harvests.")
            self._not_black(party, "登记采收", "register harvests")
            plot = s.get(Plot, ident(plot_id, "plot", "地块"))
            if plot is None:
                raise NotFound("地块不存在。", f"Plot {plot_id} does not exist.", "plot")
            if plot.party_id != party.id:
                raise Forbidden("这不是本单位的地块。", "This plot does not belong to your party.", "plot")
            product = s.get(Product, str(product_id)[:40])
            if product is None:
                raise NotFound("产品不存在。", f"Product {product_id} does not exist.", "product")
            t = when(occurred_at, tx.now)
            local = t.astimezone(CHINA)
            if not product.allows(plot.township, plot.village):
                raise RuleViolation(
                    f"地块位于{plot.township}{plot.village}，不在{product.name_zh}的地理标志保护范围内。",
                    f"The plot in {plot.village}, {plot.township} is outside the protected area of {product.name_en}.", "plot")
            if local.month not in product.months:
                months = "、".join(f"{m}月" for m in product.months)
                raise RuleViolation(f"{product.name_zh}的采收期是{months}，{local.month}月不在采收期内。",
                                    f"{product.name_en} is harvested in months {product.harvest_months}, not in month {local.month}.", "occurred_at")
            season = local.year
            before = s.scalar(select(func.coalesce(func.sum(Batch.harvest_g), 0)).where(
                Batch.origin_plot_id == plot.id, Batch.product_id == product.id, Batch.season == season,
                Batch.harvest_g.is_not(None))) or 0
            ceiling = plot.area_centimu * product.yield_g_per_mu // 100
            if before + qty > ceiling:
                raise RuleViolation(
                    f"超出产量上限：该地块{plot.area_mu_text}亩，本季最多 {ceiling // 1000} 公斤，已登记 {before // 1000} 公斤，本次 {qty // 1000} 公斤。",
                    f"Over the yield ceiling: the {plot.area_mu_text} mu plot may yield at most {ceiling // 1000} kg this season; "
                    f"{before // 1000} kg are registered and this harvest is {qty // 1000} kg.", "quantity_g")
            bid = tx.next_id(Batch)
            tx.record({"type": "harvest", "batch": self._new_lot(tx, bid, product, season), "product": product.id,
                       "plot": plot.id, "quantity_g": qty, "season": season, "occurred_at": rfc3339(t)})
            return s.get_one(Batch, bid)

    def inspect(self, actor: Actor, batch_id: object, *, lab: str, report_no: str, passed: bool,
                results: Sequence[dict[str, Any]] = (), certificate_no: str = "",
                occurred_at: datetime | str | None = None) -> int:
        """Record an inspection: regulators on any batch, the custodian on its own."""
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            self._regulator_or_custodian(s, actor, batch, "检验", "inspect")
            clean = [_result(r) for r in results]
            return tx.record({"type": "inspect", "batch": batch.id, "lab": text(lab, "lab", "检测机构"),
                              "report_no": text(report_no, "report_no", "报告编号", max_len=60), "passed": bool(passed),
                              "results": clean, "certificate_no": text(certificate_no, "certificate_no", "合格证编号", required=False, max_len=60),
                              "occurred_at": self._time(tx, occurred_at, batch)})

    def grade(self, actor: Actor, batch_id: object, *, grade: str, occurred_at: datetime | str | None = None) -> int:
        """Grade a batch (e.g. 特级, 一级)."""
        with self.transaction(actor) as tx:
            batch = self._batch(tx.session, batch_id)
            self._custody(tx.session, actor, batch)
            return tx.record({"type": "grade", "batch": batch.id, "grade": text(grade, "grade", "等级", max_len=40),
                              "occurred_at": self._time(tx, occurred_at, batch)})

    def split(self, actor: Actor, batch_id: object, quantities: Sequence[object],
              occurred_at: datetime | str | None = None) -> list[Batch]:
        """Split a batch into new batches; what they take never exceeds what the batch has loose."""
        qtys = [grams(q) for q in quantities]
        if not qtys:
            raise InvalidInput("请至少给出一个分拆数量。", "Give at least one quantity to split off.", "quantities")
        if len(qtys) > 500:
            raise InvalidInput("一次最多分拆 500 个批次。", "At most 500 batches per split.", "quantities")
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            self._custody(s, actor, batch)
            if sum(qtys) > batch.loose_g:
                raise RuleViolation(f"分拆总量 {sum(qtys)} 克超过了该批次未包装的 {batch.loose_g} 克。",
                                    f"The split takes {sum(qtys)} g but the batch has {batch.loose_g} g unpacked.", "quantities")
            first = tx.next_id(Batch)
            product = batch.product
            children = [{**self._new_lot(tx, first + i, product, batch.season), "quantity_g": q} for i, q in enumerate(qtys)]
            tx.record({"type": "split", "batch": batch.id, "children": children, "occurred_at": self._time(tx, occurred_at, batch)})
            return [s.get_one(Batch, c["id"]) for c in children]

    def merge(self, actor: Actor, parts: Sequence[tuple[object, object]], *, quantity_g: object | None = None,
              occurred_at: datetime | str | None = None) -> Batch:
        """Merge quantities of batches of one product in the actor's custody into a new batch."""
        if len(parts) < 2:
            raise InvalidInput("合并至少需要两个批次。", "A merge needs at least two batches.", "batches")
        with self.transaction(actor) as tx:
            s = tx.session
            batches, takes = [], []
            for bid, q in parts:
                batch = self._batch(s, bid)
                self._custody(s, actor, batch)
                take = grams(q)
                if take > batch.loose_g:
                    raise RuleViolation(f"批次 {batch.lot_code} 只有 {batch.loose_g} 克未包装。",
                                        f"Batch {batch.lot_code} has only {batch.loose_g} g unpacked.", "batches")
                batches.append(batch)
                takes.append(take)
            if len({b.id for b in batches}) != len(batches):
                raise InvalidInput("同一批次不能合并两次。", "A batch appears twice in the merge.", "batches")
            if len({(b.product_id, b.form) for b in batches}) != 1:
                raise RuleViolation("只能合并同一产品、同一形态的批次。", "Only batches of the same product and form can be merged.", "batches")
            total = sum(takes)
            out = total if quantity_g in (None, "") else grams(quantity_g)
            if out > total:
                raise RuleViolation(f"合并后的数量 {out} 克超过投入的 {total} 克。", f"The merged batch ({out} g) exceeds its inputs ({total} g).", "quantity_g")
            t = self._time(tx, occurred_at, max(batches, key=lambda b: b.harvested_at))
            bid = tx.next_id(Batch)
            season = min(b.season for b in batches)
            tx.record({"type": "merge", "batches": [{"id": b.id, "quantity_g": q} for b, q in zip(batches, takes, strict=True)],
                       "child": {**self._new_lot(tx, bid, batches[0].product, season), "quantity_g": out}, "occurred_at": t})
            return s.get_one(Batch, bid)

    def process(self, actor: Actor, batch_id: object, *, input_g: object, output_g: object, form: str,
                method: str = "", occurred_at: datetime | str | None = None) -> Batch:
        """Process part of a batch (e.g. dry dates) into a new batch; the yield is at most 100%."""
        inp, outp = grams(input_g, "input_g"), grams(output_g, "output_g")
        frm = text(form, "form", "产品形态", max_len=20)
        if not re.fullmatch(r"[a-z_]{2,20}", frm):
            raise InvalidInput("形态代码只能用小写字母，如 dried。", "Form must be a lower-case word such as dried.", "form")
        if outp > inp:
            raise RuleViolation("加工后的数量不能超过投入量。", f"Output ({outp} g) cannot exceed input ({inp} g).", "output_g")
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            party = self._custody(s, actor, batch)
            if party.kind not in (PartyKind.PROCESSOR, PartyKind.GROWER):
                raise Forbidden("只有加工企业或种植户可以加工。", "Only processors and growers process fruit.")
            if inp > batch.loose_g:
                raise RuleViolation(f"投入量 {inp} 克超过了该批次未包装的 {batch.loose_g} 克。",
                                    f"The input ({inp} g) exceeds the batch's {batch.loose_g} g unpacked.", "input_g")
            bid = tx.next_id(Batch)
            tx.record({"type": "process", "batch": batch.id, "input_g": inp, "form": frm,
                       "method": text(method, "method", "加工方法", required=False),
                       "yield_permille": outp * 1000 // inp,
                       "child": {**self._new_lot(tx, bid, batch.product, batch.season), "quantity_g": outp},
                       "occurred_at": self._time(tx, occurred_at, batch)})
            return s.get_one(Batch, bid)

    def pack(self, actor: Actor, batch_id: object, *, count: object, net_g: object,
             occurred_at: datetime | str | None = None) -> list[tuple[Package, str]]:
        """Pack `count` packages of `net_g` each; returns the packages with their secret serials."""
        try:
            n = int(str(count).strip())
        except ValueError:
            raise InvalidInput("包装数量必须是整数。", "Count must be a whole number.", "count") from None
        if not 1 <= n <= 5000:
            raise InvalidInput("一次包装 1 到 5000 件。", "Pack between 1 and 5,000 packages at a time.", "count")
        net = grams(net_g, "net_g")
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            party = self._custody(s, actor, batch)
            self._not_black(party, "包装", "pack")
            self._not_held(batch)
            if n * net > batch.loose_g:
                raise RuleViolation(f"{n} 件 × {net} 克 = {n * net} 克，超过了该批次未包装的 {batch.loose_g} 克。",
                                    f"{n} × {net} g = {n * net} g exceeds the batch's {batch.loose_g} g unpacked.", "count")
            first = tx.next_id(Package)
            serials = [new_serial() for _ in range(n)]
            tx.record({"type": "pack", "batch": batch.id, "occurred_at": self._time(tx, occurred_at, batch),
                       "packages": [{"id": first + i, "net_g": net, "serial_hash": serial_hash(sn)} for i, sn in enumerate(serials)]})
            s.add_all(PackageSecret(package_id=first + i, serial=sn) for i, sn in enumerate(serials))
            s.flush()
            return [(s.get_one(Package, first + i), sn) for i, sn in enumerate(serials)]

    def store(self, actor: Actor, batch_id: object, *, facility: str, temperature_c: str | float | int,
              occurred_at: datetime | str | None = None) -> int:
        """Record cold storage with its temperature (kept as integer tenths of a degree)."""
        tenths = parse_tenths(temperature_c)
        with self.transaction(actor) as tx:
            batch = self._batch(tx.session, batch_id)
            self._custody(tx.session, actor, batch)
            return tx.record({"type": "store", "batch": batch.id, "facility": text(facility, "facility", "库点"),
                              "temperature_dc": tenths, "occurred_at": self._time(tx, occurred_at, batch)})

    def ship(self, actor: Actor, batch_id: object, *, to_party: object, vehicle: str = "",
             occurred_at: datetime | str | None = None) -> int:
        """Ship a batch to another party; it must receive it before anyone appends again."""
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            party = self._custody(s, actor, batch)
            self._not_held(batch)
            target = s.get(Party, ident(to_party, "to_party", "收货单位"))
            if target is None:
                raise NotFound("收货单位不存在。", "The receiving party does not exist.", "to_party")
            if target.id == party.id:
                raise RuleViolation("不能发给本单位。", "You cannot ship to your own party.", "to_party")
            if target.kind not in HANDLERS:
                raise RuleViolation("只能发给加工、冷库、物流或零售单位。", "Ship only to a processor, cold store, carrier or retailer.", "to_party")
            return tx.record({"type": "ship", "batch": batch.id, "to_party": target.id,
                              "vehicle": text(vehicle, "vehicle", "车辆", required=False, max_len=40),
                              "occurred_at": self._time(tx, occurred_at, batch)})

    def receive(self, actor: Actor, batch_id: object, occurred_at: datetime | str | None = None) -> int:
        """Accept a batch shipped to the actor's party; custody passes to it."""
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            party = self._party(s, actor)
            if batch.transit_to_id != party.id:
                raise Forbidden("该批次没有发给本单位。", f"Batch {batch.lot_code} was not shipped to your party.", "batch")
            return tx.record({"type": "receive", "batch": batch.id, "occurred_at": self._time(tx, occurred_at, batch)})

    def sell(self, actor: Actor, batch_id: object, *, package_ids: Sequence[int] | None = None, loose_g: object = 0,
             occurred_at: datetime | str | None = None) -> int:
        """Sell packages of a batch (all unsold ones when none are named) and/or loose grams."""
        loose = grams(loose_g, "loose_g", allow_zero=True)
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            self._custody(s, actor, batch)
            self._not_held(batch)
            q = select(Package.id).where(Package.batch_id == batch.id, Package.status == "packed")
            unsold = set(s.scalars(q))
            ids = sorted(unsold) if package_ids is None and not loose else sorted({ident(i, "packages", "包装") for i in package_ids or []})
            if set(ids) - unsold:
                raise RuleViolation("有的包装不属于该批次或已售出。", "Some packages are not unsold packages of this batch.", "packages")
            if loose > batch.loose_g:
                raise RuleViolation(f"散装只剩 {batch.loose_g} 克。", f"Only {batch.loose_g} g are left loose.", "loose_g")
            if not ids and not loose:
                raise InvalidInput("没有可以销售的包装或散装数量。", "Nothing to sell: no unsold packages or loose quantity.", "packages")
            return tx.record({"type": "sell", "batch": batch.id, "packages": ids, "loose_g": loose,
                              "occurred_at": self._time(tx, occurred_at, batch)})

    def recall(self, actor: Actor, batch_id: object, *, reason: str, occurred_at: datetime | str | None = None) -> list[int]:
        """Recall a batch and everything made from it; regulators on any batch, the custodian on its own."""
        why = text(reason, "reason", "召回原因", max_len=500)
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            self._regulator_or_custodian(s, actor, batch, "召回", "recall")
            if batch.recalled:
                raise RuleViolation("该批次已被召回。", f"Batch {batch.lot_code} is already recalled.", "batch")
            affected = descendants(s, batch.id)
            tx.record({"type": "recall", "batch": batch.id, "reason": why, "affected": affected,
                       "occurred_at": self._time(tx, occurred_at, batch)})
            return affected

    CORRECTABLE = {"inspect": {"lab", "report_no", "certificate_no"}, "store": {"facility", "temperature_dc"},
                   "grade": {"grade"}, "ship": {"vehicle"}, "harvest": set(), "process": {"method"}}

    def correct(self, actor: Actor, batch_id: object, *, target: int, changes: dict[str, Any], reason: str,
                occurred_at: datetime | str | None = None) -> int:
        """Amend an earlier event by a later one; the earlier entry stays as it was."""
        why = text(reason, "reason", "更正原因", max_len=500)
        with self.transaction(actor) as tx:
            s = tx.session
            batch = self._batch(s, batch_id)
            party = self._party(s, actor)
            ev = s.get(BatchEvent, (batch.id, ident(target, "target", "记录")))
            if ev is None:
                raise NotFound("该批次没有这条记录。", f"Entry {target} is not in batch {batch.lot_code}'s history.", "target")
            if party.kind != PartyKind.REGULATOR and ev.party_id != party.id:
                raise Forbidden("只能更正本单位记录的事件。", "You may correct only events your party recorded.", "target")
            allowed = self.CORRECTABLE.get(ev.kind, set()) | {"occurred_at", "note"}
            bad = set(changes) - allowed
            if bad or not changes:
                raise InvalidInput(f"不能更正这些字段：{', '.join(sorted(bad)) or '（空）'}；可更正：{', '.join(sorted(allowed))}。",
                                   f"These fields cannot be corrected: {', '.join(sorted(bad)) or '(none given)'}; allowed: {', '.join(sorted(allowed))}.", "changes")
            clean: dict[str, Any] = {}
            for k, v in changes.items():
                if k == "occurred_at":
                    clean[k] = self._time(tx, v, batch)
                elif k == "temperature_dc":
                    clean[k] = parse_tenths(v)
                else:
                    clean[k] = text(v, k, k)
            return tx.record({"type": "correct", "batch": batch.id, "target": ev.entry, "changes": clean,
                              "reason": why, "occurred_at": self._time(tx, occurred_at, batch)})


def descendants(s: Session, batch_id: int) -> list[int]:
    """The batch and every batch made from it, recursively, in id order."""
    seen = {batch_id}
    frontier = [batch_id]
    while frontier:
        children = s.scalars(select(BatchLink.child_id).where(BatchLink.parent_id.in_(frontier))).all()
        frontier = [c for c in children if c not in seen]
        seen.update(frontier)
    return sorted(seen)


def _result(r: dict[str, Any]) -> dict[str, Any]:
    name = text(r.get("name"), "results", "检测项目", max_len=80)
    out = {"name": name, "value": text(r.get("value", ""), "results", "检测值", required=False, max_len=40),
           "limit": text(r.get("limit", ""), "results", "限量", required=False, max_len=40),
           "unit": text(r.get("unit", ""), "results", "单位", required=False, max_len=20),
           "pass": bool(r.get("pass", True))}
    return out


def parse_centi(value: object, field_: str, zh: str) -> int:
    """A decimal with up to two places (e.g. mu) as an integer of hundredths, never via float."""
    s = str(value).strip()
    m = re.fullmatch(r"(\d{1,9})(?:\.(\d{1,2}))?", s)
    if not m:
        raise InvalidInput(f"{zh}应为数字，最多两位小数。", f"{field_} must be a number with at most two decimals.", field_)
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


def parse_micro(value: object, field_: str, lo: int, hi: int) -> int | None:
    """A coordinate in degrees as integer microdegrees, or None if not given."""
    if value is None or str(value).strip() == "":
        return None
    m = re.fullmatch(r"(-?)(\d{1,3})(?:\.(\d{1,6}))?", str(value).strip())
    if not m:
        raise InvalidInput("坐标格式不对，如 37.4567。", f"{field_} must be decimal degrees such as 37.4567.", field_)
    micro = int(m.group(2)) * 1_000_000 + int((m.group(3) or "0").ljust(6, "0"))
    micro = -micro if m.group(1) else micro
    if not lo * 1_000_000 <= micro <= hi * 1_000_000:
        raise InvalidInput("坐标超出范围。", f"{field_} must be between {lo} and {hi}.", field_)
    return micro


def parse_tenths(value: object) -> int:
    """A temperature in °C with at most one decimal, as integer tenths."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 10
    m = re.fullmatch(r"(-?)(\d{1,2})(?:\.(\d))?", str(value).strip())
    if not m:
        raise InvalidInput("温度应为 -40 到 40 之间的数字，最多一位小数。", "Temperature must be a number of °C with at most one decimal.", "temperature_c")
    t = int(m.group(2)) * 10 + int(m.group(3) or 0)
    t = -t if m.group(1) else t
    if not -400 <= t <= 400:
        raise InvalidInput("温度应在 -40 到 40 ℃ 之间。", "Temperature must be between -40 and 40 °C.", "temperature_c")
    return t

