"""Events of the field end and of what the law asks around it: the division list, the bureau's
pesticide list, farming records on plots, 承诺达标合格证 certificates, platform identifiers,
GI logo authorisations, certifications (green food, organic, GAP) and approved late entries. All of them are new in encoding version 3."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trace.domain import limits
from trace.domain.events.base import Event, Grams, Hex64, Id, LogTime, Model, text

Division12 = Annotated[str, Field(pattern=r"^\d{12}$")]  # 统计用区划代码: province..village
LogDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]  # a calendar day (Beijing)
RegNo = Annotated[str, Field(pattern=f"^{limits.PESTICIDE_REG}$")]  # 农药登记证号, e.g. PD20080123
PlatformCode = Annotated[str, Field(pattern=f"^{limits.PLATFORM_CODE}$")]  # 主体码 / 追溯码
ProductId = Annotated[str, Field(pattern=f"^{limits.PRODUCT_ID}$")]
Basis = Literal["control", "own_test", "commissioned_test"]  # 质量安全控制 / 自行检测 / 委托检测
WORK_KINDS = ("prune", "irrigate", "thin", "bag", "flower", "fruit_set", "pest_seen", "other")
SprayAlert = Literal["banned", "off_label", "harvested_within_interval"]


class Division(Model):
    """One administrative division: its 12-digit code and its name."""

    code: Division12
    name: text(limits.MAX_PLACE)


class DivisionDefine(Event):
    """The bureau (or the operator) adds divisions to the list, or renames them."""

    type: Literal["division.define"] = "division.define"
    divisions: Annotated[list[Division], Field(min_length=1, max_length=limits.MAX_DIVISIONS)]


class Interval(Model):
    """A pesticide's pre-harvest interval (安全间隔期) on one crop, in days."""

    product: ProductId
    days: Annotated[int, Field(ge=0, le=limits.MAX_INTERVAL_DAYS)]


class PesticideSpec(Model):
    """A pesticide as the bureau keeps it: registration number, name, active ingredient, its
    pre-harvest interval per crop, and whether it is banned."""

    reg_no: RegNo
    name: text(100)
    active_ingredient: text(limits.MAX_TEXT)
    intervals: Annotated[list[Interval], Field(max_length=50)]
    banned: bool


class PesticideDefine(Event):
    """The bureau adds a pesticide to its list or changes one."""

    type: Literal["pesticide.define"] = "pesticide.define"
    pesticide: PesticideSpec


class FarmSpray(Event):
    """Pest control on a plot: the pesticide, dose, area treated and the pest; the operator is a
    person, so the log holds a salted commitment to the name. `alerts` tell the bureau what the
    rules found (a banned pesticide, one not registered for the crop, a harvest already made within
    its interval): the truth can always be recorded, never without the alert."""

    type: Literal["farm.spray"] = "farm.spray"
    plot: Id
    product: ProductId  # the crop sprayed
    pesticide: RegNo
    dose: text(60)
    area_centimu: Annotated[int, Field(gt=0, le=limits.MAX_CENTIMU)]
    target: text(100, required=False)
    operator: Hex64 | None
    alerts: Annotated[list[SprayAlert], Field(max_length=3)]
    occurred_at: LogTime


class FarmFertilise(Event):
    """Fertilising a plot: the fertiliser, where it came from, grams per mu and the area."""

    type: Literal["farm.fertilise"] = "farm.fertilise"
    plot: Id
    name: text(100)
    source: text(limits.MAX_TEXT, required=False)
    amount_g_per_mu: Grams
    area_centimu: Annotated[int, Field(gt=0, le=limits.MAX_CENTIMU)]
    occurred_at: LogTime


class FarmWork(Event):
    """Other work and notes on a plot: pruning, irrigation, thinning, bagging apples, flowering,
    fruit set, pests seen."""

    type: Literal["farm.work"] = "farm.work"
    plot: Id
    kind: Literal["prune", "irrigate", "thin", "bag", "flower", "fruit_set", "pest_seen", "other"]
    note: text(limits.MAX_TEXT, required=False)
    occurred_at: LogTime


class NewCertificate(Model):
    """A 承诺达标合格证 for one production batch: its issuer is the entry's party; `sources` are the
    certificates it replaces after a split, merge or processing (the chain)."""

    id: Id
    batch: Id
    basis: Basis
    quantity_g: Grams
    sources: Annotated[list[Id], Field(max_length=limits.MAX_MERGE)]


class CertificateIssue(Event):
    """The holder of a batch issues its certificate (a grower, for a harvest)."""

    type: Literal["certificate.issue"] = "certificate.issue"
    certificate: NewCertificate
    occurred_at: LogTime


class PartyPlatformCode(Event):
    """A party's 主体码 on the national traceability platform."""

    type: Literal["party.platform_code"] = "party.platform_code"
    party_id: Id
    code: PlatformCode


class BatchPlatformCode(Event):
    """A lot's 追溯码 on the national traceability platform."""

    type: Literal["batch.platform_code"] = "batch.platform_code"
    batch: Id
    code: PlatformCode


class GIAuthorise(Event):
    """The bureau records that a party may use the GI special logo (地理标志专用标志) on a product,
    with the announcement it was published in and its validity."""

    type: Literal["gi.authorise"] = "gi.authorise"
    party_id: Id
    product: ProductId
    announcement: text(limits.MAX_TEXT)
    valid_from: LogDate
    valid_until: LogDate | None


class GIRevoke(Event):
    """An authorisation to use the GI logo ends (`authorisation` is the entry that made it)."""

    type: Literal["gi.revoke"] = "gi.revoke"
    authorisation: Annotated[int, Field(ge=0)]
    reason: text(limits.MAX_REASON)


class CertificationSpec(Model):
    """A certificate of a scheme (green food, organic, GAP) held by a party, for one plot or all."""

    id: Id
    party_id: Id
    plot: Id | None
    scheme: Literal["green_food", "organic", "gap"]
    number: text(limits.MAX_SHORT)
    issuer: text(limits.MAX_TEXT)
    scope: text(limits.MAX_TEXT)
    valid_from: LogDate
    valid_until: LogDate


class CertificationAdd(Event):
    """A certification is recorded, by its holder or the bureau."""

    type: Literal["certification.add"] = "certification.add"
    certification: CertificationSpec


class CertificationRevoke(Event):
    """The bureau records that a certification was revoked."""

    type: Literal["certification.revoke"] = "certification.revoke"
    id: Id
    reason: text(limits.MAX_REASON)


class LateApprove(Event):
    """The bureau approves late entries of a party (about one batch or plot, or all of its own):
    what happened from `earliest` on may be recorded until `until`."""

    type: Literal["late.approve"] = "late.approve"
    party_id: Id
    batch: Id | None
    plot: Id | None
    earliest: LogTime
    until: LogTime
    reason: text(limits.MAX_REASON)
