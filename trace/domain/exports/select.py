"""Which log entries an export holds, and the names it needs, read in chunks so that an export
of any size streams at steady memory."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import CHINA, rfc3339
from trace.db import read_session
from trace.domain import events
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound
from trace.domain.events import Entry
from trace.domain.identifiers import LOT_RE
from trace.domain.limits import MAX_ID
from trace.domain.messages import N_
from trace.domain.tables.batches import Batch, BatchEvent
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, PartyKind, Plot
from trace.ledger.models import LogEntry

CHUNK = 500
BUREAU_ONLY = Code("export.bureau_only", Forbidden, N_("Only the market supervision bureau exports the records."))
BAD = Code("export.filter", InvalidInput, N_("The export filter %(name)s is not valid: %(how)s."))
NO_LOT = Code("export.no_lot", NotFound, N_("There is no lot %(lot)s."))


@dataclass(frozen=True)
class ExportFilter:
    """Events of a lot, of a party, of a product, between two Beijing dates (inclusive)."""

    lot: str | None = None
    party: int | None = None
    product: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> ExportFilter:
        """From a request's or a command line's arguments, each refused clearly when bad."""
        def text(name: str) -> str | None:
            v = unicodedata.normalize("NFKC", str(args.get(name) or "")).strip()
            return v or None

        lot = text("lot")
        if lot is not None and not LOT_RE.match(lot):
            raise BAD("lot", name="lot", how=N_("a lot code such as PEAR-2025-00001"))
        party = text("party")
        if party is not None and not (party.isascii() and party.isdigit() and 1 <= int(party) <= MAX_ID):
            raise BAD("party", name="party", how=N_("a party's id"))
        days = {}
        for name in ("since", "until"):
            v = text(name)
            try:
                days[name] = date.fromisoformat(v) if v else None
            except ValueError:
                raise BAD(name, name=name, how=N_("a date such as 2025-09-20")) from None
        if days["since"] and days["until"] and days["until"] < days["since"]:
            raise BAD("until", name="until", how=N_("a date no earlier than the start"))
        return cls(lot, int(party) if party else None, text("product"), days["since"], days["until"])


@dataclass
class Names:
    """Parties, plots, lots and products an export names, loaded once or as met."""

    parties: dict[int, Party]
    plots: dict[int, Plot]
    products: dict[str, Product]
    batches: dict[int, tuple[str, str, str]]  # id -> (lot, product id, form)

    def lot(self, s: Session, batch_id: int) -> tuple[str, str, str]:
        """(lot code, product id, form) of a batch."""
        found = self.batches.get(batch_id)
        if found is None:
            row = s.execute(select(Batch.lot_code, Batch.product_id, Batch.form).where(Batch.id == batch_id)).one()
            found = self.batches[batch_id] = (row[0], row[1], row[2])
            if len(self.batches) > 50_000:  # keep memory steady on a long export
                self.batches.clear()
                self.batches[batch_id] = found
        return found


def bureau(s: Session, actor: Actor) -> None:
    """Exports are the bureau's (and the operator's console)."""
    party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if not (actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR.value)):
        raise BUREAU_ONLY()


def _start(d: date) -> str:
    return rfc3339(datetime.combine(d, time(0), CHINA))


def entries(engine: Engine, actor: Actor, f: ExportFilter) -> Iterator[tuple[Session, Names, Entry]]:
    """The entries of the export in log order, decoded, with the names they need."""
    with read_session(engine) as s:
        bureau(s, actor)
        names = Names({p.id: p for p in s.scalars(select(Party))}, {p.id: p for p in s.scalars(select(Plot))},
                      {p.id: p for p in s.scalars(select(Product))}, {})
        q = select(BatchEvent.entry).distinct()
        if f.lot or f.product:
            q = q.join(Batch, Batch.id == BatchEvent.batch_id)
        if f.lot:
            if s.scalar(select(Batch.id).where(Batch.lot_code == f.lot)) is None:
                raise NO_LOT("lot", lot=f.lot)
            q = q.where(Batch.lot_code == f.lot)
        if f.product:
            q = q.where(Batch.product_id == f.product)
        if f.party is not None:
            q = q.where(BatchEvent.party_id == f.party)
        if f.since:
            q = q.where(BatchEvent.occurred_at >= _start(f.since))
        if f.until:
            q = q.where(BatchEvent.occurred_at < _start(f.until + timedelta(days=1)))
        after = -1
        while True:  # by keyset, a chunk at a time: no cursor held open across the whole export
            chunk = list(s.scalars(q.where(BatchEvent.entry > after).order_by(BatchEvent.entry).limit(CHUNK)))
            if not chunk:
                return
            after = chunk[-1]
            bodies = dict(s.execute(select(LogEntry.idx, LogEntry.body).where(LogEntry.idx.in_(chunk))).all())
            for i in chunk:
                try:
                    entry = events.decode(bytes(bodies[i]))
                except (events.MalformedEntry, KeyError):
                    continue  # verify names it; an export holds what the log's contract says
                yield s, names, entry
