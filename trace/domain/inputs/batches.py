"""Inputs of a batch's journey: harvest, inspection, grading, transformations, storage, custody,
packing, sale, recall and correction. Times are optional (empty: now)."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from trace.domain import limits
from trace.domain.inputs.base import (
    REQUIRED,
    Choice,
    Count,
    Decision,
    Id,
    Input,
    Mass,
    Pattern,
    Temperature,
    Text,
    When,
    YesNo,
    _fail,
    _mass,
    fold,
)
from trace.domain.messages import N_


class HarvestInput(Input):
    """Register a harvest from one of the grower's own plots."""

    plot: Id(title=N_("Plot"))
    product: Text(limits.MAX_PLACE, title=N_("Product"))
    quantity_g: Mass(title=N_("Quantity"))
    occurred_at: When = None


class ResultInput(Input):
    """One row of an inspection report."""

    name: Text(80, title=N_("Test"))
    value: Text(40, required=False, title=N_("Value")) = ""
    limit: Text(40, required=False, title=N_("Limit")) = ""
    unit: Text(20, required=False, title=N_("Unit")) = ""
    # No default: a row is within its limit only when the report says so (yes or no, never assumed).
    passed: Annotated[Decision, Field(title=N_("Within the limit"), validation_alias="pass")]


class InspectInput(Input):
    """Record an inspection of a batch and its verdict."""

    batch: Id(title=N_("Batch"))
    lab: Text(limits.MAX_TEXT, title=N_("Laboratory"))
    report_no: Text(limits.MAX_SHORT, title=N_("Report number"))
    passed: Annotated[Decision, Field(title=N_("Verdict"))]
    results: Annotated[list[ResultInput], Field(max_length=limits.MAX_RESULTS, title=N_("Results"))] = []
    certificate_no: Text(limits.MAX_SHORT, required=False, title=N_("Certificate number")) = ""
    occurred_at: When = None


class GradeInput(Input):
    """Grade a batch."""

    batch: Id(title=N_("Batch"))
    grade: Text(limits.MAX_PLACE, title=N_("Grade"))
    occurred_at: When = None


def _quantities(value: Any, info: ValidationInfo) -> list[int]:
    """Quantities as a list, or as text separated by commas, spaces or 、 (as a form sends them)."""
    items = [q for q in re.split(r"[\s,，、;；]+", fold(value)) if q] if isinstance(value, str) else list(value or [])
    if not items:
        raise _fail(REQUIRED)
    parse = _mass(True)
    return [parse(q, info) for q in items]


class SplitInput(Input):
    """Split quantities off a batch into new batches."""

    batch: Id(title=N_("Batch"))
    quantities: Annotated[list[int], Field(min_length=1, max_length=limits.MAX_SPLIT, title=N_("Quantities")), BeforeValidator(_quantities)]
    occurred_at: When = None


class MergePart(Input):
    """What a merge takes from one batch."""

    batch: Id(title=N_("Batch"))
    quantity_g: Mass(title=N_("Quantity"))


class MergeInput(Input):
    """Merge quantities of batches of one product and form into a new batch."""

    parts: Annotated[list[MergePart], Field(min_length=2, max_length=limits.MAX_MERGE, title=N_("Batches to merge"))]
    quantity_g: Annotated[Mass(title=N_("Merged quantity")) | None, BeforeValidator(lambda v: None if v in (None, "") else v)] = None
    occurred_at: When = None


class ProcessInput(Input):
    """Process part of a batch into a new batch of another form."""

    batch: Id(title=N_("Batch"))
    input_g: Mass(title=N_("Input quantity"))
    output_g: Mass(title=N_("Output quantity"))
    form: Pattern(limits.FORM, N_("a lower-case word such as dried"), title=N_("Form"))
    method: Text(limits.MAX_TEXT, required=False, title=N_("Method")) = ""
    occurred_at: When = None


class PackInput(Input):
    """Pack packages of one net weight from a batch; each gets a QR code."""

    batch: Id(title=N_("Batch"))
    count: Count(1, limits.MAX_PACK, title=N_("Number of packages"))
    net_g: Mass(title=N_("Net weight per package"))
    shelf_life_days: Annotated[Count(1, limits.MAX_SHELF_DAYS, title=N_("Shelf life (days)")) | None,
                               BeforeValidator(lambda v: None if v in (None, "") else v)] = None
    occurred_at: When = None


class StoreInput(Input):
    """Record cold storage at a facility and temperature."""

    batch: Id(title=N_("Batch"))
    facility: Text(limits.MAX_TEXT, title=N_("Facility"))
    temperature_c: Temperature
    occurred_at: When = None


class ShipInput(Input):
    """Ship a batch to another party."""

    batch: Id(title=N_("Batch"))
    to_party: Id(title=N_("Receiving party"))
    vehicle: Text(limits.MAX_VEHICLE, required=False, title=N_("Vehicle")) = ""
    occurred_at: When = None


def _codes(value: Any) -> list[str] | None:
    """Scanned or typed package codes: a textarea's lines, or a list."""
    if value is None:
        return None
    items = value.splitlines() if isinstance(value, str) else [str(v) for v in value]
    return [i.strip() for i in items if i.strip()]


Codes = Annotated[Annotated[list[Text(300, title=N_("Package codes"))], Field(max_length=limits.MAX_CODES)] | None,
                  Field(title=N_("Package codes"), description="one package code per line, as scanned or typed"),
                  BeforeValidator(_codes)]


class ReceiveInput(Input):
    """Take custody of a batch shipped to the actor's party, counting its packages: by scanning
    every unsold package that arrived (`codes`), by their ids (`packages`), or, for imports and
    machines, `all_packages`. A batch of loose fruit needs none of these."""

    batch: Id(title=N_("Batch"))
    codes: Codes = None
    packages: Annotated[Annotated[list[Id(title=N_("Packages"))], Field(max_length=limits.MAX_RECEIVE)] | None,
                        Field(title=N_("Packages")), BeforeValidator(lambda v: _ids(v))] = None
    all_packages: Annotated[YesNo, Field(title=N_("Every package arrived"))] = False
    occurred_at: When = None


def _ids(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [p for p in re.split(r"[\s,，、]+", fold(value)) if p]
    return list(value)


class SellInput(Input):
    """Sell packages of a batch, each named by its scanned code (`codes`) or by its id
    (`packages`), and/or a loose quantity; `all_unsold` sells every unsold package (imports and
    machines; the portal always names the packages a shopper takes)."""

    batch: Id(title=N_("Batch"))
    codes: Codes = None
    packages: Annotated[Annotated[list[Id(title=N_("Packages"))], Field(max_length=limits.MAX_SELL)] | None,
                        Field(title=N_("Packages")), BeforeValidator(_ids)] = None
    all_unsold: Annotated[YesNo, Field(title=N_("Every unsold package"))] = False
    # A form's empty "loose" field sells nothing loose.
    loose_g: Annotated[Mass(title=N_("Loose quantity sold"), positive=False),
                       BeforeValidator(lambda v: 0 if isinstance(v, str) and not v.strip() else v)] = 0
    occurred_at: When = None


LEVELS = ("1", "2", "3")
LEVEL_NAMES = {"1": N_("level I"), "2": N_("level II"), "3": N_("level III")}


class RecallInput(Input):
    """Recall a batch and everything made from it, at a level of the food-recall rules (1, 2 or 3)."""

    batch: Id(title=N_("Batch"))
    level: Annotated[Choice(LEVELS, title=N_("Recall level"), labels=LEVEL_NAMES), Field(description="1, 2 or 3")]
    reason: Text(limits.MAX_REASON, title=N_("Reason"))
    occurred_at: When = None


ACTIONS = ("off_sale", "returned", "destroyed")
ACTION_NAMES = {"off_sale": N_("taken off sale"), "returned": N_("returned"), "destroyed": N_("destroyed")}


class RecallActionInput(Input):
    """Record what was done with recalled stock of a batch you hold: packages (and loose fruit)
    taken off sale, returned or destroyed."""

    recall: Count(0, 10**15, title=N_("Recall"))
    batch: Id(title=N_("Batch"))
    action: Choice(ACTIONS, title=N_("What was done"), labels=ACTION_NAMES)
    packages: Annotated[Count(0, limits.MAX_SELL * 20, title=N_("Packages")),
                        BeforeValidator(lambda v: 0 if v is None or v == "" else v)] = 0  # empty: loose fruit only
    loose_g: Mass(title=N_("Loose quantity"), positive=False) = 0
    note: Text(limits.MAX_REASON, required=False, title=N_("Note")) = ""
    occurred_at: When = None


def _changes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise _fail(REQUIRED)
    return {fold(k): v for k, v in value.items()}


class CorrectInput(Input):
    """Amend fields of an earlier event of a batch; the earlier entry stays as it was."""

    batch: Id(title=N_("Batch"))
    target: Count(0, 10**15, title=N_("Entry to correct"))
    changes: Annotated[dict[str, Any], Field(title=N_("Changes")), BeforeValidator(_changes)]
    reason: Text(limits.MAX_REASON, title=N_("Reason"))
    occurred_at: When = None


__all__ = ["HarvestInput", "ResultInput", "InspectInput", "GradeInput", "SplitInput", "MergePart", "MergeInput",
           "ProcessInput", "PackInput", "StoreInput", "ShipInput", "ReceiveInput", "SellInput", "RecallInput",
           "RecallActionInput", "CorrectInput"]
