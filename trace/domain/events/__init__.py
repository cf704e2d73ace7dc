"""The log's contract: one typed definition per event type, and the entry that carries it.

An entry is canonical JSON (see trace.ledger.store.canonical) of::

    {"event": {...}, "index": n, "party": id|null, "prev": b64, "recorded_at": t, "user": ..., "v": 3}

`index`, `prev` and `recorded_at` are the log's; `event`, `party` (the acting party), `user` (who
acted) and `v` (the encoding version) are the domain's. Version 1 entries (the first encoding)
have no `v`, carry the acting user's numeric id, plots' coordinates and vehicles' plates; from
version 2 the user is a pseudonym and coordinates and plates are salted commitments; version 3
adds fields such as the packages counted on receipt. All decode into the same classes (see events.base: Since/Until), so every reader reads one type per
event, whatever the version of the entry it came from.

`decode` refuses anything the domain would not have written: unknown types or keys, loose types,
fields missing or extra for the entry's version, and bytes that are not the canonical encoding
of what they decode to."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from trace.domain.events.base import (
    Event,
    LogTime,
    Model,
    NewLot,
    NewLotQuantity,
    Since,
    check_shape,
)
from trace.domain.events.batches import (
    Correct,
    Grade,
    Harvest,
    Inspect,
    Merge,
    NewPackage,
    Pack,
    Part,
    Process,
    Recall,
    RecallAction,
    Receive,
    Result,
    Sell,
    Ship,
    Split,
    Store,
)
from trace.domain.events.field import (
    BatchPlatformCode,
    CertificateIssue,
    CertificationAdd,
    CertificationRevoke,
    CertificationSpec,
    Division,
    DivisionDefine,
    FarmFertilise,
    FarmSpray,
    FarmWork,
    GIAuthorise,
    GIRevoke,
    Interval,
    LateApprove,
    NewCertificate,
    PartyPlatformCode,
    PesticideDefine,
    PesticideSpec,
)
from trace.domain.events.registry import (
    GIRegistration,
    PartyCredit,
    PartyRegister,
    PartySpec,
    Place,
    PlotRegister,
    PlotSpec,
    ProductDefine,
    ProductSpec,
    UserBind,
    UserCreate,
)
from trace.ledger.store import canonical

# Version 3: division codes, persons, buyers, platform codes, GI registrations, certificates
# through receipts and transformations, and the field end's own event types (events.field).
CURRENT_VERSION = 3
VERSIONS = (1, 2, 3)
EVENT_TYPES: tuple[type[Event], ...] = (
    ProductDefine, PartyRegister, PartyCredit, PlotRegister, UserCreate,
    Harvest, Inspect, Grade, Split, Merge, Process, Pack, Store, Ship, Receive, Sell, Recall, Correct,
    RecallAction, UserBind,
    DivisionDefine, PesticideDefine, FarmSpray, FarmFertilise, FarmWork, CertificateIssue,
    PartyPlatformCode, BatchPlatformCode, GIAuthorise, GIRevoke, CertificationAdd, CertificationRevoke, LateApprove,
)
BY_TYPE: dict[str, type[Event]] = {cls.TYPE: cls for cls in EVENT_TYPES}
AnyEvent = Annotated[
    ProductDefine | PartyRegister | PartyCredit | PlotRegister | UserCreate | Harvest | Inspect | Grade | Split
    | Merge | Process | Pack | Store | Ship | Receive | Sell | Recall | Correct | RecallAction | UserBind
    | DivisionDefine | PesticideDefine | FarmSpray | FarmFertilise | FarmWork | CertificateIssue
    | PartyPlatformCode | BatchPlatformCode | GIAuthorise | GIRevoke | CertificationAdd | CertificationRevoke | LateApprove,
    Field(discriminator="type"),
]
PSEUDONYM = r"^u[0-9a-f]{16}$"


class Entry(Model):
    """One decoded log entry."""

    event: AnyEvent
    index: Annotated[int, Field(ge=0)]
    party: Annotated[int, Field(ge=1)] | None
    prev: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=44)]
    recorded_at: LogTime
    user: Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=PSEUDONYM)] | None
    v: Annotated[int, Since(2)] = 1
    # From version 3: whether a demo clock recorded it (trace.clock.FollowingClock), its
    # recorded_at then being the demo's own time: the log says so, and so does every page.
    demo: Annotated[bool, Since(3)] = False


class MalformedEntry(ValueError):
    """Bytes that are not an entry the domain writes."""


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as the JSON-ready dict the log encodes: the fields it carries, nothing else."""
    out = model.model_dump(exclude_unset=True, by_alias=True)
    if isinstance(model, Event):
        out["type"] = model.TYPE
    return out


def decode(body: bytes) -> Entry:
    """The typed entry of `body`; MalformedEntry says what is wrong with it."""
    try:
        entry = Entry.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise MalformedEntry(f"{where or 'entry'}: {err['msg']}") from None
    if entry.v not in VERSIONS:
        raise MalformedEntry(f"entry: unknown encoding version {entry.v}")
    problem = check_shape(entry, entry.v, "entry")
    if problem:
        raise MalformedEntry(problem)
    if entry.user is not None and (entry.v == 1) != isinstance(entry.user, int):
        raise MalformedEntry("entry.user: version 1 entries name users by number, later ones by pseudonym")
    if encode(entry) != body:
        raise MalformedEntry("entry: its bytes are not the canonical encoding of what they hold")
    return entry


def encode(entry: Entry) -> bytes:
    """The canonical bytes of an entry."""
    out = dump(entry)
    out["event"] = dump(entry.event)
    return canonical(out)


def record(event: Event, party: int | None, user: str | None, demo: bool = False) -> dict[str, Any]:
    """What the domain hands the ledger for a new entry (the ledger adds index, prev, recorded_at)."""
    problem = check_shape(event, CURRENT_VERSION)
    if problem:  # a command built an incomplete event: a bug, never the user's fault
        raise AssertionError(problem)
    return {"demo": demo, "event": dump(event), "party": party, "user": user, "v": CURRENT_VERSION}


__all__ = [
    "CURRENT_VERSION", "EVENT_TYPES", "BY_TYPE", "AnyEvent", "Entry", "MalformedEntry", "Event", "Model", "NewLot",
    "NewLotQuantity", "decode", "encode", "record", "dump",
    "ProductDefine", "ProductSpec", "Place", "PartyRegister", "PartySpec", "PartyCredit", "PlotRegister", "PlotSpec",
    "UserCreate", "Harvest", "Inspect", "Result", "Grade", "Split", "Merge", "Part", "Process", "Pack", "NewPackage",
    "Store", "Ship", "Receive", "Sell", "Recall", "Correct", "RecallAction", "UserBind",
    "Division", "DivisionDefine", "Interval", "PesticideSpec", "PesticideDefine", "FarmSpray", "FarmFertilise",
    "FarmWork", "NewCertificate", "CertificateIssue", "PartyPlatformCode", "BatchPlatformCode", "GIAuthorise", "GIRevoke",
    "CertificationSpec", "CertificationAdd", "CertificationRevoke", "LateApprove", "GIRegistration",
]
