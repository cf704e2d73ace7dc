"""The field end's read models: what a consumer sees of a plot's season, the product's
registration, certificates and certifications, late entries and the GI badge; what the portal
shows of plots, certificates and the bureau's lists and alerts; and what labels and certificates
of conformity print. Nothing here writes; reads are authorised here as writes are in the rules.

Public facts never name people: a household grower is "a household" (its masked name stays in
the log), operators of sprays are never shown, and neither is any identity number (the portal
shows its last four characters to the bureau, and nothing else)."""
from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from trace.clock import china_date, utc_now
from trace.db import read_session
from trace.domain import limits, rules
from trace.domain.actors import Actor
from trace.domain.errors import Code, DomainError, Forbidden, NotFound
from trace.domain.events import CertificateIssue, NewCertificate
from trace.domain.identifiers import last_four
from trace.domain.messages import N_
from trace.domain.queries.entries import read_context
from trace.domain.rules.certificates import BASIS_NAMES, STRENGTH
from trace.domain.rules.timing import is_late
from trace.domain.state import DbState
from trace.domain.tables.batches import Batch, BatchEvent, Package
from trace.domain.tables.catalogue import Product
from trace.domain.tables.field import (
    BatchCode,
    Certificate,
    CertificateReceipt,
    Certification,
    Division,
    FarmOperator,
    FarmRecord,
    GIAuthorisation,
    LateApproval,
    LogMark,
    PartyIdentity,
    PartyPerson,
    Pesticide,
    ProductRegistration,
)
from trace.domain.tables.parties import Party, PartyKind, Plot

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
DIVISIONS_FILE = os.path.join(DATA, "divisions_640502.csv")
BASES = tuple(BASIS_NAMES)

PLOT_HIDDEN = Code("plot.hidden", Forbidden, N_("Only the plot's grower and the bureau see its farming records."))
NO_PLOT = Code("query.plot_unknown", NotFound, N_("Plot %(id)s does not exist."))
BUREAU_ONLY = Code("query.bureau_only", Forbidden, N_("Only the market supervision bureau and administrators see this."))
NO_CERTIFICATE = Code("certificate.none", NotFound, N_("Batch %(lot)s has no certificate of conformity yet."))


def shipped_divisions(path: str = DIVISIONS_FILE) -> list[dict[str, str]]:
    """The division list shipped with the code (see the file's head for its source)."""
    with open(path, encoding="utf-8") as f:
        rows = [line for line in f if not line.startswith("#")]
    return [{"code": r["code"], "name": r["name"]} for r in csv.DictReader(rows)]


def demo_log(db: Session | Connection) -> bool:
    """Whether the log holds entries a demo clock recorded (every page then says demo data)."""
    return db.execute(select(LogMark.entry).where(LogMark.name == "demo")).first() is not None


# -- facts the public sees ------------------------------------------------------------------------


def _day(log_time: str) -> str:
    return china_date(log_time).isoformat()


def registration(s: Session, product_id: str, gi_ref: str) -> dict[str, Any]:
    """A product's GI registration; what is not known is None (the page says not known)."""
    reg = s.get(ProductRegistration, product_id)
    if reg is None:  # defined before registrations were recorded: only its number, if any, is known
        return {"kind": None, "number": gi_ref or None, "holder": None, "date": None, "spec_ref": None}
    return {"kind": reg.kind, "number": reg.number, "holder": reg.holder, "date": reg.date, "spec_ref": reg.spec_ref}


def gi_authorised(s: Session, party_id: int | None, product_id: str, day: str, entry: int | None = None) -> bool:
    """Whether a party may use the GI special logo on a product on a day (and, when `entry` is
    given, was authorised before that entry and not revoked before it). A party registered before version 3 (no identity
    record) keeps the register's old per-party mark when no authorisation of it is recorded."""
    if party_id is None:
        return False
    rows = s.scalars(select(GIAuthorisation).where(GIAuthorisation.party_id == party_id)).all()
    for a in rows:
        if a.product_id != product_id or a.valid_from > day or (a.valid_until is not None and a.valid_until < day):
            continue
        if entry is not None and a.entry > entry:
            continue  # recorded after the packing it would cover
        if a.revoked_entry is not None and (entry is None or a.revoked_entry < entry):
            continue
        return True
    if not rows and s.get(PartyIdentity, party_id) is None:
        party = s.get(Party, party_id)
        return bool(party and party.gi_logo)
    return False


def valid_certifications(s: Session, party_id: int | None, day: str, plot_id: int | None = None) -> list[dict[str, Any]]:
    """A party's certifications (for all its plots, or for this one) valid on a day and not revoked."""
    if party_id is None:
        return []
    q = select(Certification).where(Certification.party_id == party_id, Certification.valid_from <= day,
                                    Certification.valid_until >= day, Certification.revoked_entry.is_(None))
    out = []
    for c in s.scalars(q.order_by(Certification.id)):
        if c.plot_id is not None and c.plot_id != plot_id:
            continue
        out.append({"scheme": c.scheme, "number": c.number, "issuer": c.issuer, "scope": c.scope,
                    "valid_until": c.valid_until})
    return out


def plot_season(s: Session, plot_id: int, product_id: str, season: int, harvested_at: str) -> dict[str, Any]:
    """A plot's season in brief, up to a harvest: sprays (with the days from each to the harvest),
    fertilising and the other work, by date. Never who did them."""
    rows = s.scalars(select(FarmRecord).where(FarmRecord.plot_id == plot_id, FarmRecord.season == season,
                                              FarmRecord.occurred_at <= harvested_at).order_by(FarmRecord.occurred_at)).all()
    pests = {p.reg_no: p for p in s.scalars(select(Pesticide).where(
        Pesticide.reg_no.in_({r.pesticide for r in rows if r.pesticide})))} if rows else {}
    harvest_day = china_date(harvested_at)
    sprays, fertilising, work = [], [], []
    for r in rows:
        if r.kind == "spray":
            if r.product_id != product_id:
                continue
            p = pests.get(r.pesticide or "")
            sprays.append({"date": _day(r.occurred_at), "pesticide": p.name if p else r.pesticide, "reg_no": r.pesticide,
                           "active_ingredient": p.active_ingredient if p else "", "dose": r.detail, "target": r.source,
                           "days_to_harvest": (harvest_day - china_date(r.occurred_at)).days,
                           "banned": "banned" in r.alerts.split(",")})
        elif r.kind == "fertilise":
            fertilising.append({"date": _day(r.occurred_at), "name": r.detail, "amount_g_per_mu": r.amount_g_per_mu})
        else:
            work.append({"date": _day(r.occurred_at), "kind": r.kind})
    return {"sprays": sprays, "fertilising": fertilising, "work": work,
            "last_spray_days": min((x["days_to_harvest"] for x in sprays), default=None)}


def certificate_chain(s: Session, batch_id: int) -> list[dict[str, Any]]:
    """The 承诺达标合格证 a batch travels with, then those it replaced, back to the harvest."""
    cert = s.scalar(select(Certificate).where(Certificate.batch_id == batch_id).order_by(Certificate.id.desc()).limit(1))
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    todo = [cert] if cert else []
    while todo and len(out) < 64:
        c = todo.pop(0)
        if c.id in seen:
            continue
        seen.add(c.id)
        issuer = s.get(Party, c.party_id)
        lot = s.scalar(select(Batch.lot_code).where(Batch.id == c.batch_id))
        sources = [int(x) for x in c.sources.split(",") if x]
        out.append({"id": c.id, "number": certificate_number(c), "lot": lot, "basis": c.basis, "issued_on": _day(c.issued_at),
                    "issuer": public_party_name(s, issuer), "quantity_g": c.quantity_g,
                    "replaces": [certificate_number_of(s, x) for x in sources]})
        todo.extend(x for x in (s.get(Certificate, i) for i in sources) if x is not None)
    return out


def certificate_number(c: Certificate) -> str:
    """A certificate's number as printed: its season and id."""
    return f"HG{china_date(c.issued_at).year}-{c.id:06d}"


def certificate_number_of(s: Session, cert_id: int) -> str:
    """The printed number of a certificate by id."""
    c = s.get(Certificate, cert_id)
    return certificate_number(c) if c else str(cert_id)


def is_person(s: Session, party_id: int | None) -> bool:
    """Whether a party is a natural person."""
    ident = s.get(PartyIdentity, party_id) if party_id is not None else None
    return ident is not None and ident.form == "person"


def public_party_name(s: Session, party: Party | None) -> str:
    """A party's name as the public may read it: a household is not named (see HOUSEHOLD)."""
    if party is None:
        return ""
    return HOUSEHOLD if is_person(s, party.id) else party.name


HOUSEHOLD = "个体农户 household grower"


def public_facts(s: Session, batch: Batch, package: Package | None, facts: dict[str, Any]) -> dict[str, Any]:
    """The field end's public facts of a batch (for the package and lot pages), to merge into the
    page's facts: {"field": ..., "gi_badge": ...}. Also shows natural persons in the journey as
    households, never by their (masked) names."""
    product = batch.product
    journey = facts.get("journey", [])
    _unname(facts)  # people are not named on a consumer's page
    seasons = []
    harvests = s.execute(select(Batch).where(Batch.id.in_(_harvest_ancestors(s, batch.id)))).scalars().all()
    for h in sorted(harvests, key=lambda b: b.id):
        if h.origin_plot_id is None:
            continue
        plot = s.get(Plot, h.origin_plot_id)
        season = plot_season(s, h.origin_plot_id, h.product_id, h.season, h.harvested_at)
        season.update({"lot": h.lot_code, "harvested_on": _day(h.harvested_at), "plot": h.origin_plot_id,
                       "certifications": valid_certifications(s, plot.party_id if plot else None, _day(h.harvested_at),
                                                              h.origin_plot_id)})
        seasons.append(season)
    packer_id, pack_day, pack_entry = None, None, None
    if package is not None:
        packer_id = s.scalar(select(BatchEvent.party_id).where(BatchEvent.batch_id == package.batch_id,
                                                               BatchEvent.entry == package.pack_entry))
        pack_day, pack_entry = _day(package.packed_at), package.pack_entry
        badge = gi_authorised(s, packer_id, product.id, pack_day, pack_entry)
    else:
        packs = s.execute(select(BatchEvent.party_id, BatchEvent.occurred_at, BatchEvent.entry).where(
            BatchEvent.batch_id == batch.id, BatchEvent.kind == "pack")).all()
        if packs:
            badge = all(gi_authorised(s, p, product.id, _day(at), e) for p, at, e in packs)
            packer_id, pack_day = packs[-1][0], _day(packs[-1][1])
        else:
            badge = gi_authorised(s, batch.custodian_id, product.id, china_date(utc_now()).isoformat())
    code = s.get(BatchCode, batch.id)
    grower_ids = {s.scalar(select(Plot.party_id).where(Plot.id == h.origin_plot_id)) for h in harvests if h.origin_plot_id}
    subject_codes = [i.platform_code for i in s.scalars(select(PartyIdentity).where(
        PartyIdentity.party_id.in_({p for p in grower_ids | {packer_id} if p is not None}))) if i.platform_code]
    late = [st["entry"] for st in journey if st.get("recorded_at") and st.get("at") and is_late(st["at"], st["recorded_at"])]
    return {"gi_badge": badge, "field": {
        "demo": demo_log(s),
        "registration": registration(s, product.id, product.gi_ref),
        "seasons": seasons,
        "certificates": certificate_chain(s, batch.id),
        "packer_certifications": valid_certifications(s, packer_id, pack_day) if pack_day else [],
        "trace_code": code.code if code else None,
        "subject_codes": sorted(subject_codes),
        "late": late,
    }}


@dataclass(frozen=True)
class LabelExtras:
    """What a label prints besides the package: origin, grade, shelf life, the GI badge."""

    origin: str
    grade: str
    shelf_life: str
    gi_badge: bool


def label_extras(s: Session, batch: Batch, packer_id: int | None, pack_entry: int, packed_at: str) -> LabelExtras:
    """Art. 38's words for the labels of one pack event."""
    from trace.domain.queries.entries import entries

    harvests = s.scalars(select(Batch).where(Batch.id.in_(_harvest_ancestors(s, batch.id)), Batch.harvest_g.is_not(None))).all()
    plots = [s.get(Plot, h.origin_plot_id) for h in harvests if h.origin_plot_id is not None]
    origin = "、".join(sorted({f"{p.township}{p.village}" for p in plots if p is not None}))
    pack = entries(s, [pack_entry]).get(pack_entry)
    days = getattr(pack.event, "shelf_life_days", None) if pack is not None else None
    return LabelExtras(origin, batch.grade, f"{days} 天 days" if days else "",
                       gi_authorised(s, packer_id, batch.product_id, _day(packed_at), pack_entry))


def _unname(value: Any) -> None:
    """Every party of the facts that is a natural person (no credit code) shows as a household."""
    if isinstance(value, dict):
        if {"name", "kind", "uscc"} <= value.keys() and value["uscc"] is None:
            value["name"] = HOUSEHOLD
        for v in value.values():
            _unname(v)
    elif isinstance(value, list):
        for v in value:
            _unname(v)


def _harvest_ancestors(s: Session, batch_id: int) -> set[int]:
    """The batch and its ancestors (for their harvests)."""
    from trace.domain.tables.batches import BatchLink

    seen, frontier = {batch_id}, {batch_id}
    for _ in range(64):
        parents = set(s.scalars(select(BatchLink.parent_id).where(BatchLink.child_id.in_(frontier)))) - seen
        if not parents:
            break
        seen |= parents
        frontier = parents
    return seen


# -- the portal ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    """A farming record as the plot page shows it."""

    entry: int
    kind: str
    occurred_at: str
    recorded_at: str | None
    product_id: str | None
    pesticide: str | None
    pesticide_name: str
    detail: str
    source: str
    amount_g_per_mu: int | None
    area_centimu: int | None
    operator: str  # the operator's name, for the grower and the bureau only
    alerts: tuple[str, ...]

    @property
    def late(self) -> bool:
        """Recorded more than a day after it happened (补录)."""
        return bool(self.recorded_at) and is_late(self.occurred_at, self.recorded_at or self.occurred_at)


@dataclass
class PlotPage:
    """A plot with its farming records and certifications."""

    plot: Plot
    grower: str
    records: list[RecordRow]
    certifications: list[Certification]
    pesticides: list[Pesticide]
    products: list[Product]
    editable: bool  # the viewer is its grower
    division_name: str = ""


def _viewer(s: Session, actor: Actor) -> Party | None:
    return s.get(Party, actor.party_id) if actor.party_id is not None else None


def sees_all(s: Session, actor: Actor) -> bool:
    """Regulators and administrators."""
    party = _viewer(s, actor)
    return actor.is_admin or (party is not None and party.kind == PartyKind.REGULATOR)


def plot_page(engine: Engine, actor: Actor, plot_id: int) -> PlotPage:
    """A plot's farming records, for its grower and the bureau."""
    with read_session(engine) as s:
        plot = s.get(Plot, plot_id)
        if plot is None:
            raise NO_PLOT("plot", id=plot_id)
        if not (sees_all(s, actor) or actor.party_id == plot.party_id):
            raise PLOT_HIDDEN("plot")
        records = s.scalars(select(FarmRecord).where(FarmRecord.plot_id == plot.id).order_by(FarmRecord.occurred_at.desc(),
                                                                                            FarmRecord.entry.desc())).all()
        operators = dict(s.execute(select(FarmOperator.entry, FarmOperator.name).where(
            FarmOperator.entry.in_([r.entry for r in records]))).all()) if records else {}
        pests = {p.reg_no: p for p in s.scalars(select(Pesticide))}
        recorded = _recorded_at(s, [r.entry for r in records])
        rows = [RecordRow(r.entry, r.kind, r.occurred_at, recorded.get(r.entry), r.product_id, r.pesticide,
                          pests[r.pesticide].name if r.pesticide in pests else "", r.detail, r.source, r.amount_g_per_mu,
                          r.area_centimu, operators.get(r.entry, ""), tuple(a for a in r.alerts.split(",") if a))
                for r in records]
        certs = list(s.scalars(select(Certification).where(Certification.party_id == plot.party_id).order_by(Certification.id)))
        division = s.get(Division, plot.division) if plot.division else None
        return PlotPage(plot, s.get_one(Party, plot.party_id).name, rows,
                        [c for c in certs if c.plot_id in (None, plot.id)], sorted(pests.values(), key=lambda p: p.name),
                        list(s.scalars(select(Product).order_by(Product.id))), actor.party_id == plot.party_id,
                        division.name if division else "")


def _recorded_at(s: Session, indexes: Iterable[int]) -> dict[int, str]:
    from trace.domain.queries.entries import entries

    return {i: e.recorded_at for i, e in entries(s, indexes).items()}


@dataclass
class CertificatePanel:
    """A batch's certificate of conformity, the chain behind it, and what the viewer may issue."""

    current: dict[str, Any] | None
    chain: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    bases: tuple[str, ...]  # the bases the viewer may issue it on now (empty: it may not)
    trace_code: str | None


def certificate_panel(engine: Engine, actor: Actor, batch_id: int) -> CertificatePanel:
    """What the batch page shows of certificates (the batch page has checked the viewer may see it)."""
    with read_session(engine) as s:
        chain = certificate_chain(s, batch_id)
        receipts = [{"entry": r.entry, "certificate": certificate_number_of(s, r.certificate_id),
                     "party": s.get_one(Party, r.party_id).name, "received_on": _day(r.received_at)}
                    for r in s.scalars(select(CertificateReceipt).join(Certificate, Certificate.id == CertificateReceipt.certificate_id)
                                       .where(Certificate.batch_id == batch_id).order_by(CertificateReceipt.entry))]
        code = s.get(BatchCode, batch_id)
        return CertificatePanel(chain[0] if chain else None, chain, receipts, offered_bases(s, actor, batch_id),
                                code.code if code else None)


def offered_bases(s: Session, actor: Actor, batch_id: int) -> tuple[str, ...]:
    """The bases on which the viewer may issue the batch's certificate now: the same check a
    command runs, on a probe of each basis (only what is true is offered)."""
    state = DbState(s.connection())
    batch = state.batch(batch_id)
    if batch is None or actor.party_id is None:
        return ()
    ctx = read_context(actor)
    out = []
    for basis in BASES:
        probe = CertificateIssue(certificate=NewCertificate(
            id=state.next_id(Certificate), batch=batch.id, basis=basis, quantity_g=max(1, batch.quantity_g), sources=[]),  # type: ignore[arg-type]
            occurred_at=ctx.recorded_at)
        try:
            rules.check(state, probe, ctx)
        except DomainError:
            continue
        out.append(basis)
    return tuple(sorted(out, key=STRENGTH.__getitem__))


@dataclass
class Registers:
    """The bureau's lists: divisions, pesticides, GI logo authorisations, certifications,
    approvals of late entries, and the alerts it must look at."""

    divisions: int
    pesticides: list[Pesticide]
    authorisations: list[tuple[GIAuthorisation, str]]
    certifications: list[tuple[Certification, str, bool]]  # with its holder's name and whether it is flagged
    approvals: list[tuple[LateApproval, str]]
    alerts: list[dict[str, Any]]
    persons: list[dict[str, Any]] = field(default_factory=list)


def registers(engine: Engine, actor: Actor, today: dt.date | None = None) -> Registers:
    """The field end's registers and alerts, for the bureau and administrators."""
    today_s = (today or china_date(utc_now())).isoformat()
    with read_session(engine) as s:
        if not sees_all(s, actor):
            raise BUREAU_ONLY()
        names = dict(s.execute(select(Party.id, Party.name)).all())
        certs = [(c, names.get(c.party_id, ""), c.revoked_entry is not None or c.valid_until < today_s)
                 for c in s.scalars(select(Certification).order_by(Certification.id))]
        return Registers(
            s.scalar(select(func.count()).select_from(Division)) or 0,
            list(s.scalars(select(Pesticide).order_by(Pesticide.name))),
            [(a, names.get(a.party_id, "")) for a in s.scalars(select(GIAuthorisation).order_by(GIAuthorisation.entry))],
            certs,
            [(a, names.get(a.party_id, "")) for a in s.scalars(select(LateApproval).order_by(LateApproval.entry.desc()))],
            alerts(s, today_s),
            [{"party_id": p.party_id, "name": p.name, "id_last4": last_four(p.id_number)}
             for p in s.scalars(select(PartyPerson).order_by(PartyPerson.party_id))])


def alerts(s: Session, today: str) -> list[dict[str, Any]]:
    """What the bureau is alerted to: sprays with alerts (banned pesticides, off-label use, a
    harvest within the interval), certifications expired or revoked."""
    out: list[dict[str, Any]] = []
    names = dict(s.execute(select(Party.id, Party.name)).all())
    for r in s.scalars(select(FarmRecord).where(FarmRecord.alerts != "").order_by(FarmRecord.entry.desc()).limit(200)):
        for a in r.alerts.split(","):
            out.append({"kind": a, "entry": r.entry, "party": names.get(r.party_id, ""), "plot": r.plot_id,
                        "pesticide": r.pesticide, "date": _day(r.occurred_at)})
    for c in s.scalars(select(Certification).order_by(Certification.id)):
        if c.revoked_entry is not None:
            out.append({"kind": "certification_revoked", "entry": c.revoked_entry, "party": names.get(c.party_id, ""),
                        "plot": c.plot_id, "number": c.number, "date": c.valid_until})
        elif c.valid_until < today:
            out.append({"kind": "certification_expired", "entry": c.entry, "party": names.get(c.party_id, ""),
                        "plot": c.plot_id, "number": c.number, "date": c.valid_until})
    return out


def party_identity(engine: Engine, party_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Whether parties are persons, their 主体码, and (for the bureau's register) the last four
    characters of a person's identity number."""
    with read_session(engine) as s:
        out: dict[int, dict[str, Any]] = {}
        for i in s.scalars(select(PartyIdentity).where(PartyIdentity.party_id.in_(list(party_ids)))):
            out[i.party_id] = {"form": i.form, "platform_code": i.platform_code, "id_last4": ""}
        for p in s.scalars(select(PartyPerson).where(PartyPerson.party_id.in_(list(party_ids)))):
            out.setdefault(p.party_id, {"form": "person", "platform_code": None})["id_last4"] = last_four(p.id_number)
        return out


def plots_of_grower(engine: Engine, actor: Actor) -> list[Plot]:
    """The grower's own plots (for the farming records forms)."""
    with read_session(engine) as s:
        return list(s.scalars(select(Plot).where(Plot.party_id == (actor.party_id or 0)).order_by(Plot.id)))


__all__ = ["shipped_divisions", "demo_log", "public_facts", "plot_page", "certificate_panel", "registers", "alerts",
           "gi_authorised", "valid_certifications", "plot_season", "certificate_chain", "certificate_number",
           "party_identity", "offered_bases", "HOUSEHOLD", "limits"]
