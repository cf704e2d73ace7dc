"""Consumer cases: what a consumer reports from a package's page or the "code not registered"
page (a suspected copy, a quality complaint), with an optional photo and phone number, and how
the market supervision bureau assigns, answers and closes it. No Flask here.

Cases are operational and private, like a login's password: they never enter the public log. A
phone number and a photo are shown to regulators only; a photo is re-encoded as a JPEG of at most
1600 pixels a side, which drops its metadata (EXIF GPS position, camera serial)."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from trace.db import read_session, write_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.identifiers import SERIAL_FORMAT, serial_from_scan
from trace.domain.inputs.base import fold
from trace.domain.messages import N_
from trace.domain.tables.batches import Batch, Package, PackageSecret
from trace.domain.tables.cases import Case, CaseEvent, CasePhoto
from trace.domain.tables.parties import Party, PartyKind, User

KINDS = ("copy", "quality", "other")
KIND_NAMES = {"copy": N_("suspected copy"), "quality": N_("quality complaint"), "other": N_("something else")}
STATUSES = ("open", "assigned", "answered", "closed")
STATUS_NAMES = {"open": N_("new"), "assigned": N_("assigned"), "answered": N_("answered"), "closed": N_("closed")}
MAX_MESSAGE = 2000
MAX_PHOTO = 8 * 1024 * 1024  # bytes as uploaded
MAX_SIDE = 1600  # pixels kept
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{5,19}$")

KIND = Code("case.kind", InvalidInput, N_("Choose what you are reporting."))
MESSAGE = Code("case.message", InvalidInput, N_("Please describe what you found, in at most %(max)s characters."))
PHONE_FORMAT = Code("case.phone", InvalidInput, N_("The phone number should be digits only, such as 13800000000."))
PLACE = Code("case.place", InvalidInput, N_("The place may have at most %(max)s characters."))
PHOTO_BIG = Code("case.photo_big", InvalidInput, N_("The photo is too large: at most %(mb)s MB."))
PHOTO_TYPE = Code("case.photo_type", InvalidInput, N_("The photo must be a JPEG, PNG or WebP picture."))
REGULATORS_ONLY = Code("case.regulators_only", Forbidden, N_("Only the market supervision bureau sees consumer cases."))
NO_CASE = Code("case.not_found", NotFound, N_("There is no case %(id)s."))
ASSIGNEE = Code("case.assignee", InvalidInput, N_("Choose a login of the bureau to assign the case to."))
ANSWER = Code("case.answer", InvalidInput, N_("Write the answer (at most %(max)s characters)."))
CLOSED = Code("case.closed", RuleViolation, N_("Case %(id)s is closed."))


@dataclass(frozen=True)
class CaseRow:
    """A case as the bureau sees it (phone included: the bureau's eyes only)."""

    id: int
    created_at: datetime
    kind: str
    code: str
    package_id: int | None
    batch_id: int | None
    lot: str | None
    place: str
    message: str
    phone: str
    status: str
    assignee: str | None
    answer: str
    has_photo: bool


@dataclass(frozen=True)
class CaseEventRow:
    """One step of a case's handling."""

    at: datetime
    user: str | None
    action: str
    text: str


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def clean_photo(data: bytes) -> tuple[bytes, int, int]:
    """A photo re-encoded as a JPEG of at most MAX_SIDE pixels a side, without its metadata."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > MAX_PHOTO:
        raise PHOTO_BIG("photo", mb=MAX_PHOTO // (1024 * 1024))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("JPEG", "PNG", "WEBP"):
                raise PHOTO_TYPE("photo")
            if probe.width * probe.height > 50_000_000:  # a decompression bomb, not a photo
                raise PHOTO_BIG("photo", mb=MAX_PHOTO // (1024 * 1024))
            probe.load()
            img = ImageOps.exif_transpose(probe)  # keep it the right way up once EXIF is gone
            img = img.convert("RGB")
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=85)  # a fresh file: no EXIF, no GPS, no comments
            return out.getvalue(), img.width, img.height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PHOTO_TYPE("photo") from None


def submit(engine: Engine, *, package_id: int | None, code: str, kind: object, message: object, place: object,
           phone: object, photo: bytes | None, client: str = "", now: datetime | None = None) -> int:
    """Record a consumer's report as a case; returns its number. `package_id` when it was sent from
    a genuine package's page, else the code as typed or scanned (it may name no package at all)."""
    k = fold(kind)
    if k not in KINDS:
        raise KIND("kind")
    text = "" if message is None else str(message).strip()
    if len(text) > MAX_MESSAGE or any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise MESSAGE("message", max=MAX_MESSAGE)
    if not text and k != "copy":
        raise MESSAGE("message", max=MAX_MESSAGE)
    where = fold(place)
    if len(where) > 60:
        raise PLACE("place", max=60)
    tel = fold(phone).replace(" ", "")
    if tel and not PHONE.fullmatch(tel):
        raise PHONE_FORMAT("phone")
    picture = clean_photo(photo) if photo else None
    raw = fold(code)[:200]
    now = now or datetime.now(UTC)
    with write_session(engine) as s:
        pkg = s.get(Package, package_id) if package_id is not None else None
        if pkg is None and raw:
            try:
                serial = serial_from_scan(raw, "code")
            except Exception as exc:  # noqa: BLE001 - a code that is not one stays as typed
                if getattr(exc, "code", None) != SERIAL_FORMAT.code:
                    raise
            else:
                pid = s.scalar(select(PackageSecret.package_id).where(PackageSecret.serial == serial))
                pkg = s.get(Package, pid) if pid is not None else None
        row = Case(created_at=now, updated_at=now, kind=k, code=raw, package_id=pkg.id if pkg else None,
                   batch_id=pkg.batch_id if pkg else None, place=where, message=text, phone=tel, status="open",
                   answer="")
        s.add(row)
        s.flush()
        if picture is not None:
            s.add(CasePhoto(case_id=row.id, data=picture[0], width=picture[1], height=picture[2]))
        s.add(CaseEvent(case_id=row.id, at=now, user_id=None, action="received", text=""))
        return row.id


def _regulator(engine: Engine, actor: Actor) -> None:
    with read_session(engine) as s:
        party = s.get(Party, actor.party_id) if actor.party_id is not None else None
    if party is None or party.kind != PartyKind.REGULATOR.value:
        raise REGULATORS_ONLY()


def _rows(s, stmt) -> list[CaseRow]:  # type: ignore[no-untyped-def]
    out = []
    for c, lot, assignee, photo in s.execute(stmt):
        out.append(CaseRow(c.id, _utc(c.created_at), c.kind, c.code, c.package_id, c.batch_id, lot, c.place, c.message,
                           c.phone, c.status, assignee, c.answer, photo is not None))
    return out


def _select():  # type: ignore[no-untyped-def]
    return (select(Case, Batch.lot_code, User.username, CasePhoto.case_id)
            .outerjoin(Batch, Batch.id == Case.batch_id).outerjoin(User, User.id == Case.assignee_id)
            .outerjoin(CasePhoto, CasePhoto.case_id == Case.id))


def list_cases(engine: Engine, actor: Actor, *, status: str | None = None, package_id: int | None = None,
               batch_id: int | None = None, limit: int = 200) -> list[CaseRow]:
    """Cases, newest first (regulators only)."""
    _regulator(engine, actor)
    q = _select().order_by(Case.id.desc()).limit(limit)
    if status in STATUSES:
        q = q.where(Case.status == status)
    elif status == "active":
        q = q.where(Case.status != "closed")
    if package_id is not None:
        q = q.where(Case.package_id == package_id)
    if batch_id is not None:
        q = q.where(Case.batch_id == batch_id)
    with read_session(engine) as s:
        return _rows(s, q)


def counts_by_package(engine: Engine, package_ids: list[int]) -> dict[int, int]:
    """How many cases name each of these packages (for the anomaly lists' links)."""
    if not package_ids:
        return {}
    with read_session(engine) as s:
        return dict(s.execute(select(Case.package_id, func.count()).where(Case.package_id.in_(package_ids))
                              .group_by(Case.package_id)).all())


def get(engine: Engine, actor: Actor, case_id: int) -> tuple[CaseRow, list[CaseEventRow]]:
    """One case with its handling (regulators only)."""
    _regulator(engine, actor)
    with read_session(engine) as s:
        found = _rows(s, _select().where(Case.id == case_id))
        if not found:
            raise NO_CASE("case", id=case_id)
        steps = [CaseEventRow(_utc(e.at), u, e.action, e.text) for e, u in s.execute(
            select(CaseEvent, User.username).outerjoin(User, User.id == CaseEvent.user_id)
            .where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]
        return found[0], steps


def photo(engine: Engine, actor: Actor, case_id: int) -> bytes:
    """A case's photo (regulators only)."""
    _regulator(engine, actor)
    with read_session(engine) as s:
        p = s.get(CasePhoto, case_id)
        if p is None:
            raise NO_CASE("case", id=case_id)
        return bytes(p.data)


def bureau_logins(engine: Engine, actor: Actor) -> list[tuple[int, str]]:
    """The logins a case may be assigned to: the bureau's own."""
    _regulator(engine, actor)
    with read_session(engine) as s:
        return list(s.execute(select(User.id, User.username).where(User.party_id == actor.party_id).order_by(User.username)))


def _change(engine: Engine, actor: Actor, case_id: int, action: str, text: str = "", *, status: str,
            assignee: int | None = None, answer: str | None = None, now: datetime | None = None) -> None:
    _regulator(engine, actor)
    now = now or datetime.now(UTC)
    with write_session(engine) as s:
        c = s.get(Case, case_id, with_for_update=True)
        if c is None:
            raise NO_CASE("case", id=case_id)
        if c.status == "closed":
            raise CLOSED(None, id=case_id)
        c.status, c.updated_at = status, now
        if assignee is not None:
            c.assignee_id = assignee
        if answer is not None:
            c.answer = answer
        s.add(CaseEvent(case_id=case_id, at=now, user_id=actor.user_id, action=action, text=text))


def assign(engine: Engine, actor: Actor, case_id: int, user_id: object, *, now: datetime | None = None) -> None:
    """Give a case to a login of the bureau."""
    ids = {uid for uid, _ in bureau_logins(engine, actor)}
    raw = fold(user_id)
    if not raw.isdigit() or int(raw) not in ids:
        raise ASSIGNEE("assignee")
    _change(engine, actor, case_id, "assigned", status="assigned", assignee=int(raw), now=now)


def answer(engine: Engine, actor: Actor, case_id: int, text: object, *, close: bool = False,
           now: datetime | None = None) -> None:
    """Answer a case (what the bureau found or did), and close it if the matter is done."""
    body = "" if text is None else str(text).strip()
    if not body or len(body) > MAX_MESSAGE or any(ord(c) < 32 and c not in "\n\r\t" for c in body):
        raise ANSWER("answer", max=MAX_MESSAGE)
    _change(engine, actor, case_id, "closed" if close else "answered", body,
            status="closed" if close else "answered", answer=body, now=now)
