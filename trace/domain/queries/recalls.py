"""Recalls as the bureau follows them and holders act on them: progress per holder (packages
affected, sold before the recall, pulled since, still out), deadlines and time left, the
completion report, and each holder's own tasks on its desk.

Reads the recall tasks (trace.domain.rules.recalls) and the recall entries themselves."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import parse_log_time
from trace.db import read_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, NotFound
from trace.domain.events import Recall
from trace.domain.messages import N_
from trace.domain.queries.entries import entries
from trace.domain.tables.batches import Batch, RecallTask
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, PartyKind
from trace.domain.workdays import CALENDAR, remaining

BUREAU_ONLY = Code("recalls.bureau_only", Forbidden, N_("Only the market supervision bureau follows recalls."))
NO_RECALL = Code("recalls.not_found", NotFound, N_("Entry %(entry)s is not a recall."))
LEVEL_NAMES = {1: N_("level I"), 2: N_("level II"), 3: N_("level III")}


@dataclass(frozen=True)
class HolderProgress:
    """What one holder of recalled stock has done."""

    party_id: int
    party_name: str
    party_kind: str
    batches: int
    packages: int  # issued from its batches
    sold: int  # sold before the recall: beyond the chain's reach
    off_sale: int
    returned: int
    destroyed: int
    out: int  # neither sold nor pulled
    loose_g: int
    loose_out_g: int
    first_action_at: str | None
    last_action_at: str | None
    started_in_time: bool | None  # None: nothing to do, or nothing done yet and still in time
    tasks: list[tuple[int, str, int, int]] = field(default_factory=list)  # (batch id, lot, out, out grams)

    @property
    def pulled(self) -> int:
        """Packages taken off sale, returned or destroyed."""
        return self.off_sale + self.returned + self.destroyed

    @property
    def done(self) -> bool:
        """Nothing of its stock is still out."""
        return self.out <= 0 and self.loose_out_g <= 0


@dataclass
class Progress:
    """One recall: what, why, deadlines, and each holder's progress."""

    entry: int
    batch_id: int
    lot: str
    product: str
    level: int | None
    reason: str
    occurred_at: str
    start_by: str | None
    end_by: str | None
    party_name: str | None
    affected: int
    holders: list[HolderProgress]
    calendar: str = CALENDAR

    @property
    def packages(self) -> int:
        """Packages of every batch the recall reached."""
        return sum(h.packages for h in self.holders)

    @property
    def sold(self) -> int:
        """Sold before the recall."""
        return sum(h.sold for h in self.holders)

    @property
    def pulled(self) -> int:
        """Pulled since."""
        return sum(h.pulled for h in self.holders)

    @property
    def out(self) -> int:
        """Still out."""
        return sum(h.out for h in self.holders)

    @property
    def loose_out_g(self) -> int:
        """Loose fruit still out."""
        return sum(h.loose_out_g for h in self.holders)

    @property
    def complete(self) -> bool:
        """Every holder has pulled all its stock (recalls before version 3 have no tasks: never)."""
        return bool(self.holders) and all(h.done for h in self.holders)

    @property
    def completed_at(self) -> str | None:
        """When the last stock was pulled, once the recall is complete."""
        if not self.complete:
            return None
        times = [h.last_action_at for h in self.holders if h.last_action_at]
        return max(times) if times else self.occurred_at

    @property
    def on_time(self) -> bool | None:
        """Whether it was completed by its deadline (None while it is not complete)."""
        done = self.completed_at
        if done is None or self.end_by is None:
            return None
        return done <= self.end_by

    def time_left(self, now: datetime | None = None) -> tuple[int, float] | None:
        """Working days and hours until the end deadline (negative: overdue)."""
        if self.end_by is None:
            return None
        return remaining(self.end_by, now or datetime.now(UTC))


def _bureau(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if not (actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR.value)):
        raise BUREAU_ONLY()


def _progress(s: Session, entry: int, ev: Recall, recorder: int | None) -> Progress:
    rows = s.execute(select(RecallTask, Batch.lot_code, Batch.custodian_id).join(Batch, Batch.id == RecallTask.batch_id)
                     .where(RecallTask.recall_entry == entry).order_by(RecallTask.batch_id)).all()
    party_ids = {c for _, _, c in rows} | ({recorder} if recorder else set())
    parties = {p.id: p for p in s.scalars(select(Party).where(Party.id.in_(party_ids)))} if party_ids else {}
    root = s.get(Batch, ev.batch)
    product = s.get(Product, root.product_id) if root else None
    groups: dict[int, list[tuple[RecallTask, str]]] = {}
    for task, lot, holder in rows:
        groups.setdefault(holder, []).append((task, lot))
    holders = []
    for pid, tasks in groups.items():
        firsts = [t.first_action_at for t, _ in tasks if t.first_action_at]
        lasts = [t.last_action_at for t, _ in tasks if t.last_action_at]
        out = sum(t.out for t, _ in tasks)
        out_g = sum(t.out_g for t, _ in tasks)
        first = min(firsts) if firsts else None
        needed = any(t.packages - t.sold > 0 or t.loose_g > 0 for t, _ in tasks)
        started = None
        if needed and ev.start_by:
            started = (first <= ev.start_by) if first else (False if datetime.now(UTC) > parse_log_time(ev.start_by) else None)
        p = parties[pid]
        holders.append(HolderProgress(
            pid, p.name, p.kind, len(tasks), sum(t.packages for t, _ in tasks), sum(t.sold for t, _ in tasks),
            sum(t.off_sale for t, _ in tasks), sum(t.returned for t, _ in tasks), sum(t.destroyed for t, _ in tasks), out,
            sum(t.loose_g for t, _ in tasks), out_g, first, max(lasts) if lasts else None, started,
            [(t.batch_id, lot, t.out, t.out_g) for t, lot in tasks]))
    holders.sort(key=lambda h: (h.done, h.party_name))
    return Progress(entry, ev.batch, root.lot_code if root else "", product.name_zh if product else "", ev.level, ev.reason,
                    ev.occurred_at, ev.start_by, ev.end_by, parties[recorder].name if recorder in parties else None,
                    len(ev.affected), holders)


def progress(engine: Engine, actor: Actor, entry: object) -> Progress:
    """One recall's progress (the bureau's view, and its completion report)."""
    raw = str(entry or "").strip()
    with read_session(engine) as s:
        _bureau(s, actor)
        index = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 16 else -1
        found = entries(s, [index]).get(index) if index >= 0 else None
        if found is None or not isinstance(found.event, Recall):
            raise NO_RECALL("entry", entry=raw[:20])
        return _progress(s, index, found.event, found.party)


def recalls(engine: Engine, actor: Actor, *, active_only: bool = False, limit: int = 200) -> list[Progress]:
    """Recalls, newest first, with their progress; `active_only`: those not complete yet."""
    with read_session(engine) as s:
        _bureau(s, actor)
        indexes = list(s.scalars(select(Batch.recall_entry).where(Batch.recall_entry.is_not(None)).distinct()
                                 .order_by(Batch.recall_entry.desc()).limit(limit * 4 if active_only else limit)))
        found = entries(s, indexes)
        out = []
        for i in sorted(found, reverse=True):
            e = found[i]
            if isinstance(e.event, Recall):
                p = _progress(s, i, e.event, e.party)
                if not active_only or not p.complete:
                    out.append(p)
        return out[:limit]


@dataclass(frozen=True)
class Task:
    """A batch of recalled stock a party holds, and what it still has to do."""

    recall_entry: int
    batch_id: int
    lot: str
    level: int | None
    reason: str
    recalled_at: str
    start_by: str | None
    end_by: str | None
    packages: int
    sold: int
    off_sale: int
    returned: int
    destroyed: int
    out: int
    loose_out_g: int
    off_sale_g: int

    @property
    def done(self) -> bool:
        """Nothing left to pull."""
        return self.out <= 0 and self.loose_out_g <= 0


def tasks_for(engine: Engine, actor: Actor, *, open_only: bool = False) -> list[Task]:
    """The recalled batches the actor's party holds, with what is still to do (its desk)."""
    if actor.party_id is None:
        return []
    with read_session(engine) as s:
        rows = s.execute(select(RecallTask, Batch.lot_code).join(Batch, Batch.id == RecallTask.batch_id)
                         .where(Batch.custodian_id == actor.party_id).order_by(RecallTask.recall_entry.desc(),
                                                                                RecallTask.batch_id).limit(500)).all()
        recalls_ = entries(s, {t.recall_entry for t, _ in rows})
        out = []
        for t, lot in rows:
            e = recalls_.get(t.recall_entry)
            ev = e.event if e is not None and isinstance(e.event, Recall) else None
            if ev is None:
                continue
            task = Task(t.recall_entry, t.batch_id, lot, ev.level, ev.reason, ev.occurred_at, ev.start_by, ev.end_by,
                        t.packages, t.sold, t.off_sale, t.returned, t.destroyed, t.out, t.out_g, t.off_sale_g)
            if not open_only or not task.done or t.off_sale or t.off_sale_g:
                out.append(task)
        return out


def count_active(engine: Engine) -> int:
    """Recall tasks still open anywhere (for the worklists' headline)."""
    with read_session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(RecallTask).where(
            RecallTask.packages - RecallTask.sold - RecallTask.off_sale - RecallTask.returned - RecallTask.destroyed > 0)) or 0)


def report_csv(p: Progress, now: datetime | None = None) -> str:
    """The completion report as CSV (UTF-8 with BOM, for spreadsheet programs)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(["recall_entry", p.entry])
    w.writerow(["lot", p.lot])
    w.writerow(["product", p.product])
    w.writerow(["level", p.level or ""])
    w.writerow(["reason", p.reason])
    w.writerow(["decided_at", p.occurred_at])
    w.writerow(["start_by", p.start_by or ""])
    w.writerow(["end_by", p.end_by or ""])
    w.writerow(["calendar", p.calendar])
    w.writerow(["batches_reached", p.affected])
    w.writerow(["complete", "yes" if p.complete else "no"])
    w.writerow(["completed_at", p.completed_at or ""])
    w.writerow(["on_time", {True: "yes", False: "no", None: ""}[p.on_time]])
    w.writerow([])
    w.writerow(["holder", "kind", "batches", "packages", "sold_before_recall", "off_sale", "returned", "destroyed",
                "still_out", "loose_g", "loose_out_g", "first_action_at", "last_action_at", "started_in_time"])
    for h in p.holders:
        w.writerow([h.party_name, h.party_kind, h.batches, h.packages, h.sold, h.off_sale, h.returned, h.destroyed, h.out,
                    h.loose_g, h.loose_out_g, h.first_action_at or "", h.last_action_at or "",
                    {True: "yes", False: "no", None: ""}[h.started_in_time]])
    w.writerow(["TOTAL", "", sum(h.batches for h in p.holders), p.packages, p.sold,
                sum(h.off_sale for h in p.holders), sum(h.returned for h in p.holders),
                sum(h.destroyed for h in p.holders), p.out, sum(h.loose_g for h in p.holders), p.loose_out_g])
    return out.getvalue()
