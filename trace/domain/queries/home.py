"""What the public start page and the readable view of a log entry show: the GI catalogue with
its areas, the public red and black lists, the current signed checkpoint, and one entry in
words with its inclusion proof. Public facts only; no Flask here."""
from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trace.domain import events as ev_types
from trace.domain.events import MalformedEntry
from trace.domain.queries.credit import beijing_day, in_force
from trace.domain.queries.public import ConsumerView, _batches_in, _details, _party
from trace.domain.tables.batches import Batch
from trace.domain.tables.catalogue import Product
from trace.domain.tables.parties import Party, Plot
from trace.ledger import merkle
from trace.ledger.models import Checkpoint
from trace.ledger.store import Ledger, LedgerError, b64


def latest_size(s: Session) -> int | None:
    """The tree size of the latest signed checkpoint."""
    return s.scalar(select(func.max(Checkpoint.size)))


def catalogue(s: Session) -> list[dict[str, Any]]:
    """The GI products and where they grow (the areas the bureau defined: data, not code)."""
    out = []
    for p in s.scalars(select(Product).order_by(Product.id)):
        towns: dict[str, list[str]] = {}
        for a in p.area:
            towns.setdefault(a.township, []).append(a.village)
        out.append({"id": p.id, "name_zh": p.name_zh, "name_en": p.name_en, "gi_ref": p.gi_ref, "gtin": p.gtin,
                    "months": p.months, "area": [{"township": t, "villages": sorted(v for v in vs if v != "*"),
                                                  "whole": "*" in vs} for t, vs in sorted(towns.items())]})
    return out


def credit_lists(s: Session, today: str) -> dict[str, list[dict[str, Any]]]:
    """The parties on the bureau's red or black list on that Beijing day, with its reasons: the
    same lists as the /credit page (queries.credit.in_force)."""
    return {status: [{"name": p.name, "kind": p.kind, "township": p.township, "uscc": p.uscc, "credit": p.status,
                      "reason": p.reason} for p in listed] for status, listed in in_force(s, today).items()}


def home(view: ConsumerView, s: Session) -> dict[str, Any]:
    """Everything the start page shows, cached per checkpoint (a write signs a new one)."""
    size = latest_size(s)
    today = beijing_day(view.clock())
    key = ("home", today, size)  # a credit status can begin or end with the day
    cached = view.cached(key)
    if cached is not None:
        return cached
    facts = {"products": catalogue(s), "credit": credit_lists(s, today),
             "checkpoint": view.checkpoint(s, size) if size else None}
    view.remember(key, facts)
    return facts


class EntryNotFound(LookupError):
    """No such entry in the signed tree."""


def entry_view(view: ConsumerView, s: Session, index: int) -> dict[str, Any]:
    """One log entry in words, with its exact bytes' leaf hash and its inclusion proof checked
    against the latest signed checkpoint (cached per entry and checkpoint)."""
    size = latest_size(s)
    if size is None or index >= size:
        raise EntryNotFound(index)
    key = ("entry", index, size)
    cached = view.cached(key)
    if cached is not None:
        return cached
    cp = view.checkpoint(s, size)
    try:
        body = Ledger.entry(s, index)
    except LedgerError:
        raise EntryNotFound(index) from None
    leaf = merkle.leaf_hash(body)
    try:
        proof = view.proofs(s, [index], size)[index]
        merkle.verify_inclusion(leaf, index, size, proof, base64.b64decode(cp["root"]))
        included = True
    except (merkle.ProofError, LedgerError, KeyError):
        proof, included = [], False
    out: dict[str, Any] = {"index": index, "size": size, "leaf_hash": b64(leaf), "proof": [b64(p) for p in proof],
                           "included": included, "checkpoint": cp, "bytes": len(body), "readable": False}
    try:
        entry = ev_types.decode(body)
    except MalformedEntry as exc:
        out["problem"] = str(exc)
        view.remember(key, out)
        return out
    ev = entry.event
    party_ids = {entry.party} if entry.party is not None else set()
    if isinstance(ev, ev_types.Ship):
        party_ids.add(ev.to_party)
    parties = {p.id: p for p in s.scalars(select(Party).where(Party.id.in_(party_ids)))} if party_ids else {}
    plot_id = ev.plot if isinstance(ev, ev_types.Harvest) else None
    plots = {p.id: p for p in s.scalars(select(Plot).where(Plot.id == plot_id))} if plot_id else {}
    batch_ids = _batches_in(ev)
    lots = dict(s.execute(select(Batch.id, Batch.lot_code).where(Batch.id.in_(batch_ids))).all()) if batch_ids else {}
    subject = getattr(ev, "batch", None)
    out.update(readable=True, type=ev.TYPE, recorded_at=entry.recorded_at, version=entry.v,
               at=getattr(ev, "occurred_at", None) or entry.recorded_at,
               party=_party(parties.get(entry.party)) if entry.party is not None else None,
               lot=lots.get(subject.id if isinstance(subject, ev_types.NewLot) else subject) if subject is not None else None,
               details=_details(ev, parties, plots, lots) if _is_batch_event(ev) else _register_details(ev))
    view.remember(key, out)
    return out


def _is_batch_event(ev: ev_types.Event) -> bool:
    return not isinstance(ev, (ev_types.ProductDefine, ev_types.PartyRegister, ev_types.PartyCredit,
                               ev_types.PlotRegister, ev_types.UserCreate))


def _register_details(ev: ev_types.Event) -> dict[str, Any]:
    """What the public may read of an entry of the register (no pseudonyms' owners, no plots' places)."""
    if isinstance(ev, ev_types.ProductDefine):
        return {"product": ev.product.name_zh, "product_en": ev.product.name_en, "areas": len(ev.product.area)}
    if isinstance(ev, ev_types.PartyRegister):
        return {"name": ev.party.name, "kind": ev.party.kind}
    if isinstance(ev, ev_types.PartyCredit):
        return {"status": ev.status, "reason": ev.reason}
    if isinstance(ev, ev_types.PlotRegister):
        return {"township": ev.plot.township, "village": ev.plot.village}
    return {}
