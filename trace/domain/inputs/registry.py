"""Inputs of the register: GI products, parties, the credit list, plots, logins."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from trace.domain import limits
from trace.domain.errors import Code, InvalidInput
from trace.domain.identifiers import gtin_problem, uscc_problem
from trace.domain.inputs.base import (
    REQUIRED,
    AreaMu,
    Choice,
    Coordinate,
    Id,
    Input,
    Mass,
    Pattern,
    Text,
    YesNo,
    _fail,
    fold,
)
from trace.domain.messages import N_

KINDS = ("grower", "processor", "cold_store", "carrier", "retailer", "regulator")
KIND_NAMES = {"grower": N_("Grower"), "processor": N_("Processor"), "cold_store": N_("Cold store"),
              "carrier": N_("Carrier"), "retailer": N_("Retailer"), "regulator": N_("Regulator")}
CREDIT = ("normal", "red", "black")
CREDIT_NAMES = {"normal": N_("normal"), "red": N_("red list"), "black": N_("black list")}
AREA_LINE = Code("input.area_line", InvalidInput,
                 N_("Line %(n)s of the protected area must be 'township village' or 'township *'."))
AREA_EMPTY = Code("input.area_empty", InvalidInput, N_("The protected area cannot be empty."))
MONTHS = Code("input.months", InvalidInput, N_("Harvest months must be numbers such as 9,10."))
MONTHS_RANGE = Code("input.months_range", InvalidInput, N_("Harvest months must be between 1 and 12."))
DAY_FORMAT = Code("input.day", InvalidInput, N_("%(label)s must be a date such as 2026-03-01."))
DAY_ORDER = Code("input.day_order", InvalidInput, N_("The end date cannot be before the start date."))


def _day(value: Any) -> str | None:
    """A Beijing date typed as YYYY-MM-DD (full-width digits folded); empty means none."""
    from datetime import date

    s = fold(value)
    if not s:
        return None
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if not m:
        raise _fail(DAY_FORMAT)
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise _fail(DAY_FORMAT) from None
    if not limits.YEARS[0] <= d.year <= limits.YEARS[1]:
        raise _fail(DAY_FORMAT)
    return d.isoformat()


def Day(*, title: str = "") -> Any:  # noqa: N802
    """A date (Beijing), or None when left empty."""
    return Annotated[str | None, Field(title=title, description="YYYY-MM-DD, Beijing"), BeforeValidator(_day)]


def _uscc(value: Any) -> str:
    code = fold(value).upper()
    if not code:
        raise _fail(REQUIRED)
    problem = uscc_problem(code)
    if problem:
        raise _fail(Code.registry[problem.code], **problem.params)
    return code


def _gtin(value: Any) -> str | None:
    s = fold(value)
    if not s:
        return None
    problem = gtin_problem(s)
    if problem:
        raise _fail(Code.registry[problem.code], **problem.params)
    return s


def _months(value: Any) -> list[int]:
    items = re.split(r"[\s,，、]+", fold(value)) if isinstance(value, str) else list(value or [])
    items = [i for i in items if i != ""]
    try:
        months = sorted({int(m) if isinstance(m, int) and not isinstance(m, bool) else int(str(m), 10) for m in items})
    except ValueError:
        raise _fail(MONTHS) from None
    if not months:
        raise _fail(MONTHS)
    if any(not 1 <= m <= 12 for m in months):
        raise _fail(MONTHS_RANGE)
    return months


def _area(value: Any) -> list[tuple[str, str]]:
    """Places as a list of pairs (or {township, village}), or as text: one 'township village' (or
    'township *') per line."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, str):
        for n, line in enumerate(value.splitlines(), 1):
            parts = line.replace("\u3000", " ").split()
            if not parts:
                continue
            if len(parts) != 2 or any(len(p) > limits.MAX_PLACE for p in parts):
                raise _fail(AREA_LINE, n=n)
            pairs.append((parts[0], parts[1]))
    else:
        for n, item in enumerate(value or [], 1):
            place = (item.get("township"), item.get("village")) if isinstance(item, dict) else tuple(item)
            if len(place) != 2 or not all(isinstance(p, str) and p.strip() and len(p.strip()) <= limits.MAX_PLACE
                                          for p in place):
                raise _fail(AREA_LINE, n=n)
            pairs.append((place[0].strip(), place[1].strip()))
    if not pairs:
        raise _fail(AREA_EMPTY)
    return sorted(set(pairs))


class ProductInput(Input):
    """Define a GI product, or change one's names, area, months, ceiling or GTIN."""

    id: Pattern(limits.PRODUCT_ID, N_("lower-case letters, digits and hyphens, such as shapotou-apple"), title=N_("Product id"))
    name_zh: Text(100, title=N_("Chinese name"))
    name_en: Text(100, title=N_("English name"))
    gi_ref: Text(limits.MAX_PLACE, required=False, title=N_("Registration number")) = ""
    gtin: Annotated[str | None, Field(title=N_("GTIN")), BeforeValidator(_gtin)] = None
    harvest_months: Annotated[list[int], Field(title=N_("Harvest months")), BeforeValidator(_months)]
    yield_g_per_mu: Mass(title=N_("Yield ceiling per mu"))
    lot_prefix: Pattern(limits.LOT_PREFIX, N_("2 to 8 capital letters or digits, such as APL"), title=N_("Lot prefix"),
                        upper=True)
    area: Annotated[list[tuple[str, str]], Field(title=N_("Protected area")), BeforeValidator(_area)]


class PartyInput(Input):
    """Register a party; its phone and address stay out of the public log."""

    kind: Choice(KINDS, title=N_("Kind"), labels=KIND_NAMES)
    name: Text(limits.MAX_TEXT, title=N_("Name"))
    uscc: Annotated[str, Field(title=N_("Unified social credit code")), BeforeValidator(_uscc)]
    township: Text(limits.MAX_PLACE, required=False, title=N_("Township")) = ""
    gi_logo: YesNo = False
    phone: Text(40, required=False, title=N_("Phone")) = ""
    address: Text(limits.MAX_TEXT, required=False, title=N_("Address")) = ""


class CreditInput(Input):
    """Put a party on the red or black list, or back to normal, from a day (empty: today) and
    optionally until a day."""

    party: Id(title=N_("Party"))
    status: Choice(CREDIT, title=N_("Credit status"), labels=CREDIT_NAMES)
    reason: Text(limits.MAX_REASON, title=N_("Reason"))
    start: Day(title=N_("From")) = None
    end: Day(title=N_("Until")) = None

    @model_validator(mode="after")
    def _order(self) -> CreditInput:
        if self.start and self.end and self.end < self.start:
            raise PydanticCustomError(DAY_ORDER.code, DAY_ORDER.msgid, {})
        return self


class BindInput(Input):
    """Bind a login to a party (its role follows the party's kind), or unbind it from every
    party (it can then do nothing until bound again)."""

    username: Text(60, title=N_("Username"))
    party: Id(title=N_("Party"), optional=True) = None


class PlotInput(Input):
    """Register a grower's plot; its coordinates stay out of the public log."""

    party: Id(title=N_("Grower"))
    township: Text(limits.MAX_PLACE, title=N_("Township"))
    village: Text(limits.MAX_PLACE, title=N_("Village"))
    area_mu: AreaMu(title=N_("Area"))
    lat: Coordinate(-90, 90, title=N_("Latitude")) = None
    lon: Coordinate(-180, 180, title=N_("Longitude")) = None


class UserInput(Input):
    """Create a login for a party (its role follows the party's kind), or an administrator."""

    party: Id(title=N_("Party"), optional=True) = None
    username: Text(60, title=N_("Username"))
    password: Annotated[str, Field(title=N_("Password"), json_schema_extra={"writeOnly": True})]
    admin: YesNo = False

