"""Events of a batch's journey: harvest, inspection, grading, transformations, storage, custody,
packing, sale, recall and correction."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trace.domain import limits
from trace.domain.events.base import (
    Event,
    Grams,
    GramsOrZero,
    Hex64,
    Id,
    LogTime,
    Model,
    NewLot,
    NewLotQuantity,
    Season,
    Since,
    Until,
    text,
)
from trace.domain.events.field import NewCertificate


class Harvest(Event):
    """A grower harvests fruit of a GI product from its own plot: a new batch."""

    type: Literal["harvest"] = "harvest"
    batch: NewLot
    product: Annotated[str, Field(pattern=f"^{limits.PRODUCT_ID}$")]
    plot: Id
    quantity_g: Grams
    season: Season
    occurred_at: LogTime


class Result(Model):
    """One row of an inspection report: what was tested, the value, its limit, and whether it is
    within the limit."""

    name: text(80)
    value: text(40, required=False)
    limit: text(40, required=False)
    unit: text(20, required=False)
    pass_: Annotated[bool, Field(alias="pass")]

    model_config = Model.model_config | {"populate_by_name": True, "serialize_by_alias": True}


class Inspect(Event):
    """An inspection of a batch with its verdict. From version 2 it says whose it is: the bureau's
    official sampling (监督抽检) or a custodian's own check (自检)."""

    type: Literal["inspect"] = "inspect"
    batch: Id
    kind: Annotated[Literal["official", "self"] | None, Since(2)] = None
    lab: text(limits.MAX_TEXT)
    report_no: text(limits.MAX_SHORT)
    passed: bool
    results: Annotated[list[Result], Field(max_length=limits.MAX_RESULTS)]
    certificate_no: text(limits.MAX_SHORT, required=False)
    occurred_at: LogTime


class Grade(Event):
    """A batch is graded (特级, 一级 ...)."""

    type: Literal["grade"] = "grade"
    batch: Id
    grade: text(limits.MAX_PLACE)
    occurred_at: LogTime


class Split(Event):
    """Part of a batch becomes new batches."""

    type: Literal["split"] = "split"
    batch: Id
    children: Annotated[list[NewLotQuantity], Field(min_length=1, max_length=limits.MAX_SPLIT)]
    occurred_at: LogTime
    # From version 3: the new certificate of each child, linking the parent's (when it has one).
    certificates: Annotated[list[NewCertificate], Since(3), Field(max_length=limits.MAX_SPLIT)] = []


class Part(Model):
    """What a merge takes from one batch."""

    id: Id
    quantity_g: Grams


class Merge(Event):
    """Quantities of batches of one product and form become one new batch."""

    type: Literal["merge"] = "merge"
    batches: Annotated[list[Part], Field(min_length=2, max_length=limits.MAX_MERGE)]
    child: NewLotQuantity
    occurred_at: LogTime
    certificates: Annotated[list[NewCertificate], Since(3), Field(max_length=1)] = []  # see Split


class Process(Event):
    """Part of a batch is processed into a new batch of another form (dried dates ...)."""

    type: Literal["process"] = "process"
    batch: Id
    input_g: Grams
    form: Annotated[str, Field(pattern=f"^{limits.FORM}$")]
    method: text(limits.MAX_TEXT, required=False)
    yield_permille: Annotated[int, Field(ge=0, le=1000)]
    child: NewLotQuantity
    occurred_at: LogTime
    certificates: Annotated[list[NewCertificate], Since(3), Field(max_length=1)] = []  # see Split


class NewPackage(Model):
    """A package a pack event issues: the log holds the SHA-256 of its serial, never the serial."""

    id: Id
    net_g: Grams
    serial_hash: Hex64


class Pack(Event):
    """Packages with QR codes are issued from a batch."""

    type: Literal["pack"] = "pack"
    batch: Id
    occurred_at: LogTime
    packages: Annotated[list[NewPackage], Field(min_length=1, max_length=limits.MAX_PACK)]
    # From version 3: the shelf life printed on the labels (Art. 38), in days, when the packer gives it.
    shelf_life_days: Annotated[int | None, Since(3), Field(ge=1, le=limits.MAX_SHELF_DAYS)] = None


class Store(Event):
    """A batch is in cold storage at a facility and temperature (tenths of a degree)."""

    type: Literal["store"] = "store"
    batch: Id
    facility: text(limits.MAX_TEXT)
    temperature_dc: Annotated[int, Field(ge=limits.TEMPERATURE_TENTHS[0], le=limits.TEMPERATURE_TENTHS[1])]
    occurred_at: LogTime


class Ship(Event):
    """A batch leaves for another party. Version 1 logged the vehicle's plate; from version 2 the
    log holds a salted commitment to it (the plate and salt stay in the state tables)."""

    type: Literal["ship"] = "ship"
    batch: Id
    to_party: Id
    vehicle: Annotated[str | None, Until(1), Field(max_length=limits.MAX_VEHICLE)] = None
    vehicle_commitment: Annotated[Hex64 | None, Since(2)] = None
    occurred_at: LogTime


class Receive(Event):
    """The party a batch was shipped to takes custody of it. From version 3 it lists the packages
    the receiver scanned on arrival (every unsold package of the batch; none for loose fruit) and
    records the certificate that came with it (None: the batch has none)."""

    type: Literal["receive"] = "receive"
    batch: Id
    packages: Annotated[list[Id] | None, Since(3), Field(max_length=limits.MAX_RECEIVE)] = None
    occurred_at: LogTime
    certificate: Annotated[Id | None, Since(3)] = None


class Sell(Event):
    """Packages of a batch (by id) and/or loose grams are sold."""

    type: Literal["sell"] = "sell"
    batch: Id
    packages: Annotated[list[Id], Field(max_length=limits.MAX_SELL)]
    loose_g: GramsOrZero
    occurred_at: LogTime


class Recall(Event):
    """A batch and every batch made from it (`affected`) are recalled. From version 3 a recall has
    its level under the food-recall rules (食品召回管理办法: I, II or III) and the deadlines that
    follow from it: holders start by `start_by` (24, 48 or 72 hours) and finish by `end_by` (the
    end of the 10th, 20th or 30th working day, Beijing time)."""

    type: Literal["recall"] = "recall"
    batch: Id
    reason: text(limits.MAX_REASON)
    affected: Annotated[list[Id], Field(min_length=1)]
    level: Annotated[Annotated[int, Field(ge=1, le=3)] | None, Since(3)] = None
    start_by: Annotated[LogTime | None, Since(3)] = None
    end_by: Annotated[LogTime | None, Since(3)] = None
    occurred_at: LogTime


class RecallAction(Event):
    """A holder of recalled stock records what it did with it: took packages (and loose fruit) off
    sale (下架), returned them (退回) or destroyed them (销毁), with the counts."""

    type: Literal["recall.action"] = "recall.action"
    recall: Annotated[int, Field(ge=0)]  # the entry of the recall
    batch: Id
    action: Literal["off_sale", "returned", "destroyed"]
    packages: Annotated[int, Field(ge=0, le=limits.MAX_SELL * 20)]
    loose_g: GramsOrZero
    note: text(limits.MAX_REASON, required=False)
    occurred_at: LogTime


class Correct(Event):
    """A later entry amends fields of an earlier event of a batch; the earlier entry stays."""

    type: Literal["correct"] = "correct"
    batch: Id
    target: Annotated[int, Field(ge=0)]
    changes: Annotated[dict[str, str | int], Field(min_length=1, max_length=10)]
    reason: text(limits.MAX_REASON)
    occurred_at: LogTime

