"""Harvests: the GI rules at the orchard. Fruit carries the GI name only if it was picked from a
grower's own plot inside the product's protected area (by its division code, where both have
one), in its harvest months, and within the yield ceiling (the plot's area times the product's
yield per mu) for the season; and no harvest is made within the pre-harvest interval of a spray
recorded on the plot (see rules.farming)."""
from __future__ import annotations

import re

from trace.clock import CHINA, parse_log_time
from trace.domain import limits
from trace.domain.errors import Code, Forbidden, RuleViolation
from trace.domain.events import Harvest, NewLot
from trace.domain.identifiers import lot_code
from trace.domain.inputs import HarvestInput
from trace.domain.messages import N_, Mass, Month
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import (
    GROWER,
    acting_party,
    event_time,
    expected_lot,
    next_id,
    not_black_listed,
    product_names,
    require_plot,
    require_product,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.rules.farming import interval_problem
from trace.domain.state import BatchState, State
from trace.domain.tables.batches import Batch

GROWERS_ONLY = Code("harvest.growers_only", Forbidden, N_("Only growers and cooperatives register harvests."))
NOT_OWN_PLOT = Code("harvest.not_own_plot", Forbidden, N_("This plot does not belong to your party."))
OUTSIDE_AREA = Code("gi.outside_area", RuleViolation,
                    N_("The plot in %(township)s %(village)s is outside the protected area of %(product)s."))
OUT_OF_SEASON = Code("gi.out_of_season", RuleViolation,
                     N_("%(product)s is harvested in months %(months)s, not in month %(month)s."))
OVER_CEILING = Code("gi.over_ceiling", RuleViolation,
                    N_("Over the yield ceiling: the %(area)s mu plot may yield at most %(ceiling)s this season; "
                       "%(before)s are registered and this harvest is %(quantity)s."))
SEASON_MISMATCH = Code("log.season", RuleViolation, N_("The harvest says season %(got)s but happened in %(expected)s."))


@command("harvest", HarvestInput)
def build(state: State, inp: HarvestInput, ctx: Context) -> Built:
    """A new batch from the plot, its lot code from the product's prefix and the season (an unknown
    product gets a placeholder: the check refuses it, in the order the rules are read)."""
    product = state.product(inp.product)
    if product is None and not re.fullmatch(limits.PRODUCT_ID, inp.product):
        require_product(state, inp.product)  # no product can have that id: refuse it now
    occurred = when(inp.occurred_at, ctx)
    season = parse_log_time(occurred).astimezone(CHINA).year
    bid = state.next_id(Batch)
    lot = lot_code(product.lot_prefix if product else "X", season, bid)
    return Built(Harvest(batch=NewLot(id=bid, lot=lot), product=inp.product if product is None else product.id,
                         plot=inp.plot, quantity_g=inp.quantity_g, season=season, occurred_at=occurred))


@check_of(Harvest)
def check(state: State, ev: Harvest, ctx: Context) -> None:
    """The GI origin rules, the credit list, and who may harvest."""
    party = acting_party(state, ctx)
    if party.kind != GROWER:
        raise GROWERS_ONLY()
    not_black_listed(party, N_("register harvests"), ctx)
    plot = require_plot(state, ev.plot)
    if plot.party_id != party.id:
        raise NOT_OWN_PLOT("plot")
    product = require_product(state, ev.product)
    event_time(ev.occurred_at, ctx)
    local = parse_log_time(ev.occurred_at).astimezone(CHINA)
    if not product.allows(plot.township, plot.village, plot.division):
        raise OUTSIDE_AREA("plot", township=plot.township, village=plot.village, product=product_names(product))
    if local.month not in product.months:
        raise OUT_OF_SEASON("occurred_at", product=product_names(product), months=[Month(m) for m in product.months],
                            month=Month(local.month))
    if ev.season != local.year:
        raise SEASON_MISMATCH(None, got=ev.season, expected=local.year)
    before = state.harvested_g(plot.id, product.id, ev.season)
    ceiling = plot.area_centimu * product.yield_g_per_mu // 100
    if before + ev.quantity_g > ceiling:
        raise OVER_CEILING("quantity_g", area=plot.area_mu_text, ceiling=Mass(ceiling), before=Mass(before),
                           quantity=Mass(ev.quantity_g))
    within = interval_problem(state, plot.id, product.id, ev.occurred_at)
    if within is not None:
        raise within
    next_id(state, Batch, ev.batch.id, N_("batch"))
    expected_lot(product, ev.season, ev.batch.id, ev.batch.lot)


@apply_of(Harvest)
def apply(state: State, ev: Harvest, ctx: Context) -> None:
    """The new batch, in the grower's custody."""
    assert ctx.party_id is not None
    state.add(BatchState(
        id=ev.batch.id, lot_code=ev.batch.lot, product_id=ev.product, origin_plot_id=ev.plot, harvest_g=ev.quantity_g,
        season=ev.season, form="fresh", grade="", quantity_g=ev.quantity_g, packed_g=0, unsold=0,
        custodian_id=ctx.party_id, transit_to_id=None, harvested_at=ev.occurred_at, status="active",
        inspection="none", recalled=False, recall_entry=None, created_entry=ctx.index))
    state.touch(ev.batch.id, ctx.index, ev.TYPE, ev.occurred_at, ctx.party_id)
