"""Farming records on every plot (农产品质量安全法 Art. 27): inputs with their name, source,
dose and dates, pests and their control, and the work of the season, recorded by the grower as
log events, kept as long as the log.

Pest control names a pesticide of the bureau's list. The truth can always be recorded, but
never silently: a spray of a banned pesticide, of one not registered for the crop, or one made
within its pre-harvest interval before a harvest already registered, carries an alert to the
bureau, and a spray without the alerts the rules find is refused. A harvest within a spray's
pre-harvest interval (安全间隔期) is refused, naming the spray and the first allowed day (see
`interval_problem`, which the harvest rule calls)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from trace.clock import china_date
from trace.domain.errors import Code, Forbidden, NotFound, RuleViolation
from trace.domain.events import Entry, Event, FarmFertilise, FarmSpray, FarmWork
from trace.domain.identifiers import commitment, new_salt
from trace.domain.inputs import FertiliseInput, SprayInput, WorkInput
from trace.domain.messages import N_, Names
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import (
    GROWER,
    acting_party,
    event_time,
    not_black_listed,
    product_names,
    require_plot,
    require_product,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.state import FarmRecordState, PesticideState, PlotState, State
from trace.domain.tables.field import FarmOperator

NOT_OWN_PLOT = Code("farm.not_own_plot", Forbidden, N_("Only the grower of plot %(plot)s records its farming."))
PESTICIDE_UNKNOWN = Code("farm.pesticide_unknown", NotFound,
                         N_("Pesticide %(reg_no)s is not on the bureau's list: ask the bureau to add it, then record the spray."))
AREA_EXCEEDS = Code("farm.area_exceeds", RuleViolation, N_("The area (%(area)s mu) is larger than the plot (%(plot)s mu)."))
ALERTS = Code("log.spray_alerts", RuleViolation,
              N_("The spray is recorded with the alerts %(got)s, but the rules find %(expected)s."))
WITHIN_INTERVAL = Code("gi.pre_harvest_interval", RuleViolation,
                       N_("The plot was sprayed with %(pesticide)s (%(reg_no)s) on %(sprayed)s; its pre-harvest interval "
                          "is %(days)s days, so it may be harvested from %(first)s on."))


def _store_operator(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    if private:
        conn.execute(insert(FarmOperator.__table__), {"entry": entry.index, **private})  # type: ignore[arg-type]


def _grower_of(state: State, ctx: Context, plot_id: int) -> PlotState:
    """The plot, if the acting party is its grower."""
    party = acting_party(state, ctx)
    plot = require_plot(state, plot_id)
    if party.kind != GROWER or plot.party_id != party.id:
        raise NOT_OWN_PLOT("plot", plot=plot_id)
    not_black_listed(party, N_("record farming"))
    return plot


def _within_plot(plot: PlotState, area_centimu: int, field: str) -> None:
    if area_centimu > plot.area_centimu:
        whole, frac = divmod(area_centimu, 100)
        raise AREA_EXCEEDS(field, area=f"{whole}.{frac:02d}".rstrip("0").rstrip("."), plot=plot.area_mu_text)


def interval_of(pest: PesticideState | None, product_id: str) -> int | None:
    """The pre-harvest interval that binds a spray on a crop: the pesticide's for that crop, or,
    where it is not registered for it, its longest on any crop; None when none is known."""
    if pest is None:
        return None
    days = pest.interval(product_id)
    return days if days is not None else pest.longest


def first_harvest_day(spray: FarmRecordState, days: int) -> date:
    """The first day a crop sprayed on `spray`'s day may be harvested."""
    return china_date(spray.occurred_at) + timedelta(days=days)


def interval_problem(state: State, plot_id: int, product_id: str, harvested_at: str, field: str = "occurred_at"):  # type: ignore[no-untyped-def]
    """The refusal of a harvest of `product_id` at `harvested_at` within the pre-harvest interval
    of a spray on the plot (the spray that binds longest), or None."""
    worst: tuple[date, FarmRecordState, PesticideState, int] | None = None
    day = china_date(harvested_at)
    for spray in state.sprays(plot_id):
        if spray.product_id != product_id or spray.occurred_at > harvested_at or spray.pesticide is None:
            continue
        pest = state.pesticide(spray.pesticide)
        days = interval_of(pest, product_id)
        if pest is None or days is None:
            continue
        first = first_harvest_day(spray, days)
        if day < first and (worst is None or first > worst[0]):
            worst = (first, spray, pest, days)
    if worst is None:
        return None
    first, spray, pest, days = worst
    return WITHIN_INTERVAL(field, pesticide=pest.name, reg_no=pest.reg_no, sprayed=china_date(spray.occurred_at).isoformat(),
                           days=days, first=first.isoformat())


def spray_alerts(state: State, plot_id: int, product_id: str, reg_no: str, occurred_at: str) -> list[str]:
    """What the bureau must be told of a spray: a banned pesticide, one not registered for the
    crop, a harvest of the crop already registered within the interval after it."""
    pest = state.pesticide(reg_no)
    assert pest is not None
    out = []
    if pest.banned:
        out.append("banned")
    elif pest.interval(product_id) is None:
        out.append("off_label")
    days = interval_of(pest, product_id)
    if days is not None:
        sprayed = china_date(occurred_at)
        if any(h >= occurred_at and china_date(h) < sprayed + timedelta(days=days)
               for h in state.harvest_times(plot_id, product_id)):
            out.append("harvested_within_interval")
    return sorted(out)


def _season(occurred_at: str) -> int:
    return china_date(occurred_at).year


# -- pest control --------------------------------------------------------------------------------


@command("farm.spray", SprayInput, store=_store_operator)
def build_spray(state: State, inp: SprayInput, ctx: Context) -> Built:
    """A spray with the alerts the rules find; the operator's name stays out of the log."""
    occurred = when(inp.occurred_at, ctx)
    if state.pesticide(inp.pesticide) is None:
        raise PESTICIDE_UNKNOWN("pesticide", reg_no=inp.pesticide)
    product = require_product(state, inp.product)
    private: dict[str, Any] = {}
    operator = None
    if inp.operator:
        private = {"name": inp.operator, "salt": new_salt()}
        operator = commitment("operator", private["salt"], inp.operator)
    alerts = spray_alerts(state, inp.plot, product.id, inp.pesticide, occurred) if state.plot(inp.plot) else []
    return Built(FarmSpray(plot=inp.plot, product=product.id, pesticide=inp.pesticide, dose=inp.dose,
                           area_centimu=inp.area_mu, target=inp.target, operator=operator,
                           alerts=alerts, occurred_at=occurred), private)  # type: ignore[arg-type]


@check_of(FarmSpray)
def check_spray(state: State, ev: FarmSpray, ctx: Context) -> None:
    """The plot's grower records it, with a pesticide of the list and the alerts it calls for."""
    plot = _grower_of(state, ctx, ev.plot)
    require_product(state, ev.product)
    if state.pesticide(ev.pesticide) is None:
        raise PESTICIDE_UNKNOWN("pesticide", reg_no=ev.pesticide)
    _within_plot(plot, ev.area_centimu, "area_mu")
    event_time(ev.occurred_at, ctx)
    expected = spray_alerts(state, plot.id, ev.product, ev.pesticide, ev.occurred_at)
    if list(ev.alerts) != expected:
        raise ALERTS(None, got=list(ev.alerts) or "-", expected=expected or "-")


@apply_of(FarmSpray)
def apply_spray(state: State, ev: FarmSpray, ctx: Context) -> None:
    """The record joins the plot's season."""
    _record(state, ev, ctx, "spray", product_id=ev.product, pesticide=ev.pesticide, detail=ev.dose, source=ev.target,
            area_centimu=ev.area_centimu, operator=ev.operator, alerts=",".join(ev.alerts))


# -- fertilising -----------------------------------------------------------------------------------


@command("farm.fertilise", FertiliseInput)
def build_fertilise(state: State, inp: FertiliseInput, ctx: Context) -> Built:
    """A fertilising record."""
    return Built(FarmFertilise(plot=inp.plot, name=inp.name, source=inp.source, amount_g_per_mu=inp.amount_g_per_mu,
                               area_centimu=inp.area_mu, occurred_at=when(inp.occurred_at, ctx)))


@check_of(FarmFertilise)
def check_fertilise(state: State, ev: FarmFertilise, ctx: Context) -> None:
    """The plot's grower records it, on no more than the plot."""
    plot = _grower_of(state, ctx, ev.plot)
    _within_plot(plot, ev.area_centimu, "area_mu")
    event_time(ev.occurred_at, ctx)


@apply_of(FarmFertilise)
def apply_fertilise(state: State, ev: FarmFertilise, ctx: Context) -> None:
    """The record joins the plot's season."""
    _record(state, ev, ctx, "fertilise", detail=ev.name, source=ev.source, amount_g_per_mu=ev.amount_g_per_mu,
            area_centimu=ev.area_centimu)


# -- other work ------------------------------------------------------------------------------------


@command("farm.work", WorkInput)
def build_work(state: State, inp: WorkInput, ctx: Context) -> Built:
    """A work record or note."""
    return Built(FarmWork(plot=inp.plot, kind=inp.kind, note=inp.note, occurred_at=when(inp.occurred_at, ctx)))  # type: ignore[arg-type]


@check_of(FarmWork)
def check_work(state: State, ev: FarmWork, ctx: Context) -> None:
    """The plot's grower records it."""
    _grower_of(state, ctx, ev.plot)
    event_time(ev.occurred_at, ctx)


@apply_of(FarmWork)
def apply_work(state: State, ev: FarmWork, ctx: Context) -> None:
    """The record joins the plot's season."""
    _record(state, ev, ctx, ev.kind, detail=ev.note)


def _record(state: State, ev: Event, ctx: Context, kind: str, **values: Any) -> None:
    assert ctx.party_id is not None
    occurred = ev.occurred_at  # type: ignore[attr-defined]
    row = {"product_id": None, "pesticide": None, "detail": "", "source": "", "amount_g_per_mu": None,
           "area_centimu": None, "operator": None, "alerts": "", **values}
    state.add(FarmRecordState(entry=ctx.index, plot_id=ev.plot, party_id=ctx.party_id, kind=kind,  # type: ignore[attr-defined]
                              occurred_at=occurred, season=_season(occurred), **row))


def crop_names(state: State, product_id: str) -> Names:
    """A crop's name for messages."""
    product = state.product(product_id)
    return product_names(product) if product else Names(product_id, product_id)
