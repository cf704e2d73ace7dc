"""The spreadsheet regulators ask for when they need records within 24 hours: one row per
critical tracking event (CTE) with its key data elements (what, how much, where, when, who, the
lot code, the reference document), sortable, as CSV in UTF-8 with a byte-order mark so that
spreadsheet programs open the Chinese."""
from __future__ import annotations

import csv
from typing import IO

from sqlalchemy.engine import Engine

from trace.domain import events as T  # noqa: N812
from trace.domain.actors import Actor
from trace.domain.exports.epcis import offset_time
from trace.domain.exports.select import ExportFilter, entries

COLUMNS = ["event_time", "cte", "lot", "product", "form", "quantity", "unit", "input_lots", "output_lots", "place",
           "party", "party_credit_code", "other_party", "other_party_credit_code", "reference_document", "detail",
           "log_entry", "recorded_at"]
CTE = {"harvest": "harvesting", "inspect": "inspection", "grade": "grading", "split": "transformation",
       "merge": "transformation", "process": "transformation", "pack": "packing", "store": "cold storage",
       "ship": "shipping", "receive": "receiving", "sell": "retail sale", "recall": "recall",
       "recall.action": "recall action", "correct": "correction"}


def _kg(grams: int) -> str:
    whole, rest = divmod(grams, 1000)
    return f"{whole}.{rest:03d}".rstrip("0").rstrip(".")


def write(out: IO[str], engine: Engine, actor: Actor, f: ExportFilter) -> int:
    """Write the CTE sheet to `out`, row by row; returns the number of rows."""
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(COLUMNS)
    n = 0
    for s, names, entry in entries(engine, actor, f):
        ev = entry.event
        party = names.parties.get(entry.party) if entry.party is not None else None
        batch = getattr(ev, "batch", None)
        batch_id = batch.id if isinstance(batch, T.NewLot) else batch
        if isinstance(ev, T.Merge):
            batch_id = ev.child.id
        lot, product_id, form = names.lot(s, batch_id) if isinstance(batch_id, int) else ("", "", "")
        product = names.products.get(product_id)
        row = {"event_time": offset_time(ev.occurred_at), "cte": CTE.get(ev.TYPE, ev.TYPE), "lot": lot,  # type: ignore[attr-defined]
               "product": product.name_zh if product else product_id, "form": form,
               "party": party.name if party else "", "party_credit_code": party.uscc if party else "",
               "place": party.township if party else "", "log_entry": entry.index,
               "recorded_at": offset_time(entry.recorded_at)}
        if isinstance(ev, T.Harvest):
            plot = names.plots.get(ev.plot)
            row.update(quantity=_kg(ev.quantity_g), unit="kg", place=f"{plot.township}{plot.village}" if plot else "",
                       detail=f"plot {ev.plot}, season {ev.season}")
        elif isinstance(ev, T.Inspect):
            row.update(reference_document=" ".join(x for x in (ev.report_no, ev.certificate_no) if x),
                       detail=f"{ev.kind or ''} {ev.lab}: {'passed' if ev.passed else 'FAILED'}".strip())
        elif isinstance(ev, T.Grade):
            row.update(detail=ev.grade)
        elif isinstance(ev, T.Split):
            row.update(quantity=_kg(sum(c.quantity_g for c in ev.children)), unit="kg",
                       output_lots=" ".join(c.lot for c in ev.children), input_lots=lot)
        elif isinstance(ev, T.Merge):
            row.update(quantity=_kg(ev.child.quantity_g), unit="kg", output_lots=ev.child.lot,
                       input_lots=" ".join(names.lot(s, p.id)[0] for p in ev.batches))
        elif isinstance(ev, T.Process):
            row.update(quantity=_kg(ev.child.quantity_g), unit="kg", input_lots=lot, output_lots=ev.child.lot,
                       detail=f"{ev.form} {ev.method} ({_kg(ev.input_g)} kg in)".strip())
        elif isinstance(ev, T.Pack):
            row.update(quantity=str(len(ev.packages)), unit="packages",
                       detail=f"{_kg(sum(p.net_g for p in ev.packages))} kg net")
        elif isinstance(ev, T.Store):
            row.update(place=" ".join(x for x in (row["place"], ev.facility) if x), detail=f"{ev.temperature_dc / 10:.1f} °C")
        elif isinstance(ev, T.Ship):
            to = names.parties.get(ev.to_party)
            row.update(other_party=to.name if to else "", other_party_credit_code=to.uscc if to else "")
        elif isinstance(ev, T.Sell):
            row.update(quantity=str(len(ev.packages)) if ev.packages else _kg(ev.loose_g),
                       unit="packages" if ev.packages else "kg",
                       detail=f"and {_kg(ev.loose_g)} kg loose" if ev.packages and ev.loose_g else "")
        elif isinstance(ev, T.Recall):
            row.update(quantity=str(len(ev.affected)), unit="batches",
                       detail=f"level {ev.level or '?'}: {ev.reason}", reference_document=f"recall {entry.index}")
        elif isinstance(ev, T.RecallAction):
            row.update(quantity=str(ev.packages), unit="packages", reference_document=f"recall {ev.recall}",
                       detail=f"{ev.action}" + (f", {_kg(ev.loose_g)} kg loose" if ev.loose_g else "") +
                       (f": {ev.note}" if ev.note else ""))
        elif isinstance(ev, T.Correct):
            row.update(reference_document=f"corrects entry {ev.target}",
                       detail="; ".join(f"{k}={v}" for k, v in ev.changes.items() if k != "vehicle_commitment") +
                       f" ({ev.reason})")
        w.writerow([row.get(c, "") for c in COLUMNS])
        n += 1
    return n
