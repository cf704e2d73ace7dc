"""Inputs of the field end: the division list, pesticides, farming records, certificates,
platform codes, GI logo authorisations, certifications, approvals of late entries.
Times are optional (empty: now); dates are Beijing calendar days."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from trace.domain import limits
from trace.domain.errors import Code, InvalidInput
from trace.domain.inputs.base import (
    REQUIRED,
    AreaMu,
    Choice,
    Id,
    Input,
    Mass,
    Pattern,
    Text,
    When,
    YesNo,
    _fail,
    fold,
)
from trace.domain.messages import N_

DATE_FORMAT = Code("input.date_format", InvalidInput, N_("%(label)s must be a date such as 2026-10-20."))
DIVISION_FORMAT = Code("input.division_format", InvalidInput,
                       N_("%(label)s must be a 12-digit administrative division code, such as 640502200200."))
DIVISION_LINE = Code("input.division_line", InvalidInput,
                     N_("Line %(n)s of the division list must be a 12-digit code and a name."))
INTERVAL_LINE = Code("input.interval_line", InvalidInput,
                     N_("Line %(n)s of the pre-harvest intervals must be a product id and a number of days, such as shapotou-apple 21."))
BASES = ("control", "own_test", "commissioned_test")
BASIS_NAMES = {"control": N_("quality and safety control"), "own_test": N_("own test"),
               "commissioned_test": N_("commissioned test")}
WORK_KINDS = ("prune", "irrigate", "thin", "bag", "flower", "fruit_set", "pest_seen", "other")
WORK_NAMES = {"prune": N_("pruning"), "irrigate": N_("irrigation"), "thin": N_("thinning"), "bag": N_("bagging"),
              "flower": N_("flowering"), "fruit_set": N_("fruit set"), "pest_seen": N_("pests seen"), "other": N_("other work")}
SCHEMES = ("green_food", "organic", "gap")
SCHEME_NAMES = {"green_food": N_("green food"), "organic": N_("organic product"), "gap": N_("GAP")}


def _date(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not fold(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    s = fold(value)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if not m:
        raise _fail(DATE_FORMAT)
    try:
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise _fail(DATE_FORMAT) from None
    if not limits.YEARS[0] <= day.year <= limits.YEARS[1]:
        raise _fail(DATE_FORMAT)
    return day.isoformat()


def _required_date(value: Any) -> str:
    day = _date(value)
    if day is None:
        raise _fail(REQUIRED)
    return day


Date = Annotated[str, Field(description="YYYY-MM-DD (Beijing)"), BeforeValidator(_required_date)]
OptionalDate = Annotated[str | None, Field(description="YYYY-MM-DD (Beijing); empty: none"), BeforeValidator(_date)]


def _division(value: Any) -> str:
    s = fold(value)
    if not s:
        raise _fail(REQUIRED)
    if not re.fullmatch(r"\d{12}", s):
        raise _fail(DIVISION_FORMAT)
    return s


DivisionCode = Annotated[str, Field(title=N_("Division code"), pattern=r"^\d{12}$"), BeforeValidator(_division)]


def _divisions(value: Any) -> list[dict[str, str]]:
    """Divisions as a list of {code, name}, or as text: one 'code name' per line."""
    out = []
    if isinstance(value, str):
        for n, line in enumerate(value.splitlines(), 1):
            parts = line.replace("\u3000", " ").split()
            if not parts:
                continue
            if len(parts) != 2 or not re.fullmatch(r"\d{12}", parts[0]) or len(parts[1]) > limits.MAX_PLACE:
                raise _fail(DIVISION_LINE, n=n)
            out.append({"code": parts[0], "name": parts[1]})
    else:
        for n, item in enumerate(value or [], 1):
            code, name = (item.get("code"), item.get("name")) if isinstance(item, dict) else (tuple(item) + ("", ""))[:2]
            if not (isinstance(code, str) and re.fullmatch(r"\d{12}", code) and isinstance(name, str)
                    and name.strip() and len(name.strip()) <= limits.MAX_PLACE):
                raise _fail(DIVISION_LINE, n=n)
            out.append({"code": code, "name": name.strip()})
    if not out:
        raise _fail(REQUIRED)
    return out


class DivisionInput(Input):
    """Add administrative divisions (12-digit codes with names) to the list, or rename them."""

    divisions: Annotated[list[dict[str, str]], Field(title=N_("Divisions"), max_length=limits.MAX_DIVISIONS),
                         BeforeValidator(_divisions)]


def _intervals(value: Any) -> list[tuple[str, int]]:
    """Intervals as a list of [product, days] (or {product, days}), or as text lines 'product days'."""
    out: list[tuple[str, int]] = []
    items: list[Any]
    if isinstance(value, str):
        items = [line.replace("\u3000", " ").split() for line in value.splitlines() if line.strip()]
    else:
        items = [[i.get("product"), i.get("days")] if isinstance(i, dict) else list(i) for i in (value or [])]
    for n, parts in enumerate(items, 1):
        if len(parts) != 2 or not re.fullmatch(limits.PRODUCT_ID, str(parts[0])):
            raise _fail(INTERVAL_LINE, n=n)
        days = parts[1]
        if isinstance(days, bool) or not (isinstance(days, int) or (isinstance(days, str) and days.isdigit())):
            raise _fail(INTERVAL_LINE, n=n)
        if not 0 <= int(days) <= limits.MAX_INTERVAL_DAYS:
            raise _fail(INTERVAL_LINE, n=n)
        out.append((str(parts[0]), int(days)))
    return sorted(dict(out).items())


class PesticideInput(Input):
    """Add a pesticide to the bureau's list, or change one: its pre-harvest interval per crop, banned or not."""

    reg_no: Pattern(limits.PESTICIDE_REG, N_("a registration number such as PD20080123"), title=N_("Registration number"),
                    upper=True)
    name: Text(100, title=N_("Name"))
    active_ingredient: Text(limits.MAX_TEXT, title=N_("Active ingredient"))
    intervals: Annotated[list[tuple[str, int]], Field(title=N_("Pre-harvest intervals"), max_length=50),
                         BeforeValidator(_intervals)] = []
    banned: YesNo = False


class SprayInput(Input):
    """Record pest control on a plot: the pesticide, dose, area treated, pest and operator."""

    plot: Id(title=N_("Plot"))
    product: Text(limits.MAX_PLACE, title=N_("Crop"))
    pesticide: Pattern(limits.PESTICIDE_REG, N_("a registration number such as PD20080123"),
                       title=N_("Pesticide registration number"), upper=True)
    dose: Text(60, title=N_("Dose"))
    area_mu: AreaMu(title=N_("Area treated"))
    target: Text(100, required=False, title=N_("Pest or disease")) = ""
    operator: Text(60, required=False, title=N_("Operator")) = ""
    occurred_at: When = None


class FertiliseInput(Input):
    """Record fertilising a plot: the fertiliser, its source, the amount per mu and the area."""

    plot: Id(title=N_("Plot"))
    name: Text(100, title=N_("Fertiliser"))
    source: Text(limits.MAX_TEXT, required=False, title=N_("Source (maker or seller)")) = ""
    amount_g_per_mu: Mass(title=N_("Amount per mu"))
    area_mu: AreaMu(title=N_("Area"))
    occurred_at: When = None


class WorkInput(Input):
    """Record other work on a plot, or a note: pruning, irrigation, bagging, flowering, fruit set, pests seen."""

    plot: Id(title=N_("Plot"))
    kind: Choice(WORK_KINDS, title=N_("Work"), labels=WORK_NAMES)
    note: Text(limits.MAX_TEXT, required=False, title=N_("Note")) = ""
    occurred_at: When = None


class CertificateInput(Input):
    """Issue the 承诺达标合格证 of a batch, on the basis that is true of it."""

    batch: Id(title=N_("Batch"))
    basis: Choice(BASES, title=N_("Basis of the pledge"), labels=BASIS_NAMES)
    occurred_at: When = None


class PartyCodeInput(Input):
    """Record a party's 主体码 on the national traceability platform."""

    party: Id(title=N_("Party"))
    code: Pattern(limits.PLATFORM_CODE, N_("letters, digits and hyphens"), title=N_("Platform subject code"))


class BatchCodeInput(Input):
    """Record a lot's 追溯码 on the national traceability platform."""

    batch: Id(title=N_("Batch"))
    code: Pattern(limits.PLATFORM_CODE, N_("letters, digits and hyphens"), title=N_("Platform trace code"))


class GIAuthoriseInput(Input):
    """Record that a party may use the GI special logo on a product (the announcement and its validity)."""

    party: Id(title=N_("Party"))
    product: Text(limits.MAX_PLACE, title=N_("Product"))
    announcement: Text(limits.MAX_TEXT, title=N_("Announcement"))
    valid_from: Annotated[Date, Field(title=N_("Valid from"))]
    valid_until: Annotated[OptionalDate, Field(title=N_("Valid until"))] = None


class GIRevokeInput(Input):
    """End an authorisation to use the GI logo (by the entry that made it)."""

    authorisation: Annotated[int, Field(title=N_("Authorisation"), ge=0)]
    reason: Text(limits.MAX_REASON, title=N_("Reason"))


class CertificationInput(Input):
    """Record a certification (green food, organic, GAP) of a party, for one of its plots or all."""

    party: Id(title=N_("Party"))
    plot: Id(title=N_("Plot"), optional=True) = None
    scheme: Choice(SCHEMES, title=N_("Scheme"), labels=SCHEME_NAMES)
    number: Text(limits.MAX_SHORT, title=N_("Certificate number"))
    issuer: Text(limits.MAX_TEXT, title=N_("Issued by"))
    scope: Text(limits.MAX_TEXT, title=N_("Scope"))
    valid_from: Annotated[Date, Field(title=N_("Valid from"))]
    valid_until: Annotated[Date, Field(title=N_("Valid until"))]


class CertificationRevokeInput(Input):
    """Record that a certification was revoked."""

    id: Id(title=N_("Certification"))
    reason: Text(limits.MAX_REASON, title=N_("Reason"))


class LateApproveInput(Input):
    """Approve a party's late entries (about one batch or plot, or all of its own) for a while."""

    party: Id(title=N_("Party"))
    batch: Id(title=N_("Batch"), optional=True) = None
    plot: Id(title=N_("Plot"), optional=True) = None
    earliest: Annotated[When, Field(title=N_("Happened from"))]
    until: When = None  # how long the approval stays open (empty: 7 days)
    reason: Text(limits.MAX_REASON, title=N_("Reason"))


__all__ = ["DivisionInput", "PesticideInput", "SprayInput", "FertiliseInput", "WorkInput", "CertificateInput",
           "PartyCodeInput", "BatchCodeInput", "GIAuthoriseInput", "GIRevokeInput", "CertificationInput",
           "CertificationRevokeInput", "LateApproveInput", "BASES", "WORK_KINDS", "SCHEMES", "Date",
           "OptionalDate", "DivisionCode"]
