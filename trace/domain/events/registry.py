"""Events of the register: the GI catalogue, parties, plots and logins."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trace.domain import limits
from trace.domain.events.base import Event, Grams, Hex64, Id, Model, Since, Until, text


class Place(Model):
    """A village of a protected area, or a whole township (village '*')."""

    township: text(limits.MAX_PLACE)
    village: text(limits.MAX_PLACE)


class ProductSpec(Model):
    """A GI product as the bureau defines it: names, GTIN, registration, months, ceiling, area."""

    id: Annotated[str, Field(pattern=f"^{limits.PRODUCT_ID}$")]
    name_zh: text(100)
    name_en: text(100)
    gtin: Annotated[str, Field(pattern=r"^\d{14}$")] | None
    gi_ref: text(limits.MAX_PLACE, required=False)
    harvest_months: Annotated[list[Annotated[int, Field(ge=1, le=12)]], Field(min_length=1, max_length=12)]
    yield_g_per_mu: Grams
    lot_prefix: Annotated[str, Field(pattern=f"^{limits.LOT_PREFIX}$")]
    area: Annotated[list[Place], Field(min_length=1, max_length=500)]


class ProductDefine(Event):
    """A regulator defines a GI product or changes its area, months or ceiling."""

    type: Literal["product.define"] = "product.define"
    product: ProductSpec


class PartySpec(Model):
    """A party as registered: kind, name, unified social credit code, township, GI logo use."""

    id: Id
    kind: Literal["grower", "processor", "cold_store", "carrier", "retailer", "regulator"]
    name: text(limits.MAX_TEXT)
    uscc: Annotated[str, Field(pattern=r"^[0-9A-Z]{18}$")]
    township: text(limits.MAX_PLACE, required=False)
    gi_logo: bool


class PartyRegister(Event):
    """A party is registered (its contact details stay out of the log)."""

    type: Literal["party.register"] = "party.register"
    party: PartySpec


Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]  # a Beijing date, YYYY-MM-DD


class PartyCredit(Event):
    """The bureau puts a party on the red or black list, or back to normal. From version 3 the
    change says from which day it holds and, optionally, until which day (Beijing dates)."""

    type: Literal["party.credit"] = "party.credit"
    party_id: Id
    status: Literal["normal", "red", "black"]
    reason: text(limits.MAX_REASON)
    start: Annotated[Day | None, Since(3)] = None
    end: Annotated[Day | None, Since(3)] = None


class PlotSpec(Model):
    """A grower's plot. Version 1 logged its coordinates; from version 2 the log holds only a
    salted commitment to them (the coordinates and the salt stay in the state tables)."""

    id: Id
    party_id: Id
    township: text(limits.MAX_PLACE)
    village: text(limits.MAX_PLACE)
    area_centimu: Annotated[int, Field(gt=0, le=limits.MAX_CENTIMU)]
    lat_micro: Annotated[int | None, Until(1), Field(ge=-90_000_000, le=90_000_000)] = None
    lon_micro: Annotated[int | None, Until(1), Field(ge=-180_000_000, le=180_000_000)] = None
    location: Annotated[Hex64 | None, Since(2)] = None


class PlotRegister(Event):
    """A grower's plot is registered."""

    type: Literal["plot.register"] = "plot.register"
    plot: PlotSpec


class UserCreate(Event):
    """A login is created and bound to a party (or is an administrator). The log holds its
    pseudonym, never its username or password hash."""

    type: Literal["user.create"] = "user.create"
    user: Annotated[str, Field(pattern=r"^u[0-9a-f]{16}$")]
    party_id: Id | None
    admin: bool


class UserBind(Event):
    """A login is bound to another party, or unbound from every party (and so can do nothing):
    logged under its pseudonym, like its creation."""

    type: Literal["user.bind"] = "user.bind"
    user: Annotated[str, Field(pattern=r"^u[0-9a-f]{16}$")]
    party_id: Id | None
