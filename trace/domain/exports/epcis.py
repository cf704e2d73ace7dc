"""GS1 EPCIS 2.0 JSON-LD of the log's events, streamed (steady memory for any number of events).

How the log's events map onto EPCIS and the Core Business Vocabulary:

| log event | EPCIS event | bizStep / disposition |
|---|---|---|
| harvest | ObjectEvent ADD of the lot's quantity, master data in `ilmd` | commissioning / active |
| inspect | ObjectEvent OBSERVE | inspecting / conformant or non_conformant |
| grade | ObjectEvent OBSERVE | inspecting (the grade under our namespace) |
| pack | AggregationEvent ADD: the packages (children) of one packing run (parent) | packing |
| split, merge, process | TransformationEvent: input and output quantities | repackaging, assembling, other |
| store | ObjectEvent OBSERVE with the temperature in `sensorElementList` | storing / sellable_not_accessible |
| ship / receive | ObjectEvent OBSERVE with source and destination | shipping / in_transit, receiving / in_progress |
| sell | ObjectEvent OBSERVE of the packages (and loose quantity) | retail_selling / retail_sold |
| recall | ObjectEvent OBSERVE with `persistentDisposition` set `recalled` | holding / recalled |
| recall.action | ObjectEvent OBSERVE | removing / recalled, shipping / returned, destroying / destroyed |
| correct | the earlier event again with an `errorDeclaration` naming the corrective event, then the corrective event itself | as the earlier event |

Times carry their offset (Beijing, +08:00). Lots are GS1 Digital Link URIs under our resolver
when the product has a GTIN, packages and parties private URIs under our base URL (a package's
serial is secret: the log holds only its hash). Our own fields sit under the `st:` namespace
declared in `@context`."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import CHINA, parse_log_time
from trace.domain import events as T  # noqa: N812
from trace.domain.actors import Actor
from trace.domain.events import Entry, Event
from trace.domain.exports.select import ExportFilter, Names, entries
from trace.domain.queries.entries import entries as read_entries

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CBVMDA = "urn:epcglobal:cbv:mda:"
OFFSET = "+08:00"


def offset_time(log_time: str) -> str:
    """A log time (UTC) as RFC 3339 Beijing time with its offset: 2025-09-20T09:00:00.000+08:00."""
    return parse_log_time(log_time).astimezone(CHINA).isoformat(timespec="milliseconds")


class Vocabulary:
    """The URIs of one deployment (its public base URL)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.ns = f"{self.base}/ns/trace#"

    def context(self) -> list[Any]:
        """The document's @context: EPCIS 2.0, our namespace and the CBV master-data one."""
        return [EPCIS_CONTEXT, {"st": self.ns, "cbvmda": CBVMDA}]

    def lot(self, names: Names, s: Session, batch_id: int) -> str:
        """A lot's class URI: GS1 Digital Link under our resolver with a GTIN, else private."""
        lot, product, _form = names.lot(s, batch_id)
        gtin = names.products[product].gtin if product in names.products else None
        return f"{self.base}/01/{gtin}/10/{lot}" if gtin else f"{self.base}/lot/{lot}"

    def package(self, package_id: int) -> str:
        """A package: private (its serial is secret)."""
        return f"{self.base}/epcis/package/{package_id}"

    def party(self, party_id: int) -> str:
        """A party without a GLN."""
        return f"{self.base}/epcis/party/{party_id}"

    def site(self, party_id: int) -> str:
        """Where a party works (its registered township)."""
        return f"{self.base}/epcis/party/{party_id}/site"

    def plot(self, plot_id: int) -> str:
        """A grower's plot (its village; never its coordinates)."""
        return f"{self.base}/epcis/plot/{plot_id}"

    def event(self, index: int, n: int = 0) -> str:
        """An event's ID: its log entry (with a fragment when one entry makes several)."""
        return f"{self.base}/log/entries/{index}" + (f"#{n}" if n else "")


def _kg(grams: int) -> float:
    return grams / 1000  # EPCIS quantities are decimals; the log's integers stay exact there


class Mapper:
    """Log entries to EPCIS events."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.v = vocab

    def _base(self, entry: Entry, ev: Event, kind: str, n: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "eventID": self.v.event(entry.index, n),
                               "eventTime": offset_time(ev.occurred_at),  # type: ignore[attr-defined]
                               "eventTimeZoneOffset": OFFSET, "recordTime": offset_time(entry.recorded_at),
                               "st:logIndex": entry.index}
        return out

    def _who(self, out: dict[str, Any], names: Names, party_id: int | None) -> None:
        if party_id is None:
            return
        p = names.parties.get(party_id)
        out["readPoint"] = {"id": self.v.site(party_id)}
        out["bizLocation"] = {"id": self.v.site(party_id)}
        out["st:party"] = self.v.party(party_id)
        if p is not None:
            out["st:partyName"] = p.name
            out["st:creditCode"] = p.uscc

    def _qty(self, names: Names, s: Session, batch_id: int, grams: int) -> dict[str, Any]:
        return {"epcClass": self.v.lot(names, s, batch_id), "quantity": _kg(grams), "uom": "KGM"}

    def map(self, s: Session, names: Names, entry: Entry, ev: Event | None = None, n: int = 0) -> list[dict[str, Any]]:
        """The EPCIS events of one entry (`ev`: an amended copy of its event, for corrections)."""
        ev = ev or entry.event
        party = entry.party
        out: list[dict[str, Any]] = []
        if isinstance(ev, T.Harvest):
            e = self._base(entry, ev, "ObjectEvent", n)
            plot = names.plots.get(ev.plot)
            product = names.products.get(ev.product)
            e.update({"action": "ADD", "bizStep": "commissioning", "disposition": "active",
                      "quantityList": [self._qty(names, s, ev.batch.id, ev.quantity_g)],
                      "ilmd": {"cbvmda:lotNumber": ev.batch.lot, "cbvmda:countryOfOrigin": "CN",
                               "cbvmda:harvestStartDate": offset_time(ev.occurred_at)[:10],
                               "st:product": ev.product, "st:season": ev.season, "st:plot": self.v.plot(ev.plot),
                               **({"st:productName": product.name_zh, "st:giRegistration": product.gi_ref}
                                  if product is not None else {}),
                               **({"st:township": plot.township, "st:village": plot.village} if plot else {})}})
            self._who(e, names, party)
            e["readPoint"] = {"id": self.v.plot(ev.plot)}
            out.append(e)
        elif isinstance(ev, T.Inspect):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "bizStep": "inspecting",
                      "disposition": "conformant" if ev.passed else "non_conformant",
                      "quantityList": [{"epcClass": self.v.lot(names, s, ev.batch)}],
                      "st:inspectionKind": ev.kind or "", "st:lab": ev.lab, "st:reportNo": ev.report_no,
                      "st:results": [{"name": r.name, "value": r.value, "limit": r.limit, "unit": r.unit, "pass": r.pass_}
                                     for r in ev.results]})
            if ev.certificate_no:
                e["st:certificateNo"] = ev.certificate_no
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Grade):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "bizStep": "inspecting", "quantityList": [{"epcClass": self.v.lot(names, s, ev.batch)}],
                      "st:grade": ev.grade})
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Pack):
            e = self._base(entry, ev, "AggregationEvent", n)
            e.update({"action": "ADD", "bizStep": "packing", "parentID": f"{self.v.base}/epcis/pack/{entry.index}",
                      "childEPCs": [self.v.package(p.id) for p in ev.packages],
                      "childQuantityList": [self._qty(names, s, ev.batch, sum(p.net_g for p in ev.packages))],
                      "st:netWeightsKg": sorted({_kg(p.net_g) for p in ev.packages})})
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Split | T.Merge | T.Process):
            e = self._base(entry, ev, "TransformationEvent", n)
            if isinstance(ev, T.Split):
                inputs = [self._qty(names, s, ev.batch, sum(c.quantity_g for c in ev.children))]
                outputs = [self._qty(names, s, c.id, c.quantity_g) for c in ev.children]
                step = "repackaging"
            elif isinstance(ev, T.Merge):
                inputs = [self._qty(names, s, p.id, p.quantity_g) for p in ev.batches]
                outputs = [self._qty(names, s, ev.child.id, ev.child.quantity_g)]
                step = "assembling"
            else:
                inputs = [self._qty(names, s, ev.batch, ev.input_g)]
                outputs = [self._qty(names, s, ev.child.id, ev.child.quantity_g)]
                step = "other"
                e["st:form"] = ev.form
                e["st:method"] = ev.method
            e.update({"bizStep": step, "inputQuantityList": inputs, "outputQuantityList": outputs,
                      "transformationID": f"{self.v.base}/epcis/transformation/{entry.index}"})
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Store):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "bizStep": "storing", "disposition": "sellable_not_accessible",
                      "quantityList": [{"epcClass": self.v.lot(names, s, ev.batch)}],
                      "sensorElementList": [{"sensorMetadata": {"time": offset_time(ev.occurred_at)},
                                             "sensorReport": [{"type": "Temperature", "value": ev.temperature_dc / 10,
                                                               "uom": "CEL"}]}],
                      "st:facility": ev.facility})
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Ship | T.Receive):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "quantityList": [{"epcClass": self.v.lot(names, s, ev.batch)}]})
            if isinstance(ev, T.Ship):
                e.update({"bizStep": "shipping", "disposition": "in_transit"})
                if party is not None:
                    e["sourceList"] = [{"type": "owning_party", "source": self.v.party(party)}]
                e["destinationList"] = [{"type": "owning_party", "destination": self.v.party(ev.to_party)}]
            else:
                e.update({"bizStep": "receiving", "disposition": "in_progress"})
                if party is not None:
                    e["destinationList"] = [{"type": "owning_party", "destination": self.v.party(party)}]
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Sell):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "bizStep": "retail_selling", "disposition": "retail_sold",
                      "st:lot": self.v.lot(names, s, ev.batch)})
            if ev.packages:
                e["epcList"] = [self.v.package(p) for p in ev.packages]
            if ev.loose_g or not ev.packages:
                e["quantityList"] = [self._qty(names, s, ev.batch, ev.loose_g)]
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Recall):
            e = self._base(entry, ev, "ObjectEvent", n)
            e.update({"action": "OBSERVE", "bizStep": "holding", "disposition": "recalled",
                      "persistentDisposition": {"set": ["recalled"]},
                      "quantityList": [{"epcClass": self.v.lot(names, s, b)} for b in ev.affected],
                      "st:reason": ev.reason})
            if ev.level is not None:
                e.update({"st:recallLevel": ev.level, "st:startBy": offset_time(ev.start_by or ev.occurred_at),
                          "st:endBy": offset_time(ev.end_by or ev.occurred_at)})
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.RecallAction):
            e = self._base(entry, ev, "ObjectEvent", n)
            step, disposition = {"off_sale": ("removing", "recalled"), "returned": ("shipping", "returned"),
                                 "destroyed": ("destroying", "destroyed")}[ev.action]
            e.update({"action": "OBSERVE", "bizStep": step, "disposition": disposition,
                      "quantityList": [self._qty(names, s, ev.batch, ev.loose_g) if ev.loose_g else
                                       {"epcClass": self.v.lot(names, s, ev.batch)}],
                      "st:recall": self.v.event(ev.recall), "st:packages": ev.packages})
            if ev.note:
                e["st:note"] = ev.note
            self._who(e, names, party)
            out.append(e)
        elif isinstance(ev, T.Correct):
            out.extend(self._correction(s, names, entry, ev))
        return out

    def _correction(self, s: Session, names: Names, entry: Entry, ev: T.Correct) -> list[dict[str, Any]]:
        """The corrected event declared in error, pointing at its corrective event: this entry,
        carrying the earlier event with the changes applied."""
        found = read_entries(s, [ev.target]).get(ev.target)
        if found is None:
            return []
        target = found.event
        fields = type(target).model_fields
        changes = {k: v for k, v in ev.changes.items() if k in fields and k != "vehicle_commitment"}
        try:
            amended = target.model_copy(update=changes)
        except Exception:  # noqa: BLE001 - a change the event cannot carry: the note stands alone
            amended = target
        corrective = self.map(s, names, Entry.model_construct(**{**entry.__dict__, "event": amended}), amended)
        if not corrective:
            return []
        ids = [c["eventID"] for c in corrective]
        declared = self.map(s, names, found)
        for d in declared:
            d["errorDeclaration"] = {"declarationTime": offset_time(entry.recorded_at), "reason": "incorrect_data",
                                     "correctiveEventIDs": ids, "st:reason": ev.reason}
        for c in corrective:
            c["st:corrects"] = self.v.event(ev.target)
            c["st:reason"] = ev.reason
        return declared + corrective


def document_events(engine: Engine, actor: Actor, f: ExportFilter, base: str) -> Iterator[dict[str, Any]]:
    """The EPCIS events of an export, one at a time."""
    mapper = Mapper(Vocabulary(base))
    for s, names, entry in entries(engine, actor, f):
        yield from mapper.map(s, names, entry)


def write(out: IO[str], engine: Engine, actor: Actor, f: ExportFilter, base: str, *,
          now: datetime | None = None) -> int:
    """Write an EPCIS 2.0 document to `out`, event by event; returns the number of events."""
    vocab = Vocabulary(base)
    created = (now or datetime.now(UTC)).astimezone(CHINA).isoformat(timespec="milliseconds")
    head = {"@context": vocab.context(), "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": created,
            "sender": vocab.base}
    text = json.dumps(head, ensure_ascii=False)
    out.write(text[:-1] + ', "epcisBody": {"eventList": [')
    n = 0
    for ev in document_events(engine, actor, f, base):
        out.write(("," if n else "") + "\n" + json.dumps(ev, ensure_ascii=False))
        n += 1
    out.write("\n]}}\n")
    return n
