"""Glue between the domain and trace.labels: which packages a lot has, what their labels and the
lot's certificate of conformity say. Knows the database; trace.labels knows only pixels and PDF.

Serials come from PackageSecret (they are printed, never logged); URLs from the public base URL.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trace.clock import china_date
from trace.domain.errors import Code, NotFound, RuleViolation
from trace.domain.identifiers import check_lot, lot_path, package_url
from trace.domain.messages import N_
from trace.domain.queries import field
from trace.domain.queries.public import origin_plots
from trace.domain.tables.batches import Batch, BatchEvent, Package, PackageSecret
from trace.domain.tables.catalogue import Product
from trace.domain.tables.field import Certificate, PartyPerson
from trace.domain.tables.parties import Party, PartyContact
from trace.labels import CertificateInfo, LabelInfo

COUNTY = "宁夏中卫市沙坡头区"  # every GI area of the catalogue lies in Shapotou district
NO_SUCH_LOT = Code("labels.no_such_lot", NotFound, N_("There is no lot %(lot)s."))
RECALLED = Code("labels.recalled", RuleViolation, N_("Lot %(lot)s is recalled: no labels are printed for it."))
FAILED = Code("labels.failed", RuleViolation, N_("Lot %(lot)s failed inspection: no labels are printed for it."))


@dataclass(frozen=True)
class PackageLine:
    """One package as `flask --app trace packages` lists it."""

    package_id: int
    url: str
    lot: str


def iter_packages(s: Session, base_url: str, lot: str | None = None, limit: int | None = None) -> Iterator[PackageLine]:
    """Packages in id order (of one lot, if given) with their QR URLs, streamed."""
    q = (select(Package.id, PackageSecret.serial, Batch.lot_code, Product.gtin)
         .join(PackageSecret, PackageSecret.package_id == Package.id)
         .join(Batch, Batch.id == Package.batch_id).join(Product, Product.id == Batch.product_id)
         .order_by(Package.id))
    if lot is not None:
        q = q.where(Batch.lot_code == lot)
    if limit is not None:
        q = q.limit(limit)
    for pid, serial, lot_code, gtin in s.execute(q.execution_options(yield_per=2000)):
        yield PackageLine(pid, package_url(base_url, serial, gtin, lot_code), lot_code)


def find_batch(s: Session, lot: str) -> Batch:
    """The batch of a lot code; NotFound with a clear message otherwise."""
    check_lot(lot)
    batch = s.scalar(select(Batch).where(Batch.lot_code == lot))
    if batch is None:
        raise NO_SUCH_LOT("lot", lot=lot)
    return batch


def printable(batch: Batch, field: str = "lot") -> None:
    """No new labels for fruit that must not be sold."""
    if batch.recalled:
        raise RECALLED(field, lot=batch.lot_code)
    if batch.inspection == "failed":
        raise FAILED(field, lot=batch.lot_code)


def label_infos(s: Session, base_url: str, lot: str) -> list[LabelInfo]:
    """One LabelInfo per package of the lot, in package order. The packer is the party that
    recorded the pack event; its credit code is printed when it may use the GI special logo."""
    batch = find_batch(s, lot)
    printable(batch)
    product = batch.product
    packers = dict(s.execute(select(BatchEvent.entry, Party).join(Party, Party.id == BatchEvent.party_id)
                             .where(BatchEvent.batch_id == batch.id, BatchEvent.kind == "pack")).all())
    rows = s.execute(select(Package, PackageSecret.serial).join(PackageSecret, PackageSecret.package_id == Package.id)
                     .where(Package.batch_id == batch.id).order_by(Package.id))
    out = []
    extras: dict[int, field.LabelExtras] = {}
    for pkg, serial in rows:
        packer = packers.get(pkg.pack_entry)
        if pkg.pack_entry not in extras:
            extras[pkg.pack_entry] = field.label_extras(s, batch, packer.id if packer else None, pkg.pack_entry, pkg.packed_at)
        x = extras[pkg.pack_entry]
        out.append(LabelInfo(
            url=package_url(base_url, serial, product.gtin, batch.lot_code), product_zh=product.name_zh,
            product_en=product.name_en, lot_code=batch.lot_code, net_weight_g=pkg.net_g, packed_on=china_date(pkg.packed_at),
            packer=field.public_party_name(s, packer) if packer else "", serial=serial,
            gi_logo_uscc=packer.uscc if packer is not None and x.gi_badge else None, origin=x.origin, grade=x.grade,
            shelf_life=x.shelf_life, gi_badge=x.gi_badge))
    return out


def certificate_info(s: Session, base_url: str, lot: str, issued_on: dt.date | None = None,
                     required: bool = False) -> CertificateInfo:
    """The lot's 承诺达标合格证 as the log records it (its issuer, basis and quantity, the ones it
    replaces); its QR code opens the lot's public page and it carries the words 承诺达标合格证. A
    lot with no certificate in the log (recorded before version 3) gets the lot's facts with no
    basis ticked and no number, or, with `required`, a refusal."""
    batch = find_batch(s, lot)
    printable(batch)
    recorded = s.scalar(select(Certificate).where(Certificate.batch_id == batch.id).order_by(Certificate.id.desc()).limit(1))
    if recorded is not None:
        return _recorded_certificate(s, base_url, batch, recorded)
    if required:
        raise field.NO_CERTIFICATE("batch", lot=batch.lot_code)
    packer = s.scalar(select(Party).join(BatchEvent, BatchEvent.party_id == Party.id)
                      .where(BatchEvent.batch_id == batch.id, BatchEvent.kind == "pack")
                      .order_by(BatchEvent.entry.desc()).limit(1))
    party = packer or batch.custodian
    contact = s.get(PartyContact, party.id)
    plots = origin_plots(s, batch.id)
    places = sorted({f"{p.township}{p.village}" for p in plots})
    origin = COUNTY + "、".join(places) if places else COUNTY
    return CertificateInfo(
        url=base_url.rstrip("/") + lot_path(batch.lot_code, batch.product.gtin),
        product_zh=batch.product.name_zh, product_en=batch.product.name_en, lot_code=batch.lot_code,
        quantity_g=batch.quantity_g, origin=origin, party_name=party.name,
        party_contact=(contact.phone if contact and contact.phone else "") or party.uscc,
        issued_on=issued_on or china_date(dt.datetime.now(dt.UTC)), basis=None)


BASIS_WORDS = {"control": "质量安全控制", "own_test": "自行检测", "commissioned_test": "委托检测"}


def _recorded_certificate(s: Session, base_url: str, batch: Batch, cert: Certificate) -> CertificateInfo:
    """The certificate as issued. It travels with the produce to the buyer, so it names its
    issuer and contact as the rules ask, a household by its name too (which the public page and
    the log never show)."""
    party = s.get_one(Party, cert.party_id)
    contact = s.get(PartyContact, party.id)
    person = s.get(PartyPerson, party.id)
    plots = origin_plots(s, batch.id)
    places = sorted({f"{p.township}{p.village}" for p in plots})
    sources = [int(x) for x in cert.sources.split(",") if x]
    return CertificateInfo(
        url=base_url.rstrip("/") + lot_path(batch.lot_code, batch.product.gtin),
        product_zh=batch.product.name_zh, product_en=batch.product.name_en, lot_code=batch.lot_code,
        quantity_g=cert.quantity_g, origin=COUNTY + "、".join(places) if places else COUNTY,
        party_name=person.name if person else party.name,
        party_contact=(contact.phone if contact and contact.phone else "") or (party.uscc or ""),
        issued_on=china_date(cert.issued_at), basis=BASIS_WORDS[cert.basis], number=field.certificate_number(cert),
        replaces="、".join(field.certificate_number_of(s, x) for x in sources))
