"""The state the rules read and the events change, with two homes behind one interface.

* `DbState`, the live path: rows of the state tables loaded on demand within the write
  transaction, changed in memory by the rules, written back with plain SQL when the event has
  been applied.
* `MemoryState`, the audit path: the whole projection rebuilt in memory while `verify` replays
  the log, then compared with the state tables row by row.

Rules (trace.domain.rules) see only this interface, so the same `check` and `apply` code writes
the present and proves the history. The values are plain dataclasses with the tables' columns."""
from __future__ import annotations

import bisect
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from trace.clock import parse_log_time, rfc3339
from trace.domain.tables import field as ft
from trace.domain.tables.batches import Batch, BatchEvent, BatchLink, Package, RecallTask
from trace.domain.tables.catalogue import Product, ProductArea, area_allows
from trace.domain.tables.parties import Party, Plot, User

# -- the values ------------------------------------------------------------------------------


@dataclass(slots=True)
class ProductState:
    """A GI product; `area` holds (township, village, division code or None) places, village '*'
    for a whole township."""

    TABLE: ClassVar[Table] = Product.__table__  # type: ignore[assignment]
    id: str
    name_zh: str
    name_en: str
    gi_ref: str
    gtin: str | None
    harvest_months: str
    yield_g_per_mu: int
    lot_prefix: str
    area: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def months(self) -> list[int]:
        """Harvest months as integers."""
        return [int(m) for m in self.harvest_months.split(",") if m]

    def allows(self, township: str, village: str, division: str | None = None) -> bool:
        """Whether a plot in this township and village (and division) lies inside the protected
        area (see tables.catalogue.area_allows)."""
        return area_allows(self.area, township, village, division)


def credit_in_force(status: str, start: str | None, end: str | None, day: str | None) -> str:
    """A credit status as it holds on a Beijing day (YYYY-MM-DD; None: whatever was set last):
    outside its period from `start` to `end` (either open) a party is normal. The rules, the
    public lists and the public page read a status through this one function."""
    if day is None or status == "normal":
        return status
    if (start and day < start) or (end and day > end):
        return "normal"
    return status


@dataclass(slots=True)
class PartyState:
    """A party of the chain."""

    TABLE: ClassVar[Table] = Party.__table__  # type: ignore[assignment]
    id: int
    kind: str
    name: str
    uscc: str | None
    township: str
    gi_logo: bool
    credit_status: str
    credit_reason: str
    credit_start: str | None = None  # from version 3: the Beijing days the status holds
    credit_end: str | None = None

    def credit_on(self, day: str | None) -> str:
        """The status in force on a Beijing day (YYYY-MM-DD; None: whatever was set last)."""
        return credit_in_force(self.credit_status, self.credit_start, self.credit_end, day)


@dataclass(slots=True)
class PlotState:
    """A grower's plot (area in hundredths of a mu)."""

    TABLE: ClassVar[Table] = Plot.__table__  # type: ignore[assignment]
    id: int
    party_id: int
    township: str
    village: str
    area_centimu: int
    lat_micro: int | None
    lon_micro: int | None
    location: str | None
    division: str | None = None

    @property
    def area_mu_text(self) -> str:
        """Area as a decimal string, computed from integers."""
        whole, frac = divmod(self.area_centimu, 100)
        return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")


@dataclass(slots=True)
class UserState:
    """A login as the log knows it: its pseudonym, its party, whether it administers."""

    TABLE: ClassVar[Table] = User.__table__  # type: ignore[assignment]
    pseudonym: str
    party_id: int | None
    is_admin: bool
    created_entry: int | None


@dataclass(slots=True)
class BatchState:
    """A lot of one product; quantities in grams, times as log times."""

    TABLE: ClassVar[Table] = Batch.__table__  # type: ignore[assignment]
    id: int
    lot_code: str
    product_id: str
    origin_plot_id: int | None
    harvest_g: int | None
    season: int
    form: str
    grade: str
    quantity_g: int
    packed_g: int
    unsold: int
    custodian_id: int
    transit_to_id: int | None
    harvested_at: str
    status: str
    inspection: str
    recalled: bool
    recall_entry: int | None
    created_entry: int
    inspection_kind: str = ""  # official or self (from version 3), '' when unknown or none

    @property
    def loose_g(self) -> int:
        """Grams not yet packed."""
        return self.quantity_g - self.packed_g


@dataclass(slots=True)
class RecallTaskState:
    """What a recall (version 3 on) asks of one batch, and what its holders did so far."""

    TABLE: ClassVar[Table] = RecallTask.__table__  # type: ignore[assignment]
    recall_entry: int
    batch_id: int
    packages: int
    sold: int
    loose_g: int
    off_sale: int = 0
    returned: int = 0
    destroyed: int = 0
    off_sale_g: int = 0
    returned_g: int = 0
    destroyed_g: int = 0
    first_action_at: str | None = None
    last_action_at: str | None = None

    @property
    def out(self) -> int:
        """Packages neither sold before the recall nor pulled since."""
        return self.packages - self.sold - self.off_sale - self.returned - self.destroyed

    @property
    def out_g(self) -> int:
        """Loose grams not pulled yet."""
        return self.loose_g - self.off_sale_g - self.returned_g - self.destroyed_g


@dataclass(slots=True)
class PackageState:
    """A package with a QR code (the log holds its serial's hash)."""

    TABLE: ClassVar[Table] = Package.__table__  # type: ignore[assignment]
    id: int
    batch_id: int
    serial_hash: str
    net_g: int
    packed_at: str
    pack_entry: int
    status: str
    sold_at: str | None


@dataclass(slots=True)
class LinkState:
    """Lineage: `child_id` was made from `quantity_g` of `parent_id`."""

    TABLE: ClassVar[Table] = BatchLink.__table__  # type: ignore[assignment]
    parent_id: int
    child_id: int
    quantity_g: int
    kind: str
    entry: int


# -- the field end's values (trace.domain.tables.field): one key column each ----------------------


@dataclass(slots=True)
class DivisionState:
    """An administrative division."""

    TABLE: ClassVar[Table] = ft.Division.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "code"
    code: str
    name: str
    level: str


@dataclass(slots=True)
class PesticideState:
    """A pesticide of the bureau's list; `intervals` is 'product:days,...'."""

    TABLE: ClassVar[Table] = ft.Pesticide.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "reg_no"
    reg_no: str
    name: str
    active_ingredient: str
    intervals: str
    banned: bool

    def interval(self, product_id: str) -> int | None:
        """Its pre-harvest interval on a crop in days (None: not registered for that crop)."""
        for item in self.intervals.split(","):
            crop, _, days = item.partition(":")
            if crop == product_id and days:
                return int(days)
        return None

    @property
    def longest(self) -> int | None:
        """Its longest interval on any crop (the one applied where it is not registered)."""
        days = [int(i.partition(":")[2]) for i in self.intervals.split(",") if ":" in i]
        return max(days) if days else None


@dataclass(slots=True)
class FarmRecordState:
    """A farming record on a plot."""

    TABLE: ClassVar[Table] = ft.FarmRecord.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "entry"
    entry: int
    plot_id: int
    party_id: int
    kind: str
    occurred_at: str
    season: int
    product_id: str | None
    pesticide: str | None
    detail: str
    source: str
    amount_g_per_mu: int | None
    area_centimu: int | None
    operator: str | None
    alerts: str


@dataclass(slots=True)
class CertificateState:
    """A 承诺达标合格证 of a batch."""

    TABLE: ClassVar[Table] = ft.Certificate.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "id"
    id: int
    batch_id: int
    party_id: int
    basis: str
    quantity_g: int
    issued_at: str
    entry: int
    sources: str


@dataclass(slots=True)
class ReceiptState:
    """A certificate collected with a batch."""

    TABLE: ClassVar[Table] = ft.CertificateReceipt.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "entry"
    entry: int
    certificate_id: int
    party_id: int
    received_at: str


@dataclass(slots=True)
class BatchTestState:
    """The tests a batch has passed (and not failed since)."""

    TABLE: ClassVar[Table] = ft.BatchTest.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "batch_id"
    batch_id: int
    official: bool
    own: bool


@dataclass(slots=True)
class BatchCodeState:
    """A lot's 追溯码."""

    TABLE: ClassVar[Table] = ft.BatchCode.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "batch_id"
    batch_id: int
    code: str
    entry: int


@dataclass(slots=True)
class AuthorisationState:
    """An authorisation to use the GI logo."""

    TABLE: ClassVar[Table] = ft.GIAuthorisation.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "entry"
    entry: int
    party_id: int
    product_id: str
    announcement: str
    valid_from: str
    valid_until: str | None
    revoked_entry: int | None


@dataclass(slots=True)
class CertificationState:
    """A certification of a party (or one of its plots)."""

    TABLE: ClassVar[Table] = ft.Certification.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "id"
    id: int
    party_id: int
    plot_id: int | None
    scheme: str
    number: str
    issuer: str
    scope: str
    valid_from: str
    valid_until: str
    entry: int
    revoked_entry: int | None


@dataclass(slots=True)
class LateApprovalState:
    """An approval of late entries."""

    TABLE: ClassVar[Table] = ft.LateApproval.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "entry"
    entry: int
    party_id: int
    batch_id: int | None
    plot_id: int | None
    earliest: str
    until: str
    reason: str


@dataclass(slots=True)
class RegistrationState:
    """A product's GI registration."""

    TABLE: ClassVar[Table] = ft.ProductRegistration.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "product_id"
    product_id: str
    kind: str | None
    number: str | None
    holder: str | None
    date: str | None
    spec_ref: str | None


@dataclass(slots=True)
class IdentityState:
    """An organisation or a natural person, and its 主体码."""

    TABLE: ClassVar[Table] = ft.PartyIdentity.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "party_id"
    party_id: int
    form: str
    person: str | None
    platform_code: str | None


@dataclass(slots=True)
class LogMarkState:
    """A mark of the log as a whole: 'demo' from its first entry a demo clock recorded."""

    TABLE: ClassVar[Table] = ft.LogMark.__table__  # type: ignore[assignment]
    KEY: ClassVar[str] = "name"
    name: str
    entry: int


FIELD_VALUES = (LogMarkState, DivisionState, PesticideState, RegistrationState, IdentityState, FarmRecordState, CertificateState,
                ReceiptState, BatchTestState, BatchCodeState, AuthorisationState, CertificationState, LateApprovalState)
Value = Any  # ProductState | PartyState | ... | RecallTaskState | the FIELD_VALUES
_COLUMNS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.name != "area")
    for cls in (ProductState, PartyState, PlotState, BatchState, PackageState, LinkState, RecallTaskState,
                *FIELD_VALUES)
}
_COLUMNS[UserState] = ("pseudonym", "party_id", "is_admin", "created_entry")


def _key(value: Any) -> Any:
    if isinstance(value, UserState):
        return value.pseudonym
    if isinstance(value, LinkState):
        return (value.parent_id, value.child_id)
    if isinstance(value, RecallTaskState):
        return (value.recall_entry, value.batch_id)
    key = getattr(type(value), "KEY", None)
    return getattr(value, key) if key else value.id


def _row(value: Any) -> tuple[Any, ...]:
    return tuple(getattr(value, c) for c in _COLUMNS[type(value)])


@dataclass(frozen=True)
class HistoryItem:
    """One entry of a batch's history, as the rules need it."""

    kind: str
    party_id: int | None


# -- the interface ---------------------------------------------------------------------------


class State:
    """What the rules may ask of the state and how they change it."""

    def product(self, product_id: str) -> ProductState | None: raise NotImplementedError
    def product_with_prefix(self, prefix: str) -> str | None: raise NotImplementedError
    def product_with_gtin(self, gtin: str) -> str | None: raise NotImplementedError
    def party(self, party_id: int) -> PartyState | None: raise NotImplementedError
    def party_with_uscc(self, uscc: str) -> int | None: raise NotImplementedError
    def plot(self, plot_id: int) -> PlotState | None: raise NotImplementedError
    def user(self, pseudonym: str) -> UserState | None: raise NotImplementedError
    def batch(self, batch_id: int) -> BatchState | None: raise NotImplementedError
    def package(self, package_id: int) -> PackageState | None: raise NotImplementedError
    def next_id(self, kind: type) -> int: raise NotImplementedError
    def harvested_g(self, plot_id: int, product_id: str, season: int) -> int: raise NotImplementedError
    def children(self, batch_ids: Iterable[int]) -> list[int]: raise NotImplementedError
    def unsold_packages(self, batch_id: int, limit: int | None = None) -> list[int]: raise NotImplementedError
    def package_count(self, batch_id: int) -> int: raise NotImplementedError
    def history_item(self, batch_id: int, entry: int) -> HistoryItem | None: raise NotImplementedError
    def recall_task(self, recall_entry: int, batch_id: int) -> RecallTaskState | None: raise NotImplementedError

    # the field end (trace.domain.rules.farming, certificates, field_register, timing)
    def division(self, code: str) -> DivisionState | None: return self._value(DivisionState, code)
    def pesticide(self, reg_no: str) -> PesticideState | None: return self._value(PesticideState, reg_no)
    def registration(self, product_id: str) -> RegistrationState | None: return self._value(RegistrationState, product_id)
    def identity(self, party_id: int) -> IdentityState | None: return self._value(IdentityState, party_id)
    def certificate(self, cert_id: int) -> CertificateState | None: return self._value(CertificateState, cert_id)
    def batch_tests(self, batch_id: int) -> BatchTestState | None: return self._value(BatchTestState, batch_id)
    def batch_code(self, batch_id: int) -> BatchCodeState | None: return self._value(BatchCodeState, batch_id)
    def authorisation(self, entry: int) -> AuthorisationState | None: return self._value(AuthorisationState, entry)
    def certification(self, cert_id: int) -> CertificationState | None: return self._value(CertificationState, cert_id)
    def log_mark(self, name: str) -> LogMarkState | None: return self._value(LogMarkState, name)
    def _value(self, cls: type, key: Any) -> Any: raise NotImplementedError
    def sprays(self, plot_id: int) -> list[FarmRecordState]: raise NotImplementedError
    def harvest_times(self, plot_id: int, product_id: str) -> list[str]: raise NotImplementedError
    def batch_certificate(self, batch_id: int) -> CertificateState | None: raise NotImplementedError
    def late_approvals(self, party_id: int) -> list[LateApprovalState]: raise NotImplementedError
    def last_event_at(self, batch_id: int) -> str | None: raise NotImplementedError

    def add(self, value: Value) -> None: raise NotImplementedError
    def touch(self, batch_id: int, entry: int, kind: str, occurred_at: str, party_id: int | None) -> None: raise NotImplementedError
    def mark_corrected(self, batch_id: int, entry: int, by: int, occurred_at: str | None) -> None: raise NotImplementedError

    def descendants(self, batch_id: int) -> list[int]:
        """The batch and every batch made from it, recursively, in id order."""
        seen = {batch_id}
        frontier = [batch_id]
        while frontier:
            frontier = [c for c in self.children(frontier) if c not in seen]
            seen.update(frontier)
        return sorted(seen)


# -- the live path -----------------------------------------------------------------------------


_KINDS = {ProductState: "products", PartyState: "parties", PlotState: "plots", UserState: "users",
          BatchState: "batches", PackageState: "packages", LinkState: "batch_links", RecallTaskState: "recall_tasks"}
_ID_COLUMNS = {Product: None, Party: Party.__table__.c.id, Plot: Plot.__table__.c.id,  # type: ignore[attr-defined]
               Batch: Batch.__table__.c.id, Package: Package.__table__.c.id,  # type: ignore[attr-defined]
               ft.Certificate: ft.Certificate.__table__.c.id, ft.Certification: ft.Certification.__table__.c.id}  # type: ignore[attr-defined]
_INSERT_ORDER = (ProductState, PartyState, PlotState, UserState, BatchState, PackageState, LinkState, RecallTaskState,
                 *FIELD_VALUES)


class DbState(State):
    """State rows of the live database, loaded on demand inside the caller's write transaction.

    Loaded values are remembered with a copy of their columns; `flush` writes back the columns
    that changed and inserts what was added, in plain SQL (the ORM would cost more than the rest
    of the write). The caller holds the log's write lock, so nothing changes under us."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._loaded: dict[tuple[type, Any], tuple[Any, tuple[Any, ...]]] = {}
        self._added: list[Any] = []
        self._touched: list[dict[str, Any]] = []
        self._handed: dict[tuple[type, Any], None] = {}  # values handed to the rules since the last flush
        self._next: dict[type, int] = {}

    def _get(self, cls: type, key: Any) -> Any:
        hit = self._loaded.get((cls, key))
        if hit is not None:
            self._handed[(cls, key)] = None
            return hit[0]
        params = {"key": key[0], "key2": key[1]} if cls is RecallTaskState else {"key": key}
        row = self._raw(_SELECT[cls], params).fetchone()
        if row is None:
            return None
        value = cls(*row)
        for name in _BOOLS.get(cls, ()):  # the driver hands SQLite's booleans back as 0 and 1
            setattr(value, name, bool(getattr(value, name)))
        if cls is ProductState:
            value.area = [tuple(r) for r in self.conn.execute(_AREAS, {"key": key})]
        self._loaded[(cls, key)] = (value, _snapshot(value))
        self._handed[(cls, key)] = None
        return value

    def product(self, product_id: str) -> ProductState | None:
        return self._get(ProductState, product_id)

    def product_with_prefix(self, prefix: str) -> str | None:
        t = Product.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.id).where(t.c.lot_prefix == prefix)).scalar_one_or_none()

    def party(self, party_id: int) -> PartyState | None:
        return self._get(PartyState, party_id)

    def party_with_uscc(self, uscc: str) -> int | None:
        t = Party.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.id).where(t.c.uscc == uscc)).scalar_one_or_none()

    def plot(self, plot_id: int) -> PlotState | None:
        return self._get(PlotState, plot_id)

    def user(self, pseudonym: str) -> UserState | None:
        return self._get(UserState, pseudonym)

    def batch(self, batch_id: int) -> BatchState | None:
        return self._get(BatchState, batch_id)

    def package(self, package_id: int) -> PackageState | None:
        return self._get(PackageState, package_id)

    def recall_task(self, recall_entry: int, batch_id: int) -> RecallTaskState | None:
        return self._get(RecallTaskState, (recall_entry, batch_id))

    def next_id(self, kind: type) -> int:
        """Max + 1: safe under the write lock, and the same in a replay (no sequences, no gaps)."""
        cls = _STATE_OF[kind]
        if cls not in self._next:
            self._next[cls] = (self.conn.execute(_MAX[kind]).scalar() or 0) + 1
        return self._next[cls]

    def product_with_gtin(self, gtin: str) -> str | None:
        t = Product.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.id).where(t.c.gtin == gtin)).scalar_one_or_none()

    def username_taken(self, username: str) -> bool:
        """Whether a login has this username (operational data: only the live path asks)."""
        t = User.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.id).where(func.lower(t.c.username) == username)).first() is not None

    def pseudonym_of(self, username: str) -> str | None:
        """The log's name of a login, by its username (operational data: only the live path asks)."""
        t = User.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.pseudonym).where(func.lower(t.c.username) == username,
                                                             t.c.created_entry.is_not(None))).scalar_one_or_none()

    def person_taken(self, id_number: str) -> bool:
        """Whether a natural person with this identity number is registered (private data: only
        the live path asks, like username_taken)."""
        t = ft.PartyPerson.__table__  # type: ignore[attr-defined]
        return self.conn.execute(select(t.c.party_id).where(t.c.id_number == id_number)).first() is not None

    def harvested_g(self, plot_id: int, product_id: str, season: int) -> int:
        t = Batch.__table__  # type: ignore[attr-defined]
        return int(self.conn.execute(select(func.coalesce(func.sum(t.c.harvest_g), 0)).where(
            t.c.origin_plot_id == plot_id, t.c.product_id == product_id, t.c.season == season,
            t.c.harvest_g.is_not(None))).scalar() or 0)

    def children(self, batch_ids: Iterable[int]) -> list[int]:
        t = BatchLink.__table__  # type: ignore[attr-defined]
        ids = list(batch_ids)
        return list(self.conn.execute(select(t.c.child_id).where(t.c.parent_id.in_(ids))).scalars()) if ids else []

    def unsold_packages(self, batch_id: int, limit: int | None = None) -> list[int]:
        t = Package.__table__  # type: ignore[attr-defined]
        q = select(t.c.id).where(t.c.batch_id == batch_id, t.c.status == "packed").order_by(t.c.id)
        return list(self.conn.execute(q.limit(limit) if limit is not None else q).scalars())

    def package_count(self, batch_id: int) -> int:
        t = Package.__table__  # type: ignore[attr-defined]
        return int(self.conn.execute(select(func.count()).select_from(t).where(t.c.batch_id == batch_id)).scalar() or 0)

    def history_item(self, batch_id: int, entry: int) -> HistoryItem | None:
        t = BatchEvent.__table__  # type: ignore[attr-defined]
        row = self.conn.execute(select(t.c.kind, t.c.party_id).where(t.c.batch_id == batch_id, t.c.entry == entry)).one_or_none()
        return HistoryItem(row[0], row[1]) if row else None

    def _value(self, cls: type, key: Any) -> Any:
        return self._get(cls, key)

    def sprays(self, plot_id: int) -> list[FarmRecordState]:
        t = ft.FarmRecord.__table__  # type: ignore[attr-defined]
        rows = self.conn.execute(select(*[t.c[c] for c in _COLUMNS[FarmRecordState]]).where(
            t.c.plot_id == plot_id, t.c.kind == "spray").order_by(t.c.entry))
        return [FarmRecordState(*r) for r in rows]

    def harvest_times(self, plot_id: int, product_id: str) -> list[str]:
        t = Batch.__table__  # type: ignore[attr-defined]
        return list(self.conn.execute(select(t.c.harvested_at).where(
            t.c.origin_plot_id == plot_id, t.c.product_id == product_id, t.c.harvest_g.is_not(None))).scalars())

    def batch_certificate(self, batch_id: int) -> CertificateState | None:
        t = ft.Certificate.__table__  # type: ignore[attr-defined]
        cid = self.conn.execute(select(func.max(t.c.id)).where(t.c.batch_id == batch_id)).scalar()
        return self._get(CertificateState, cid) if cid is not None else None

    def late_approvals(self, party_id: int) -> list[LateApprovalState]:
        t = ft.LateApproval.__table__  # type: ignore[attr-defined]
        rows = self.conn.execute(select(*[t.c[c] for c in _COLUMNS[LateApprovalState]]).where(t.c.party_id == party_id))
        return [LateApprovalState(*r) for r in rows]

    def last_event_at(self, batch_id: int) -> str | None:
        self._write_touched()
        # Straight to the driver: every command on a batch asks, and the statement is fixed.
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        return self.conn.exec_driver_sql(f"SELECT max(occurred_at) FROM batch_events WHERE batch_id = {mark}",
                                         (batch_id,)).scalar()

    def add(self, value: Value) -> None:
        self._added.append(value)
        cls = type(value)
        self._loaded[(cls, _key(value))] = (value, ())
        if cls in self._next:
            self._next[cls] = max(self._next[cls], value.id + 1)  # type: ignore[union-attr]

    def touch(self, batch_id: int, entry: int, kind: str, occurred_at: str, party_id: int | None) -> None:
        self._touched.append({"batch_id": batch_id, "entry": entry, "kind": kind, "occurred_at": occurred_at,
                              "party_id": party_id, "corrected_by": None})

    def mark_corrected(self, batch_id: int, entry: int, by: int, occurred_at: str | None) -> None:
        self._write_touched()  # the target row may be one this transaction has not written yet
        t = BatchEvent.__table__  # type: ignore[attr-defined]
        values: dict[str, Any] = {"corrected_by": by}
        if occurred_at is not None:
            values["occurred_at"] = occurred_at
        self.conn.execute(update(t).where(t.c.batch_id == batch_id, t.c.entry == entry).values(**values))

    def flush(self) -> None:
        """Write what the applied events added, and what they changed of the values handed to
        them since the last flush (a rule changes only what it was handed)."""
        for cls in _INSERT_ORDER:
            rows = [v for v in self._added if type(v) is cls]
            if rows:
                self._insert(cls, rows)
        for v in self._added:
            key = (type(v), _key(v))
            self._loaded[key] = (v, _snapshot(v))
            self._handed.pop(key, None)
        self._added = []
        for cls, key in self._handed:
            value, before = self._loaded[(cls, key)]
            now = _snapshot(value)
            if now != before:
                self._update(cls, key, value, before)
                self._loaded[(cls, key)] = (value, now)
        self._handed = {}
        self._write_touched()

    def _write_touched(self) -> None:
        if self._touched:
            self._raw(_INSERT_EVENT, self._touched)
            self._touched = []

    def _raw(self, stmt: Any, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Run a prebuilt statement straight on the driver: the hot path's statements are few and
        fixed, and SQLAlchemy's per-execution bookkeeping costs more than running them."""
        dialect = self.conn.dialect
        compiled = _COMPILED.get((dialect.name, stmt))
        if compiled is None:
            c = stmt.compile(dialect=dialect)
            compiled = _COMPILED[(dialect.name, stmt)] = (str(c), c.positiontup if c.positional else None)
        sql, order = compiled
        if isinstance(params, list):
            rows = [tuple(p[k] for k in order) for p in params] if order is not None else params
            return self.conn.exec_driver_sql(sql, rows)
        return self.conn.exec_driver_sql(sql, tuple(params[k] for k in order) if order is not None else params)

    def _insert(self, cls: type, values: list[Any]) -> None:
        table = cls.TABLE  # type: ignore[attr-defined]
        rows = [dict(zip(_COLUMNS[cls], _row(v), strict=True)) for v in values]
        if cls is UserState:
            # A login made before logins were logged has its row already; otherwise the log knows
            # only its pseudonym, and the command sets its username and password next.
            fresh = []
            for r in rows:
                done = self.conn.execute(update(table).where(table.c.pseudonym == r["pseudonym"], table.c.created_entry.is_(None))
                                         .values(party_id=r["party_id"], is_admin=r["is_admin"], created_entry=r["created_entry"]))
                if not done.rowcount:
                    fresh.append({**r, "username": r["pseudonym"], "password_hash": "!", "session_version": 0})
            rows = fresh
        if rows:
            self.conn.execute(insert(table), rows)
        if cls is ProductState:
            self._write_area(values)

    def _write_area(self, products: list[ProductState]) -> None:
        areas = ProductArea.__table__  # type: ignore[attr-defined]
        for p in products:
            self.conn.execute(delete(areas).where(areas.c.product_id == p.id))
            if p.area:
                self.conn.execute(insert(areas), [{"product_id": p.id, "township": t, "village": v, "code": c}
                                                  for t, v, c in p.area])

    def _update(self, cls: type, key: Any, value: Any, before: tuple[Any, ...]) -> None:
        cols = _COLUMNS[cls]
        now = _row(value)
        changed = tuple(c for c, n, b in zip(cols, now, before, strict=False) if n != b)
        if changed:
            stmt = _UPDATES.get((cls, changed))
            if stmt is None:  # one statement per set of changed columns, built once
                table = cls.TABLE  # type: ignore[attr-defined]
                if cls is RecallTaskState:
                    where = (table.c.recall_entry == bindparam("_key")) & (table.c.batch_id == bindparam("_key2"))
                else:
                    where = (table.c.pseudonym if cls is UserState else next(iter(table.primary_key.columns))) == bindparam("_key")
                stmt = _UPDATES[(cls, changed)] = update(table).where(where).values({c: bindparam(c) for c in changed})
            keys = {"_key": key[0], "_key2": key[1]} if cls is RecallTaskState else {"_key": key}
            self._raw(stmt, {**keys, **{c: getattr(value, c) for c in changed}})
        if cls is ProductState and tuple(value.area) != before[-1]:
            self._write_area([value])


# -- the audit path --------------------------------------------------------------------------------


class MemoryState(State):
    """The whole projection in memory, rebuilt by replaying the log.

    A batch's history (the batch_events table, a row per batch and entry) is kept compactly: per
    batch an array of its entries, per entry its kind, party and time, and the corrections apart,
    because on a long log it is by far the largest table."""

    KINDS = ("product.define", "party.register", "party.credit", "plot.register", "user.create", "harvest",
             "inspect", "grade", "split", "merge", "process", "pack", "store", "ship", "receive", "sell",
             "recall", "correct", "recall.action")

    def __init__(self) -> None:
        self.highest_version = 1  # the newest encoding replayed so far: no entry after goes back to an older one
        self.values: dict[type, dict[Any, Any]] = defaultdict(dict)
        self._uscc: dict[str, int] = {}
        self._harvested: dict[tuple[int, str, int], int] = defaultdict(int)
        self._children: dict[int, list[int]] = defaultdict(list)
        self._packages: dict[int, list[int]] = defaultdict(list)
        self._max: dict[type, int] = defaultdict(int)
        self.history: dict[int, array] = {}
        self._kind_code = {k: i for i, k in enumerate(self.KINDS)}
        # Per entry that touched a batch: its kind, party (-1: none) and time (ms since the epoch).
        self.entry_kind = array("B")
        self.entry_party = array("l")
        self.entry_time = array("q")
        self.corrections: dict[tuple[int, int], tuple[int, str | None]] = {}
        self._sprays: dict[int, list[FarmRecordState]] = defaultdict(list)
        self._harvest_times: dict[tuple[int, str], list[str]] = defaultdict(list)
        self._batch_certificate: dict[int, int] = {}
        self._approvals: dict[int, list[LateApprovalState]] = defaultdict(list)

    def product(self, product_id: str) -> ProductState | None:
        return self.values[ProductState].get(product_id)

    def product_with_prefix(self, prefix: str) -> str | None:
        return next((p.id for p in self.values[ProductState].values() if p.lot_prefix == prefix), None)

    def product_with_gtin(self, gtin: str) -> str | None:
        return next((p.id for p in self.values[ProductState].values() if p.gtin == gtin), None)

    def party(self, party_id: int) -> PartyState | None:
        return self.values[PartyState].get(party_id)

    def party_with_uscc(self, uscc: str) -> int | None:
        return self._uscc.get(uscc)

    def plot(self, plot_id: int) -> PlotState | None:
        return self.values[PlotState].get(plot_id)

    def user(self, pseudonym: str) -> UserState | None:
        return self.values[UserState].get(pseudonym)

    def batch(self, batch_id: int) -> BatchState | None:
        return self.values[BatchState].get(batch_id)

    def package(self, package_id: int) -> PackageState | None:
        return self.values[PackageState].get(package_id)

    def recall_task(self, recall_entry: int, batch_id: int) -> RecallTaskState | None:
        return self.values[RecallTaskState].get((recall_entry, batch_id))

    def next_id(self, kind: type) -> int:
        return self._max[_STATE_OF[kind]] + 1

    def harvested_g(self, plot_id: int, product_id: str, season: int) -> int:
        return self._harvested.get((plot_id, product_id, season), 0)

    def children(self, batch_ids: Iterable[int]) -> list[int]:
        return [c for b in batch_ids for c in self._children.get(b, ())]

    def unsold_packages(self, batch_id: int, limit: int | None = None) -> list[int]:
        packages = self.values[PackageState]
        out = [p for p in self._packages.get(batch_id, ()) if packages[p].status == "packed"]
        return out[:limit] if limit is not None else out

    def package_count(self, batch_id: int) -> int:
        return len(self._packages.get(batch_id, ()))

    def _value(self, cls: type, key: Any) -> Any:
        return self.values[cls].get(key)

    def sprays(self, plot_id: int) -> list[FarmRecordState]:
        return list(self._sprays.get(plot_id, ()))

    def harvest_times(self, plot_id: int, product_id: str) -> list[str]:
        return list(self._harvest_times.get((plot_id, product_id), ()))

    def batch_certificate(self, batch_id: int) -> CertificateState | None:
        cid = self._batch_certificate.get(batch_id)
        return self.values[CertificateState].get(cid) if cid is not None else None

    def late_approvals(self, party_id: int) -> list[LateApprovalState]:
        return list(self._approvals.get(party_id, ()))

    def last_event_at(self, batch_id: int) -> str | None:
        return max((row[3] for row in self.event_rows_of(batch_id)), default=None)

    def history_item(self, batch_id: int, entry: int) -> HistoryItem | None:
        entries = self.history.get(batch_id)
        if entries is None:
            return None
        i = bisect.bisect_left(entries, entry)
        if i == len(entries) or entries[i] != entry:
            return None
        party = self.entry_party[entry]
        return HistoryItem(self.KINDS[self.entry_kind[entry]], None if party < 0 else party)

    def add(self, value: Value) -> None:
        cls = type(value)
        self.values[cls][_key(value)] = value
        if cls is PartyState:
            self._uscc[value.uscc] = value.id  # type: ignore[union-attr]
        elif cls is BatchState:
            b: BatchState = value  # type: ignore[assignment]
            if b.harvest_g is not None and b.origin_plot_id is not None:
                self._harvested[(b.origin_plot_id, b.product_id, b.season)] += b.harvest_g
                self._harvest_times[(b.origin_plot_id, b.product_id)].append(b.harvested_at)
        elif cls is LinkState:
            self._children[value.parent_id].append(value.child_id)  # type: ignore[union-attr]
        elif cls is PackageState:
            self._packages[value.batch_id].append(value.id)  # type: ignore[union-attr]
        elif cls is FarmRecordState and value.kind == "spray":
            self._sprays[value.plot_id].append(value)
        elif cls is CertificateState:
            self._batch_certificate[value.batch_id] = max(value.id, self._batch_certificate.get(value.batch_id, 0))
        elif cls is LateApprovalState:
            self._approvals[value.party_id].append(value)
        if cls in _MAX_TRACKED:
            self._max[cls] = max(self._max[cls], value.id)  # type: ignore[union-attr]

    def touch(self, batch_id: int, entry: int, kind: str, occurred_at: str, party_id: int | None) -> None:
        missing = entry + 1 - len(self.entry_kind)
        if missing > 0:  # entries that touched no batch leave a blank
            self.entry_kind.extend([0] * missing)
            self.entry_party.extend([-1] * missing)
            self.entry_time.extend([0] * missing)
        self.entry_kind[entry] = self._kind_code[kind]
        self.entry_party[entry] = -1 if party_id is None else party_id
        self.entry_time[entry] = _ms(occurred_at)
        entries = self.history.get(batch_id)
        if entries is None:
            entries = self.history[batch_id] = array("q")
        entries.append(entry)

    def mark_corrected(self, batch_id: int, entry: int, by: int, occurred_at: str | None) -> None:
        old = self.corrections.get((batch_id, entry))
        time = occurred_at if occurred_at is not None else (old[1] if old else None)
        self.corrections[(batch_id, entry)] = (by, time)

    # -- rows as the state tables hold them, in primary-key order, for the comparison ------------

    def rows(self, cls: type) -> Iterator[tuple[Any, ...]]:
        """The rows of one table in primary-key order."""
        values = self.values.get(cls, {})
        for key in sorted(values):
            yield _row(values[key])

    def area_rows(self) -> Iterator[tuple[str, str, str, str | None]]:
        """product_areas rows in primary-key order."""
        for pid in sorted(self.values.get(ProductState, {})):
            for t, v, c in sorted(set(self.values[ProductState][pid].area), key=lambda p: (p[0], p[1])):
                yield (pid, t, v, c)

    def event_rows(self) -> Iterator[tuple[Any, ...]]:
        """batch_events rows (batch_id, entry, kind, occurred_at, party_id, corrected_by) in
        primary-key order."""
        for batch_id in sorted(self.history):
            yield from self.event_rows_of(batch_id)

    def event_rows_of(self, batch_id: int) -> Iterator[tuple[Any, ...]]:
        """One batch's batch_events rows, in entry order."""
        kinds, parties, times, corrections = self.KINDS, self.entry_party, self.entry_time, self.corrections
        for entry in self.history.get(batch_id, ()):
            fix = corrections.get((batch_id, entry))
            at = fix[1] if fix and fix[1] is not None else _log_time(times[entry])
            party = parties[entry]
            yield (batch_id, entry, kinds[self.entry_kind[entry]], at, None if party < 0 else party,
                   fix[0] if fix else None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _ms(log_time: str) -> int:
    """A log time as whole milliseconds since the epoch (exact: log times have milliseconds)."""
    return (parse_log_time(log_time) - _EPOCH) // _MS


def _log_time(ms: int) -> str:
    return rfc3339(_EPOCH + ms * _MS)


def _snapshot(value: Any) -> tuple[Any, ...]:
    """What a loaded value held, to see what an event changed."""
    row = _row(value)
    return row + (tuple(value.area),) if isinstance(value, ProductState) else row


def _select(cls: type) -> Any:
    table = cls.TABLE  # type: ignore[attr-defined]
    stmt = select(*[table.c[c] for c in _COLUMNS[cls]])
    if cls is UserState:  # a login the log does not know yet (made before logins were logged) is none
        return stmt.where(table.c.pseudonym == bindparam("key"), table.c.created_entry.is_not(None))
    if cls is RecallTaskState:
        return stmt.where(table.c.recall_entry == bindparam("key"), table.c.batch_id == bindparam("key2"))
    return stmt.where(next(iter(table.primary_key.columns)) == bindparam("key"))


# Statements of the live path, built once: a command only binds parameters.
_SELECT = {cls: _select(cls) for cls in (ProductState, PartyState, PlotState, UserState, BatchState, PackageState,
                                         RecallTaskState, *FIELD_VALUES)}
_AREAS = (select(ProductArea.__table__.c.township, ProductArea.__table__.c.village,  # type: ignore[attr-defined]
                 ProductArea.__table__.c.code)  # type: ignore[attr-defined]
          .where(ProductArea.__table__.c.product_id == bindparam("key"))  # type: ignore[attr-defined]
          .order_by(ProductArea.__table__.c.township, ProductArea.__table__.c.village))  # type: ignore[attr-defined]
_INSERT_EVENT = insert(BatchEvent.__table__).values(  # type: ignore[attr-defined]
    {c: bindparam(c) for c in ("batch_id", "entry", "kind", "occurred_at", "party_id", "corrected_by")})
_MAX = {kind: select(func.max(col)) for kind, col in _ID_COLUMNS.items() if col is not None}
_UPDATES: dict[tuple[type, tuple[str, ...]], Any] = {}
_COMPILED: dict[tuple[str, Any], tuple[str, Any]] = {}
_BOOLS = {PartyState: ("gi_logo",), UserState: ("is_admin",), BatchState: ("recalled",), PesticideState: ("banned",),
          BatchTestState: ("official", "own")}

_STATE_OF = {Party: PartyState, Plot: PlotState, Batch: BatchState, Package: PackageState,
             ft.Certificate: CertificateState, ft.Certification: CertificationState}
_MAX_TRACKED = (PartyState, PlotState, BatchState, PackageState, CertificateState, CertificationState)
