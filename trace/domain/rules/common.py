"""Guards that several rules share: who acts, finding things, custody, holds, the credit list,
times, and the ids and lot codes an event gives what it creates."""
from __future__ import annotations

from datetime import datetime, timedelta

from trace.clock import china_date, rfc3339
from trace.domain import limits
from trace.domain.errors import Code, Forbidden, NotFound, RuleViolation
from trace.domain.identifiers import lot_code
from trace.domain.messages import N_, Names, Term
from trace.domain.rules.context import Context
from trace.domain.state import BatchState, PartyState, PlotState, ProductState, State

CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run a little ahead
GROWER, PROCESSOR, COLD_STORE, CARRIER, RETAILER, REGULATOR, BUYER = (
    "grower", "processor", "cold_store", "carrier", "retailer", "regulator", "buyer")
HANDLERS = (PROCESSOR, COLD_STORE, CARRIER, RETAILER, BUYER)
KIND_NAMES = {GROWER: N_("grower"), PROCESSOR: N_("processor"), COLD_STORE: N_("cold store"),
              CARRIER: N_("carrier"), RETAILER: N_("retailer"), REGULATOR: N_("regulator"), BUYER: N_("produce buyer")}
STATUS_NAMES = {"consumed": N_("used up"), "sold": N_("sold out"), "active": N_("active")}

NO_PARTY = Code("actor.no_party", Forbidden, N_("This action must be taken on behalf of a party."))
UNKNOWN_USER = Code("actor.unknown_user", Forbidden,
                    N_("The login %(user)s that recorded this is not in the log, or acts for another party."))
PARTY_NOT_FOUND = Code("party.not_found", NotFound, N_("Party %(id)s does not exist."))
PLOT_NOT_FOUND = Code("plot.not_found", NotFound, N_("Plot %(id)s does not exist."))
PRODUCT_NOT_FOUND = Code("product.not_found", NotFound, N_("Product %(id)s does not exist."))
BATCH_NOT_FOUND = Code("batch.not_found", NotFound, N_("Batch %(id)s does not exist."))
REGULATOR_ONLY = Code("role.regulator_only", Forbidden, N_("Only the market supervision bureau may do this."))
REGULATOR_OR_ADMIN = Code("role.regulator_or_admin", Forbidden,
                          N_("Only the market supervision bureau or an administrator may do this."))
NOT_HOLDER = Code("custody.not_holder", Forbidden, N_("Batch %(lot)s is not in your custody."))
IN_TRANSIT = Code("custody.in_transit", RuleViolation, N_("Batch %(lot)s has been shipped and awaits receipt."))
RECALLED = Code("custody.recalled", RuleViolation, N_("Batch %(lot)s has been recalled: nothing more can be done with it."))
INACTIVE = Code("custody.inactive", RuleViolation, N_("Batch %(lot)s is %(status)s."))
FAILED_HOLD = Code("inspection.failed_hold", RuleViolation,
                   N_("Batch %(lot)s failed inspection; it cannot be packed, shipped or sold until it passes a new one."))
BLACK_LISTED = Code("credit.black_listed", RuleViolation,
                    N_("Your party is on the quality-credit black list and cannot %(action)s."))
TIME_FUTURE = Code("time.future", RuleViolation, N_("The event time cannot be in the future."))
TIME_BEFORE_HARVEST = Code("time.before_harvest", RuleViolation,
                           N_("The event time cannot be before the batch's harvest (%(harvested)s)."))
TIME_YEAR = Code("time.year", RuleViolation, N_("The event time is implausible: its year must be 2000 or later."))
ID_SEQUENCE = Code("log.id_sequence", RuleViolation,
                   N_("The new %(what)s has id %(got)s, but the next free id is %(expected)s."))
LOT_CODE = Code("log.lot_code", RuleViolation, N_("The new batch's lot code is %(got)s; it should be %(expected)s."))


def acting_party(state: State, ctx: Context) -> PartyState:
    """The party on whose behalf the entry is made."""
    if ctx.party_id is None:
        raise NO_PARTY()
    party = state.party(ctx.party_id)
    if party is None:
        raise PARTY_NOT_FOUND(None, id=ctx.party_id)
    return party


def require_party(state: State, party_id: int, field: str = "party") -> PartyState:
    """A party that exists."""
    party = state.party(party_id)
    if party is None:
        raise PARTY_NOT_FOUND(field, id=party_id)
    return party


def require_plot(state: State, plot_id: int, field: str = "plot") -> PlotState:
    """A plot that exists."""
    plot = state.plot(plot_id)
    if plot is None:
        raise PLOT_NOT_FOUND(field, id=plot_id)
    return plot


def require_product(state: State, product_id: str, field: str = "product") -> ProductState:
    """A product that exists."""
    product = state.product(product_id)
    if product is None:
        raise PRODUCT_NOT_FOUND(field, id=product_id)
    return product


def require_batch(state: State, batch_id: int, field: str = "batch") -> BatchState:
    """A batch that exists."""
    batch = state.batch(batch_id)
    if batch is None:
        raise BATCH_NOT_FOUND(field, id=batch_id)
    return batch


def is_regulator(state: State, ctx: Context) -> bool:
    """Whether the actor acts for the market supervision bureau."""
    party = state.party(ctx.party_id) if ctx.party_id is not None else None
    return party is not None and party.kind == REGULATOR


def regulator(state: State, ctx: Context) -> None:
    """Only the bureau: the credit list is its alone, not the operator's."""
    if not is_regulator(state, ctx):
        raise REGULATOR_ONLY()


def regulator_or_admin(state: State, ctx: Context) -> None:
    """The bureau, an administrator, or the operator's console."""
    if not ctx.is_admin and not is_regulator(state, ctx):
        raise REGULATOR_OR_ADMIN()


def holder(state: State, ctx: Context, batch: BatchState, field: str = "batch") -> PartyState:
    """The acting party, if it holds the batch and may append to it now."""
    party = acting_party(state, ctx)
    if batch.custodian_id != party.id:
        raise NOT_HOLDER(field, lot=batch.lot_code)
    if batch.transit_to_id is not None:
        raise IN_TRANSIT(field, lot=batch.lot_code)
    if batch.recalled:
        raise RECALLED(field, lot=batch.lot_code)
    if batch.status != "active":
        raise INACTIVE(field, lot=batch.lot_code, status=Term(STATUS_NAMES.get(batch.status, batch.status)))
    return party


def not_held_by_failure(batch: BatchState, field: str = "batch") -> None:
    """A failed inspection holds packing, shipping and selling until a passing one."""
    if batch.inspection == "failed":
        raise FAILED_HOLD(field, lot=batch.lot_code)


def not_black_listed(party: PartyState, action: str, ctx: Context | None = None) -> None:
    """A party on the black list may not do `action` (a msgid such as N_("pack")), on the days
    its listing holds (from version 3 a listing has a first and possibly a last day)."""
    day = china_date(ctx.recorded_at).isoformat() if ctx is not None and ctx.version >= 3 else None
    if party.credit_on(day) == "black":
        raise BLACK_LISTED(None, action=Term(action))


def event_time(occurred_at: str, ctx: Context, batch: BatchState | None = None, field: str = "occurred_at") -> None:
    """An event's time: not before 2000, not in the future (beyond a phone's clock skew), and
    not before the harvest of the batch it is about."""
    at = datetime.fromisoformat(occurred_at[:-1] + "+00:00")
    if at.year < limits.YEARS[0]:
        raise TIME_YEAR(field)
    if at > ctx.now + CLOCK_SKEW:
        raise TIME_FUTURE(field)
    if batch is not None and occurred_at < batch.harvested_at:
        raise TIME_BEFORE_HARVEST(field, harvested=batch.harvested_at)


def when(value: datetime | None, ctx: Context) -> str:
    """The log time of an input's time; none given means now."""
    return rfc3339(value) if value is not None else ctx.recorded_at


def next_id(state: State, kind: type, got: int, what: str) -> None:
    """New ids are handed out in order (max + 1), so that a replay gives the same ones."""
    expected = state.next_id(kind)
    if got != expected:
        raise ID_SEQUENCE(None, what=Term(what), got=got, expected=expected)


def expected_lot(product: ProductState, season: int, batch_id: int, got: str) -> None:
    """A new batch's lot code is its product's prefix, its season and its id."""
    expected = lot_code(product.lot_prefix, season, batch_id)
    if got != expected:
        raise LOT_CODE(None, got=got, expected=expected)


def product_names(product: ProductState) -> Names:
    """A product's name as a message parameter."""
    return Names(product.name_zh, product.name_en)
