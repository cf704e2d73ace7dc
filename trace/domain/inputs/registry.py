"""Inputs of the register: GI products, parties, the credit list, plots, logins."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from trace.domain import limits
from trace.domain.errors import Code, InvalidInput
from trace.domain.identifiers import gtin_problem, id_number_problem, uscc_problem
from trace.domain.inputs.base import (
    PATTERN,
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
from trace.domain.inputs.field import DIVISION_FORMAT, OptionalDate
from trace.domain.messages import N_, Term

KINDS = ("grower", "processor", "cold_store", "carrier", "retailer", "regulator", "buyer")
KIND_NAMES = {"grower": N_("Grower"), "processor": N_("Processor"), "cold_store": N_("Cold store"),
              "carrier": N_("Carrier"), "retailer": N_("Retailer"), "regulator": N_("Regulator"),
              "buyer": N_("Produce buyer")}
FORMS = ("organisation", "person")
FORM_NAMES = {"organisation": N_("organisation (unified social credit code)"),
              "person": N_("natural person (identity card)")}
GI_KINDS = ("agi", "gi_product", "gi_mark")
GI_KIND_NAMES = {"agi": N_("agricultural product geographical indication"),
                 "gi_product": N_("geographical indication protected product"),
                 "gi_mark": N_("geographical indication certification mark")}
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


def _uscc(value: Any) -> str | None:
    code = fold(value).upper()
    if not code:
        return None  # a natural person has none; an organisation's is required (see rules.parties)
    problem = uscc_problem(code)
    if problem:
        raise _fail(Code.registry[problem.code], **problem.params)
    return code


def _id_number(value: Any) -> str | None:
    number = fold(value).upper()
    if not number:
        return None
    problem = id_number_problem(number)
    if problem:
        raise _fail(Code.registry[problem.code], **problem.params)
    return number


def _optional_code(value: Any) -> str | None:
    s = fold(value)
    if not s:
        return None
    if not re.fullmatch(limits.PLATFORM_CODE, s):
        raise _fail(PATTERN, how=Term(N_("letters, digits and hyphens")))
    return s


def _optional_division(value: Any) -> str | None:
    s = fold(value)
    if not s:
        return None
    if not re.fullmatch(r"\d{12}", s):
        raise _fail(DIVISION_FORMAT)
    return s


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


def _area(value: Any) -> list[tuple[str, str, str | None]]:
    """Places as a list of pairs or triples (or {township, village, code}), or as text: one
    'township village' (or 'township *') per line, optionally followed by its 12-digit division
    code (a village's, a township's, or the county's for the whole district)."""
    places: list[tuple[str, str, str | None]] = []
    if isinstance(value, str):
        for n, line in enumerate(value.splitlines(), 1):
            parts = line.replace("\u3000", " ").split()
            if not parts:
                continue
            code = parts.pop() if len(parts) == 3 else None
            if len(parts) != 2 or any(len(p) > limits.MAX_PLACE for p in parts) or (code and not re.fullmatch(r"\d{12}", code)):
                raise _fail(AREA_LINE, n=n)
            places.append((parts[0], parts[1], code))
    else:
        for n, item in enumerate(value or [], 1):
            place = ((item.get("township"), item.get("village"), item.get("code")) if isinstance(item, dict)
                     else tuple(item) + ((None,) if len(tuple(item)) == 2 else ()))
            if len(place) != 3 or not all(isinstance(p, str) and p.strip() and len(p.strip()) <= limits.MAX_PLACE
                                          for p in place[:2]):
                raise _fail(AREA_LINE, n=n)
            code = place[2] or None
            if code is not None and not (isinstance(code, str) and re.fullmatch(r"\d{12}", code)):
                raise _fail(AREA_LINE, n=n)
            places.append((place[0].strip(), place[1].strip(), code))
    if not places:
        raise _fail(AREA_EMPTY)
    return sorted(set(places), key=lambda p: (p[0], p[1], p[2] or ""))


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
    area: Annotated[list[tuple[str, str, str | None]], Field(title=N_("Protected area")), BeforeValidator(_area)]
    # The registration (version 3): what is not known stays empty, and the page says it is not known.
    gi_kind: Annotated[Choice(GI_KINDS, title=N_("Registration type"), labels=GI_KIND_NAMES) | None,
                       BeforeValidator(lambda v: None if v in (None, "") else v)] = None
    gi_holder: Text(limits.MAX_TEXT, required=False, title=N_("Registration holder")) = ""
    gi_date: Annotated[OptionalDate, Field(title=N_("Registration date"))] = None
    gi_spec: Text(limits.MAX_TEXT, required=False, title=N_("Quality-control specification")) = ""


class PartyInput(Input):
    """Register a party: an organisation with its unified social credit code, or a natural
    person (a household grower) with a name and identity number, which stay out of the public
    log, as do its phone and address."""

    kind: Choice(KINDS, title=N_("Kind"), labels=KIND_NAMES)
    name: Text(limits.MAX_TEXT, title=N_("Name"))
    uscc: Annotated[str | None, Field(title=N_("Unified social credit code")), BeforeValidator(_uscc)] = None
    township: Text(limits.MAX_PLACE, required=False, title=N_("Township")) = ""
    gi_logo: YesNo = False
    phone: Text(40, required=False, title=N_("Phone")) = ""
    address: Text(limits.MAX_TEXT, required=False, title=N_("Address")) = ""
    form: Choice(FORMS, title=N_("Organisation or person"), labels=FORM_NAMES) = "organisation"
    id_number: Annotated[str | None, Field(title=N_("Identity number"), json_schema_extra={"writeOnly": True}),
                         BeforeValidator(_id_number)] = None
    platform_code: Annotated[str | None, Field(title=N_("Platform subject code")), BeforeValidator(_optional_code)] = None


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
    """Register a grower's plot, by its village's division code or by township and village
    names; its coordinates stay out of the public log."""

    party: Id(title=N_("Grower"))
    township: Text(limits.MAX_PLACE, required=False, title=N_("Township")) = ""
    village: Text(limits.MAX_PLACE, required=False, title=N_("Village")) = ""
    division: Annotated[str | None, Field(title=N_("Village division code")), BeforeValidator(_optional_division)] = None
    area_mu: AreaMu(title=N_("Area"))
    lat: Coordinate(-90, 90, title=N_("Latitude")) = None
    lon: Coordinate(-180, 180, title=N_("Longitude")) = None


class UserInput(Input):
    """Create a login for a party (its role follows the party's kind), or an administrator."""

    party: Id(title=N_("Party"), optional=True) = None
    username: Text(60, title=N_("Username"))
    password: Annotated[str, Field(title=N_("Password"), json_schema_extra={"writeOnly": True})]
    admin: YesNo = False

