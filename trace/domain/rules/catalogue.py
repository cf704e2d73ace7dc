"""The GI catalogue: the bureau defines a product, or changes its area, months or ceiling, with
an event (no code change). Harvests are judged by the definition in force when they are logged.

From version 3 a product records its registration (type, number, holder, date, specification:
unknown stays None, never a made-up number) and its area may name division codes, each of which
must be on the division list."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from trace.domain.errors import Code, RuleViolation
from trace.domain.events import Entry, GIRegistration, Place, ProductDefine, ProductSpec
from trace.domain.inputs import ProductInput
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import regulator_or_admin
from trace.domain.rules.context import Context
from trace.domain.state import ProductState, RegistrationState, State
from trace.domain.tables.operations import ProductHistory

PREFIX_TAKEN = Code("product.prefix_taken", RuleViolation, N_("Lot prefix %(prefix)s is used by %(product)s."))
GTIN_TAKEN = Code("product.gtin_taken", RuleViolation, N_("GTIN %(gtin)s is used by %(product)s."))
AREA_CODE_UNKNOWN = Code("product.area_code_unknown", RuleViolation,
                         N_("The division code %(code)s of the protected area is not on the division list."))
GI_REF_MISMATCH = Code("log.gi_ref", RuleViolation,
                       N_("The product's registration number is recorded as %(got)s in one place and %(expected)s in another."))


def _store_history(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    """Index the entry under its product, for the catalogue's history."""
    assert isinstance(entry.event, ProductDefine)
    conn.execute(insert(ProductHistory.__table__), {"product_id": entry.event.product.id, "entry": entry.index})  # type: ignore[arg-type]


@command("product.define", ProductInput, store=_store_history)
def build(state: State, inp: ProductInput, ctx: Context) -> Built:
    """The event of a product definition."""
    registration = GIRegistration(kind=inp.gi_kind, number=inp.gi_ref or None, holder=inp.gi_holder or None,
                                  date=inp.gi_date, spec_ref=inp.gi_spec or None)
    return Built(ProductDefine(product=ProductSpec(
        id=inp.id, name_zh=inp.name_zh, name_en=inp.name_en, gtin=inp.gtin, gi_ref=inp.gi_ref,
        harvest_months=inp.harvest_months, yield_g_per_mu=inp.yield_g_per_mu, lot_prefix=inp.lot_prefix,
        area=[Place(township=t, village=v, code=c) for t, v, c in inp.area], registration=registration)))


@check_of(ProductDefine)
def check(state: State, ev: ProductDefine, ctx: Context) -> None:
    """A regulator's (or the operator's) act; prefixes and GTINs name one product each."""
    regulator_or_admin(state, ctx)
    p = ev.product
    other = state.product_with_prefix(p.lot_prefix)
    if other is not None and other != p.id:
        raise PREFIX_TAKEN("lot_prefix", prefix=p.lot_prefix, product=other)
    if p.gtin is not None:
        owner = state.product_with_gtin(p.gtin)
        if owner is not None and owner != p.id:
            raise GTIN_TAKEN("gtin", gtin=p.gtin, product=owner)
    for place in p.area:
        if place.code is not None and state.division(place.code) is None:
            raise AREA_CODE_UNKNOWN("area", code=place.code)
    if p.registration is not None and (p.registration.number or "") != p.gi_ref:
        raise GI_REF_MISMATCH(None, got=p.gi_ref or "-", expected=p.registration.number or "-")


@apply_of(ProductDefine)
def apply(state: State, ev: ProductDefine, ctx: Context) -> None:
    """Create the product or change it in place."""
    p = ev.product
    months = ",".join(str(m) for m in p.harvest_months)
    area = sorted({(a.township, a.village, a.code) for a in p.area}, key=lambda x: (x[0], x[1]))
    _register(state, ev)
    product = state.product(p.id)
    if product is None:
        state.add(ProductState(p.id, p.name_zh, p.name_en, p.gi_ref, p.gtin, months, p.yield_g_per_mu, p.lot_prefix, area))
        return
    product.name_zh, product.name_en, product.gi_ref, product.gtin = p.name_zh, p.name_en, p.gi_ref, p.gtin
    product.harvest_months, product.yield_g_per_mu, product.lot_prefix, product.area = months, p.yield_g_per_mu, p.lot_prefix, area


def _register(state: State, ev: ProductDefine) -> None:
    """The registration, as the definition (version 3) says it; older definitions say nothing."""
    reg = ev.product.registration
    if "registration" not in ev.product.model_fields_set:
        return
    row = state.registration(ev.product.id)
    values = (reg.kind, reg.number, reg.holder, reg.date, reg.spec_ref) if reg else (None,) * 5
    if row is None:
        state.add(RegistrationState(ev.product.id, *values))
    else:
        row.kind, row.number, row.holder, row.date, row.spec_ref = values
