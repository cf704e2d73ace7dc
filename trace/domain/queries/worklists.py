"""The bureau's worklists and search: batches never inspected, batches under a failed inspection,
batches in transit too long, recalls in progress, and batches found by any part of a name, a
party, a village or a lot code, each with the same filters (party, product, township, season,
date range, state). Regulators and administrators only."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from trace.clock import CHINA, rfc3339
from trace.db import read_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput
from trace.domain.limits import MAX_ID, YEARS
from trace.domain.messages import N_
from trace.domain.tables.batches import Batch, BatchEvent
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, PartyKind, Plot

PAGE = 200
STATES = ("active", "consumed", "sold", "recalled")
LISTS = ("uninspected", "failed", "transit")

BUREAU_ONLY = Code("worklist.bureau_only", Forbidden, N_("Only the market supervision bureau sees the worklists."))
BAD_FILTER = Code("worklist.filter", InvalidInput, N_("The filter %(name)s is not valid: %(how)s."))
SEARCH_SHORT = Code("worklist.search_short", InvalidInput, N_("Type at least one character to search for."))


@dataclass(frozen=True)
class Filters:
    """What a list is narrowed to. Dates are Beijing dates of the harvest (of a recall, for recalls)."""

    party: int | None = None
    product: str | None = None
    township: str | None = None
    season: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    state: str | None = None
    transit_hours: int = 48

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> Filters:
        """Filters from a request's arguments; a bad one is refused with what it should be."""
        def text(name: str, n: int = 40) -> str | None:
            v = unicodedata.normalize("NFKC", str(args.get(name) or "")).strip()
            if len(v) > n or any(ord(c) < 32 for c in v):
                raise BAD_FILTER(name, name=name, how=N_("at most 40 characters"))
            return v or None

        def number(name: str, lo: int, hi: int) -> int | None:
            v = text(name, 12)
            if v is None:
                return None
            if not (v.isascii() and v.isdigit()) or not lo <= int(v) <= hi:
                raise BAD_FILTER(name, name=name, how=N_("a whole number in range"))
            return int(v)

        def day(name: str) -> date | None:
            v = text(name, 10)
            if v is None:
                return None
            try:
                return date.fromisoformat(v)
            except ValueError:
                raise BAD_FILTER(name, name=name, how=N_("a date such as 2025-09-20")) from None

        state = text("state")
        if state is not None and state not in STATES:
            raise BAD_FILTER("state", name="state", how=N_("one of active, consumed, sold, recalled"))
        out = cls(number("party", 1, MAX_ID), text("product"), text("township"), number("season", *YEARS),
                  day("from"), day("to"), state, number("hours", 1, 24 * 365) or 48)
        if out.date_from and out.date_to and out.date_to < out.date_from:
            raise BAD_FILTER("to", name="to", how=N_("a date no earlier than the start"))
        return out

    def args(self) -> dict[str, str]:
        """The filters as request arguments (for links that keep them)."""
        raw = {"party": self.party, "product": self.product, "township": self.township, "season": self.season,
               "from": self.date_from, "to": self.date_to, "state": self.state}
        return {k: str(v) for k, v in raw.items() if v is not None}


@dataclass(frozen=True)
class Row:
    """A batch on a list."""

    id: int
    lot: str
    product_id: str
    product_zh: str
    product_en: str
    form: str
    quantity_g: int
    status: str
    inspection: str
    inspection_kind: str
    recalled: bool
    holder_id: int
    holder: str
    transit_to: str | None
    township: str | None
    village: str | None
    grower: str | None
    harvested_at: str
    season: int
    since: str | None = None  # in transit since (the shipment's time)


_holder, _grower, _to = aliased(Party), aliased(Party), aliased(Party)


def _select() -> Select[Any]:
    return (select(Batch, Product.name_zh, Product.name_en, _holder.name, _to.name, Plot.township, Plot.village,
                   _grower.name)
            .join(Product, Product.id == Batch.product_id)
            .join(_holder, _holder.id == Batch.custodian_id)
            .outerjoin(_to, _to.id == Batch.transit_to_id)
            .outerjoin(Plot, Plot.id == Batch.origin_plot_id)
            .outerjoin(_grower, _grower.id == Plot.party_id))


def _beijing_start(d: date) -> str:
    return rfc3339(datetime.combine(d, time(0), CHINA))


def _filtered(stmt: Select[Any], f: Filters) -> Select[Any]:
    if f.party is not None:
        stmt = stmt.where(or_(Batch.custodian_id == f.party, Batch.transit_to_id == f.party, Plot.party_id == f.party))
    if f.product:
        stmt = stmt.where(Batch.product_id == f.product)
    if f.township:
        stmt = stmt.where(Plot.township == f.township)
    if f.season is not None:
        stmt = stmt.where(Batch.season == f.season)
    if f.date_from:
        stmt = stmt.where(Batch.harvested_at >= _beijing_start(f.date_from))
    if f.date_to:
        stmt = stmt.where(Batch.harvested_at < _beijing_start(f.date_to + timedelta(days=1)))
    if f.state == "recalled":
        stmt = stmt.where(Batch.recalled.is_(True))
    elif f.state:
        stmt = stmt.where(Batch.status == f.state)
    return stmt


def _rows(s: Session, stmt: Select[Any]) -> list[Row]:
    return [Row(b.id, b.lot_code, b.product_id, zh, en, b.form, b.quantity_g, b.status, b.inspection, b.inspection_kind,
                bool(b.recalled), b.custodian_id, holder, to, township, village, grower, b.harvested_at, b.season)
            for b, zh, en, holder, to, township, village, grower in s.execute(stmt)]


def _bureau(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if not (actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR.value)):
        raise BUREAU_ONLY()


@dataclass(frozen=True)
class Listing:
    """One page of a list and how many there are in all."""

    name: str
    rows: list[Row]
    total: int


def worklist(engine: Engine, actor: Actor, name: str, filters: Filters, *, now: datetime | None = None,
             limit: int = PAGE) -> Listing:
    """One of the worklists: uninspected, failed, transit."""
    if name not in LISTS:
        raise BAD_FILTER("list", name="list", how=N_("one of the worklists"))
    with read_session(engine) as s:
        _bureau(s, actor)
        base = _filtered(_select(), filters)
        if name == "uninspected":
            base = base.where(Batch.inspection == "none", Batch.recalled.is_(False))
            if filters.state is None:
                base = base.where(Batch.status == "active")
        elif name == "failed":
            base = base.where(Batch.inspection == "failed")
        else:
            cutoff = rfc3339((now or datetime.now(UTC)) - timedelta(hours=filters.transit_hours))
            in_transit = select(Batch.id).where(Batch.transit_to_id.is_not(None))  # few: read their history only
            last_ship = (select(BatchEvent.batch_id, func.max(BatchEvent.occurred_at).label("at"))
                         .where(BatchEvent.kind == "ship", BatchEvent.batch_id.in_(in_transit))
                         .group_by(BatchEvent.batch_id).subquery())
            base = (base.join(last_ship, last_ship.c.batch_id == Batch.id)
                    .where(Batch.transit_to_id.is_not(None), last_ship.c.at < cutoff))
        total = int(s.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0)
        rows = _rows(s, base.order_by(Batch.id.desc()).limit(limit))
        if name == "transit" and rows:  # when each was shipped: only the rows shown
            since = dict(s.execute(select(BatchEvent.batch_id, func.max(BatchEvent.occurred_at)).where(
                BatchEvent.kind == "ship", BatchEvent.batch_id.in_([r.id for r in rows])).group_by(BatchEvent.batch_id)).all())
            rows = [Row(**{**r.__dict__, "since": since.get(r.id)}) for r in rows]
        return Listing(name, rows, total)


def counts(engine: Engine, actor: Actor, now: datetime | None = None) -> dict[str, int]:
    """How many batches each worklist holds, unfiltered (the desk's headline)."""
    return {name: worklist(engine, actor, name, Filters(), now=now, limit=0).total for name in LISTS}


def search(engine: Engine, actor: Actor, query: object, filters: Filters | None = None, limit: int = PAGE) -> Listing:
    """Batches whose lot code, product name, holder, grower, township or village contains the query
    (any part of it, case-insensitive), or held by or harvested by a party of that name."""
    q = unicodedata.normalize("NFKC", "" if query is None else str(query)).strip()
    q = re.sub(r"\s+", " ", q)[:100]
    if not q:
        raise SEARCH_SHORT("q")
    with read_session(engine) as s:
        _bureau(s, actor)
        escaped = q.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"

        def has(col: Any) -> Any:
            return func.upper(col).like(like, escape="\\")

        cond = or_(has(Batch.lot_code), has(Product.name_zh), has(Product.name_en), has(_holder.name),
                   has(_grower.name), has(Plot.township), has(Plot.village), has(_to.name))
        base = _filtered(_select(), filters or Filters()).where(cond)
        total = int(s.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0)
        return Listing("search", _rows(s, base.order_by(Batch.id.desc()).limit(limit)), total)


def choices(engine: Engine, actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """What the filters offer: parties, products, townships, seasons."""
    with read_session(engine) as s:
        _bureau(s, actor)
        return {
            "parties": [(str(i), n) for i, n in s.execute(select(Party.id, Party.name).order_by(Party.kind, Party.name))],
            "products": [(i, zh) for i, zh in s.execute(select(Product.id, Product.name_zh).order_by(Product.id))],
            "townships": [(t, t) for (t,) in s.execute(select(Plot.township).distinct().order_by(Plot.township))],
            "seasons": [(str(y), str(y)) for (y,) in s.execute(select(Batch.season).distinct().order_by(Batch.season.desc()))],
        }


__all__ = ["Filters", "Row", "Listing", "worklist", "counts", "search", "choices"]
