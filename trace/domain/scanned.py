"""Package codes as a clerk's scanner or keyboard gives them, resolved to packages.

The sell and receive forms post one code per line, each exactly as scanned or typed: a package
URL (/p/{serial}, /01/{gtin}/10/{lot}/21/{serial}) or the serial printed under the QR code. The
domain reads them here, once: each line to its serial (identifiers.serial_from_scan), each serial
to its package through the serials kept out of the log. The log then records package ids, which
the rules check again on replay. A refusal says which line is wrong and why, in the clerk's words:
not a code, not one of ours, of another lot, already sold."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from trace.domain.errors import Code, DomainError, InvalidInput, NotFound, RuleViolation
from trace.domain.identifiers import serial_from_scan
from trace.domain.messages import N_
from trace.domain.state import BatchState, DbState, State
from trace.domain.tables.batches import Batch, Package, PackageSecret

NOT_A_CODE = Code("scan.not_a_code", InvalidInput, N_("Line %(n)s is not a package code: %(code)s"))
UNKNOWN = Code("scan.unknown", NotFound,
               N_("Line %(n)s (…%(short)s) is not a package of this system: it may be a counterfeit label."))
OTHER_LOT = Code("scan.other_lot", RuleViolation, N_("Line %(n)s (…%(short)s) is a package of lot %(lot)s, not of %(this)s."))
SOLD = Code("scan.sold", RuleViolation, N_("Line %(n)s (…%(short)s) was sold already."))
NONE = Code("scan.none", InvalidInput, N_("Scan or type the package codes, one per line."))
MISSING = Code("scan.missing", RuleViolation,
               N_("%(n)s of the %(total)s packages of lot %(lot)s were not scanned: …%(short)s. Scan every package "
                  "that arrived; if some are missing, settle it with the sender first."))
TOO_MANY = Code("scan.too_many", InvalidInput, N_("At most %(max)s package codes at once."))
SHORT = 4  # characters of a serial a message shows: enough to find the label, too few to forge one


@dataclass(frozen=True)
class Scanned:
    """One resolved line."""

    line: int
    serial: str
    package_id: int
    batch_id: int
    lot: str
    status: str


def resolve(state: State, codes: list[str], field: str, max_codes: int) -> list[Scanned]:
    """Each line's package, once (a line scanned twice counts once); refusals name the line."""
    if len(codes) > max_codes:
        raise TOO_MANY(field, max=max_codes)
    serials: dict[str, int] = {}
    for n, raw in enumerate(codes, 1):
        try:
            serial = serial_from_scan(raw, field)
        except DomainError:
            raise NOT_A_CODE(field, n=n, code=raw[:60]) from None
        serials.setdefault(serial, n)
    if not isinstance(state, DbState):  # serials live in the state tables only, never in the log
        raise AssertionError("scanned codes are resolved on the live path")
    found = _lookup(state.conn, list(serials))
    out = []
    for serial, n in serials.items():
        hit = found.get(serial)
        if hit is None:
            raise UNKNOWN(field, n=n, short=serial[-SHORT:])
        out.append(Scanned(n, serial, *hit))
    return sorted(out, key=lambda s: s.line)


def _lookup(conn: Connection, serials: list[str]) -> dict[str, tuple[int, int, str, str]]:
    out: dict[str, tuple[int, int, str, str]] = {}
    for i in range(0, len(serials), 500):
        q = (select(PackageSecret.serial, Package.id, Package.batch_id, Batch.lot_code, Package.status)
             .join(Package, Package.id == PackageSecret.package_id).join(Batch, Batch.id == Package.batch_id)
             .where(PackageSecret.serial.in_(serials[i:i + 500])))
        for serial, pid, bid, lot, status in conn.execute(q):
            out[serial] = (pid, bid, lot, status)
    return out


def of_batch(found: list[Scanned], batch: BatchState, field: str) -> list[int]:
    """The package ids, if every line is an unsold package of `batch`."""
    for s in found:
        if s.batch_id != batch.id:
            raise OTHER_LOT(field, n=s.line, short=s.serial[-SHORT:], lot=s.lot, this=batch.lot_code)
        if s.status != "packed":
            raise SOLD(field, n=s.line, short=s.serial[-SHORT:])
    return sorted(s.package_id for s in found)


def missing(state: State, batch: BatchState, scanned: list[int], field: str) -> None:
    """Refuse a receipt that leaves out unsold packages of the batch, saying which."""
    left = sorted(set(state.unsold_packages(batch.id)) - set(scanned))
    if not left:
        return
    shorts = ""
    if isinstance(state, DbState):
        rows = state.conn.execute(select(PackageSecret.serial).where(PackageSecret.package_id.in_(left[:10]))).scalars()
        shorts = ", …".join(sorted(s[-SHORT:] for s in rows)) + (" …" if len(left) > 10 else "")
    raise MISSING(field, n=len(left), total=len(left) + len(scanned), lot=batch.lot_code, short=shorts)
