"""The audit path: replay the log through the rule book, then compare the result with the tables.

`replay` decodes every entry into its typed event, resolves who acted, and runs the same CHECK and
APPLY as the live path (trace.domain.rules) against the state replayed so far, in memory. The
first entry that breaks a rule stops it, with the rule's code; an entry that cannot be decoded, or
whose check or apply fails in any other way, stops it too, naming the entry (never a traceback).
`compare` then checks the state tables row by row against the replayed state, and the private
rows (serials, coordinates, plates) against what the log committed to."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from trace.clock import parse_log_time
from trace.domain import events, rules
from trace.domain.errors import DomainError
from trace.domain.events import Correct, Entry, MalformedEntry, Ship
from trace.domain.identifiers import commitment, location_value, person_value, serial_hash
from trace.domain.rules.common import UNKNOWN_USER
from trace.domain.rules.context import Context
from trace.domain.rules.timing import VERSION_ORDER
from trace.domain.state import (
    _COLUMNS,
    FIELD_VALUES,
    BatchState,
    IdentityState,
    LinkState,
    MemoryState,
    PackageState,
    PartyState,
    PlotState,
    ProductState,
    RecallTaskState,
    UserState,
)
from trace.domain.tables.batches import BatchEvent, Package, PackageSecret, ShipmentVehicle
from trace.domain.tables.catalogue import ProductArea
from trace.domain.tables.field import FarmOperator, FarmRecord, PartyIdentity, PartyPerson
from trace.domain.tables.parties import Plot, PlotLocation, User
from trace.ledger.models import LogEntry


class ReplayError(Exception):
    """The log breaks a rule, or holds an entry the domain cannot have written."""

    def __init__(self, index: int, code: str, message: str) -> None:
        super().__init__(f"entry {index}: {code}: {message}")
        self.index, self.code, self.detail = index, code, message


def context_of(state: MemoryState, entry: Entry) -> Context:
    """Who acted in an entry, as the rules need it. A version 2 entry names its login by a
    pseudonym that a `user.create` entry made, for the party the entry names; an entry without a
    login or party is the operator's console (administrator's rights), as is, in version 1, a
    login acting for no party (only administrators could)."""
    user = entry.user
    if isinstance(user, str):
        login = state.user(user)
        if login is None or login.party_id != entry.party:
            raise UNKNOWN_USER(None, user=user)
        is_admin = login.is_admin
    else:
        is_admin = entry.party is None
    return Context(entry.party, user, is_admin, parse_log_time(entry.recorded_at), entry.recorded_at, entry.index, entry.v,
                   entry.demo)


def replay(entries: Iterable[tuple[int, bytes]], *, watch: tuple[type, Any] | None = None,
           state: MemoryState | None = None, progress: Callable[[int], None] | None = None) -> MemoryState:
    """The state the log's entries build, checking every rule on every entry. With `watch` set to
    (state class, key), `state.watched_entry` is the last entry that changed that value;
    `progress` hears how many entries are done, every 10,000."""
    state = state or MemoryState()
    state.watched_entry = None  # type: ignore[attr-defined]
    with closing(entries) if hasattr(entries, "close") else nullcontext():  # type: ignore[arg-type]
        _replay(state, entries, watch, progress)
    return state


def _replay(state: MemoryState, entries: Iterable[tuple[int, bytes]], watch: tuple[type, Any] | None,
            progress: Callable[[int], None] | None) -> None:
    # A stream of entries is closed when replay stops early, so that its cursor closes with it.
    for index, body in entries:
        if progress is not None and index % 10_000 == 0:
            progress(index)
        try:
            entry = events.decode(body)
        except MalformedEntry as exc:
            raise ReplayError(index, "log.malformed", str(exc)) from None
        if entry.index != index:
            raise ReplayError(index, "log.malformed", f"the entry says it is entry {entry.index}")
        before = _watched(state, watch)
        try:
            if entry.v < state.highest_version:  # an insider's entry in an old encoding, to dodge newer rules
                raise VERSION_ORDER(None, got=entry.v, highest=state.highest_version)
            state.highest_version = entry.v
            ctx = context_of(state, entry)
            rules.check(state, entry.event, ctx)
            rules.apply(state, entry.event, ctx)
        except DomainError as exc:
            raise ReplayError(index, exc.code, exc.en) from None
        except Exception as exc:  # noqa: BLE001 - whatever breaks, name the entry
            raise ReplayError(index, "replay.error", f"{type(exc).__name__}: {exc}") from None
        if watch is not None and _watched(state, watch) != before:
            state.watched_entry = index  # type: ignore[attr-defined]


def _watched(state: MemoryState, watch: tuple[type, Any] | None) -> Any:
    if watch is None:
        return None
    cls, key = watch
    if cls is BatchEvent:
        return next((r for r in state.event_rows_of(key[0]) if r[1] == key[1]), None)
    value = state.values.get(cls, {}).get(key)
    return None if value is None else _row_of(value)


def _row_of(value: Any) -> tuple[Any, ...]:
    row = tuple(getattr(value, c) for c in _COLUMNS[type(value)])
    return row + (tuple(value.area),) if isinstance(value, ProductState) else row


# -- comparison -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """The first place where the state tables and the log disagree."""

    table: str
    watch: tuple[type, Any] | None  # the replayed value to blame an entry for, if any
    message: str
    entry: int | None = None  # the entry to blame, when known without replaying again


_TABLES: list[tuple[type, str]] = [
    (ProductState, "products"), (PartyState, "parties"), (PlotState, "plots"), (UserState, "users"),
    (BatchState, "batches"), (LinkState, "batch_links"), (PackageState, "packages"), (RecallTaskState, "recall_tasks"),
    *((cls, cls.TABLE.name) for cls in FIELD_VALUES),  # type: ignore[attr-defined]
]


def _stream(conn: Connection, stmt: Any) -> Iterator[tuple[Any, ...]]:
    result = conn.execute(stmt.execution_options(yield_per=5000))
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()


def _live(conn: Connection, cls: type) -> Iterator[tuple[Any, ...]]:
    table = cls.TABLE  # type: ignore[attr-defined]
    order = [table.c.pseudonym] if cls is UserState else list(table.primary_key.columns)
    return _stream(conn, select(*[table.c[c] for c in _COLUMNS[cls]]).order_by(*order))


def _first_difference(table: str, cols: tuple[str, ...], live: Iterator[tuple[Any, ...]],
                      rebuilt: Iterator[tuple[Any, ...]], nkey: int) -> tuple[tuple[Any, ...], str] | None:
    with closing(live):  # type: ignore[type-var]
        while True:
            a, b = next(live, None), next(rebuilt, None)
            if a is None and b is None:
                return None
            if a == b:
                continue
            if a is None:
                return b[:nkey], f"{table}: row {b} is in the log but missing from the state tables"  # type: ignore[index]
            if b is None:
                return a[:nkey], f"{table}: row {a} is in the state tables but not in the log"
            if a[:nkey] != b[:nkey]:
                key = min(a[:nkey], b[:nkey])
                where, other = ("the state tables", "the log") if a[:nkey] == key else ("the log", "the state tables")
                return key, f"{table}: the row with key {key} is in {where} but not in {other}"
            diffs = ", ".join(f"{c}={x!r} (log says {y!r})" for c, x, y in zip(cols, a, b, strict=True) if x != y)
            return a[:nkey], f"{table} row {a[:nkey]}: {diffs}"


def compare(conn: Connection, state: MemoryState) -> Difference | None:
    """The first difference between the live state tables and the replayed state, or None."""
    for cls, table in _TABLES:
        nkey = 2 if cls in (LinkState, RecallTaskState) else 1
        found = _first_difference(table, _COLUMNS[cls], _live(conn, cls), state.rows(cls), nkey)
        if found is not None:
            key, message = found
            return Difference(table, (cls, key[0] if nkey == 1 else key), message)
    areas = ProductArea.__table__  # type: ignore[attr-defined]
    found = _first_difference("product_areas", ("product_id", "township", "village", "code"),
                              _stream(conn, select(areas.c.product_id, areas.c.township, areas.c.village, areas.c.code)
                                      .order_by(*areas.primary_key.columns)), state.area_rows(), 3)
    if found is not None:
        return Difference("product_areas", (ProductState, found[0][0]), found[1])
    ev = BatchEvent.__table__  # type: ignore[attr-defined]
    cols = ("batch_id", "entry", "kind", "occurred_at", "party_id", "corrected_by")
    found = _first_difference("batch_events", cols, _stream(conn, select(*[ev.c[c] for c in cols]).order_by(ev.c.batch_id, ev.c.entry)),
                              state.event_rows(), 2)
    if found is not None:
        return Difference("batch_events", (BatchEvent, found[0]), found[1])
    return _private(conn, state)


def _private(conn: Connection, state: MemoryState) -> Difference | None:
    """What the log commits to without holding it: every printed serial, plot location and plate."""
    secrets = select(PackageSecret.package_id, PackageSecret.serial, Package.serial_hash, Package.pack_entry).join(
        Package, Package.id == PackageSecret.package_id)
    for pid, serial, digest, entry in _stream(conn, secrets):
        if serial_hash(serial) != digest:
            return Difference("packages", None, f"package {pid}: its serial does not hash to the serial hash in the log", entry)
    located = select(PlotLocation.plot_id, PlotLocation.lat_micro, PlotLocation.lon_micro, PlotLocation.salt, Plot.location
                     ).join(Plot, Plot.id == PlotLocation.plot_id)
    for pid, lat, lon, salt, committed in _stream(conn, located):
        if committed != commitment("plot-location", salt, location_value(lat, lon)):
            return Difference("plot_locations", (PlotState, pid), f"plot {pid}: its coordinates are not those the log committed to")
    unlocated = select(Plot.id).outerjoin(PlotLocation, PlotLocation.plot_id == Plot.id).where(
        Plot.location.is_not(None), PlotLocation.plot_id.is_(None))
    for (pid,) in _stream(conn, unlocated):
        return Difference("plot_locations", (PlotState, pid), f"plot {pid}: the coordinates the log committed to are missing")
    operators = select(FarmOperator.entry, FarmOperator.name, FarmOperator.salt, FarmRecord.operator).join(
        FarmRecord, FarmRecord.entry == FarmOperator.entry, isouter=True)
    for entry, name, salt, committed in _stream(conn, operators):
        if committed != commitment("operator", salt, name):
            return Difference("farm_operators_private", None, f"the operator kept for entry {entry} is not the one it committed to", entry)
    persons = select(PartyPerson.party_id, PartyPerson.name, PartyPerson.id_number, PartyPerson.salt, PartyIdentity.person).join(
        PartyIdentity, PartyIdentity.party_id == PartyPerson.party_id, isouter=True)
    for pid, name, number, salt, committed in _stream(conn, persons):
        if committed != commitment("person", salt, person_value(name, number)):
            return Difference("party_persons_private", (IdentityState, pid),
                              f"party {pid}: the person kept is not the one the log committed to")
    vehicles = select(ShipmentVehicle.entry, ShipmentVehicle.plate, ShipmentVehicle.salt, LogEntry.body).join(
        LogEntry, LogEntry.idx == ShipmentVehicle.entry, isouter=True)
    for entry, plate, salt, body in _stream(conn, vehicles):
        committed = _vehicle_commitment(bytes(body)) if body is not None else None
        if committed != commitment("vehicle", salt, plate):
            return Difference("shipment_vehicles", None, f"the plate kept for entry {entry} is not the one it committed to", entry)
    return None


def _vehicle_commitment(body: bytes) -> str | None:
    ev = events.decode(body).event
    if isinstance(ev, Ship):
        return ev.vehicle_commitment
    if isinstance(ev, Correct):
        value = ev.changes.get("vehicle_commitment")
        return str(value) if value else None
    return None


def users_without_entry(conn: Connection) -> list[str]:
    """Logins the log has no `user.create` for (made before logins were logged; `init` logs them)."""
    return list(conn.execute(select(User.username).where(User.created_entry.is_(None)).order_by(User.username)).scalars())
