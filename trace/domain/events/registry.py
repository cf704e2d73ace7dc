"""Events of the register: the GI catalogue, parties, plots and logins."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trace.domain import limits
from trace.domain.events.base import Event, Grams, Hex64, Id, Model, Since, Until, text
from trace.domain.events.field import Division12, LogDate, PlatformCode


class Place(Model):
    """A village of a protected area, or a whole township (village '*'). From version 3 it may
    name its division code (a village's, a township's or the whole county's): then a plot is
    judged by its code, not by how a name is spelt or which township it is listed under."""

    township: text(limits.MAX_PLACE)
    village: text(limits.MAX_PLACE)
    code: Annotated[Division12 | None, Since(3)] = None


class GIRegistration(Model):
    """A product's GI registration: its type (农产品地理标志 agi, 地理标志保护产品 gi_product,
    地理标志证明商标 gi_mark), number, holder, date and the reference of its quality-control
    specification. What is not known is None, and the page says it is not known."""

    kind: Literal["agi", "gi_product", "gi_mark"] | None
    number: text(limits.MAX_PLACE) | None
    holder: text(limits.MAX_TEXT) | None
    date: LogDate | None
    spec_ref: text(limits.MAX_TEXT) | None


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
    registration: Annotated[GIRegistration | None, Since(3)] = None


class ProductDefine(Event):
    """A regulator defines a GI product or changes its area, months or ceiling."""

    type: Literal["product.define"] = "product.define"
    product: ProductSpec


class PartySpec(Model):
    """A party as registered: kind, name, unified social credit code, township, GI logo use.

    From version 3 a party is an organisation (its credit code, checked as before) or a natural
    person, a household grower (农户) say: then `uscc` is None, `name` is masked (张*) and
    `person` is a salted commitment to the name and identity number, which stay in the state
    tables. `platform_code` is its 主体码 on the national traceability platform, if it has one.
    Produce buyers (收购商, kind "buyer") are parties from version 3 too."""

    id: Id
    kind: Literal["grower", "processor", "cold_store", "carrier", "retailer", "regulator", "buyer"]
    name: text(limits.MAX_TEXT)
    uscc: Annotated[str, Field(pattern=r"^[0-9A-Z]{18}$")] | None
    township: text(limits.MAX_PLACE, required=False)
    gi_logo: bool
    form: Annotated[Literal["organisation", "person"] | None, Since(3)] = None
    person: Annotated[Hex64 | None, Since(3)] = None
    platform_code: Annotated[PlatformCode | None, Since(3)] = None


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
    division: Annotated[Division12 | None, Since(3)] = None  # the village's division code


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
