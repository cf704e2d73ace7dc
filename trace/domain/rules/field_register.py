"""The field end's register: the division list, the bureau's pesticides, platform codes, GI logo
authorisations, certifications (green food, organic, GAP), and approvals of late entries. The bureau keeps these lists as data: no code change adds a pesticide or a
village."""
from __future__ import annotations

from datetime import timedelta

from trace.clock import parse_log_time, rfc3339
from trace.domain import limits
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.events import (
    BatchPlatformCode,
    CertificationAdd,
    CertificationRevoke,
    CertificationSpec,
    Division,
    DivisionDefine,
    GIAuthorise,
    GIRevoke,
    Interval,
    LateApprove,
    PartyPlatformCode,
    PesticideDefine,
    PesticideSpec,
)
from trace.domain.inputs import (
    BatchCodeInput,
    CertificationInput,
    CertificationRevokeInput,
    DivisionInput,
    GIAuthoriseInput,
    GIRevokeInput,
    LateApproveInput,
    PartyCodeInput,
    PesticideInput,
)
from trace.domain.inputs.base import REQUIRED
from trace.domain.messages import N_
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import (
    REGULATOR,
    acting_party,
    is_regulator,
    next_id,
    regulator,
    regulator_or_admin,
    require_batch,
    require_party,
    require_plot,
    require_product,
)
from trace.domain.rules.context import Context
from trace.domain.state import (
    AuthorisationState,
    BatchCodeState,
    CertificationState,
    DivisionState,
    IdentityState,
    LateApprovalState,
    PesticideState,
    State,
)
from trace.domain.tables.field import Certification

DIVISION_TWICE = Code("division.twice", InvalidInput, N_("The division %(code)s appears twice."))
DIVISION_PARENT = Code("division.parent", RuleViolation,
                       N_("The division %(code)s belongs to %(parent)s, which is not on the list: add it first."))
DIVISION_LEVEL = Code("division.level", InvalidInput,
                      N_("%(code)s is not the code of a county, a township or a village."))
INTERVAL_TWICE = Code("pesticide.interval_twice", InvalidInput, N_("The crop %(product)s has two pre-harvest intervals."))
NOT_OWN_PARTY = Code("party.not_own", Forbidden, N_("You may record this for your own party only."))
NOT_HOLDER_CODE = Code("batch.code_not_holder", Forbidden, N_("Only the holder of batch %(lot)s or the bureau may record its trace code."))
GI_REGULATOR = Code("gi.authorise_regulator", RuleViolation, N_("The market supervision bureau does not use the GI logo itself."))
DATES_ORDER = Code("dates.order", InvalidInput, N_("The validity ends (%(until)s) before it starts (%(since)s)."))
NO_AUTHORISATION = Code("gi.no_authorisation", NotFound, N_("Entry %(entry)s is not an authorisation to use the GI logo."))
ALREADY_REVOKED = Code("revoked.already", RuleViolation, N_("This was revoked already."))
CERTIFICATION_NOT_FOUND = Code("certification.not_found", NotFound, N_("Certification %(id)s does not exist."))
PLOT_OF_ANOTHER = Code("certification.plot_of_another", RuleViolation, N_("Plot %(plot)s belongs to another party."))
APPROVAL_WINDOW = Code("late.window", InvalidInput,
                       N_("An approval runs from a time in the past to a time in the next %(days)s days."))

# -- divisions -------------------------------------------------------------------------------------


def division_level(code: str) -> str | None:
    """county (6 digits and zeros), township (9 and zeros), village (12), or None."""
    if code[6:] == "000000":
        return "county" if code[4:6] != "00" else None
    if code[9:] == "000":
        return "township"
    return "village"


def parent_code(code: str) -> str | None:
    """The division a township or village belongs to (a county belongs to none we keep)."""
    level = division_level(code)
    return {"township": code[:6] + "000000", "village": code[:9] + "000"}.get(level or "")


@command("division.define", DivisionInput)
def build_divisions(state: State, inp: DivisionInput, ctx: Context) -> Built:
    """Divisions, in the order given (parents before children)."""
    ordered = sorted(inp.divisions, key=lambda d: (d["code"][6:] != "000000", d["code"][9:] != "000", d["code"]))
    return Built(DivisionDefine(divisions=[Division(code=d["code"], name=d["name"]) for d in ordered]))


@check_of(DivisionDefine)
def check_divisions(state: State, ev: DivisionDefine, ctx: Context) -> None:
    """The bureau or the operator keeps the list; every township and village under a known parent."""
    regulator_or_admin(state, ctx)
    seen: set[str] = set()
    for d in ev.divisions:
        if d.code in seen:
            raise DIVISION_TWICE("divisions", code=d.code)
        seen.add(d.code)
        if division_level(d.code) is None:
            raise DIVISION_LEVEL("divisions", code=d.code)
        parent = parent_code(d.code)
        if parent is not None and parent not in seen and state.division(parent) is None:
            raise DIVISION_PARENT("divisions", code=d.code, parent=parent)


@apply_of(DivisionDefine)
def apply_divisions(state: State, ev: DivisionDefine, ctx: Context) -> None:
    """New divisions join the list; known ones take the new name."""
    for d in ev.divisions:
        row = state.division(d.code)
        if row is None:
            state.add(DivisionState(d.code, d.name, division_level(d.code) or ""))
        else:
            row.name = d.name


# -- pesticides ------------------------------------------------------------------------------------


@command("pesticide.define", PesticideInput)
def build_pesticide(state: State, inp: PesticideInput, ctx: Context) -> Built:
    """A pesticide with its intervals per crop."""
    return Built(PesticideDefine(pesticide=PesticideSpec(
        reg_no=inp.reg_no, name=inp.name, active_ingredient=inp.active_ingredient, banned=inp.banned,
        intervals=[Interval(product=p, days=d) for p, d in inp.intervals])))


@check_of(PesticideDefine)
def check_pesticide(state: State, ev: PesticideDefine, ctx: Context) -> None:
    """The bureau keeps the list; intervals are for crops of the catalogue, one each."""
    regulator_or_admin(state, ctx)
    seen: set[str] = set()
    for i in ev.pesticide.intervals:
        if i.product in seen:
            raise INTERVAL_TWICE("intervals", product=i.product)
        seen.add(i.product)
        require_product(state, i.product, "intervals")


@apply_of(PesticideDefine)
def apply_pesticide(state: State, ev: PesticideDefine, ctx: Context) -> None:
    """The pesticide joins the list, or changes."""
    p = ev.pesticide
    intervals = ",".join(f"{i.product}:{i.days}" for i in sorted(p.intervals, key=lambda i: i.product))
    row = state.pesticide(p.reg_no)
    if row is None:
        state.add(PesticideState(p.reg_no, p.name, p.active_ingredient, intervals, p.banned))
    else:
        row.name, row.active_ingredient, row.intervals, row.banned = p.name, p.active_ingredient, intervals, p.banned


# -- platform codes --------------------------------------------------------------------------------


@command("party.platform_code", PartyCodeInput)
def build_party_code(state: State, inp: PartyCodeInput, ctx: Context) -> Built:
    """A party's 主体码."""
    return Built(PartyPlatformCode(party_id=inp.party, code=inp.code))


@check_of(PartyPlatformCode)
def check_party_code(state: State, ev: PartyPlatformCode, ctx: Context) -> None:
    """A party records its own; the bureau or the operator anyone's."""
    require_party(state, ev.party_id)
    if not (ctx.is_admin or is_regulator(state, ctx)) and acting_party(state, ctx).id != ev.party_id:
        raise NOT_OWN_PARTY("party")


@apply_of(PartyPlatformCode)
def apply_party_code(state: State, ev: PartyPlatformCode, ctx: Context) -> None:
    """The party's code (a party registered before version 3 is an organisation)."""
    row = state.identity(ev.party_id)
    if row is None:
        state.add(IdentityState(ev.party_id, "organisation", None, ev.code))
    else:
        row.platform_code = ev.code


@command("batch.platform_code", BatchCodeInput)
def build_batch_code(state: State, inp: BatchCodeInput, ctx: Context) -> Built:
    """A lot's 追溯码."""
    return Built(BatchPlatformCode(batch=inp.batch, code=inp.code))


@check_of(BatchPlatformCode)
def check_batch_code(state: State, ev: BatchPlatformCode, ctx: Context) -> None:
    """The batch's holder, or the bureau."""
    batch = require_batch(state, ev.batch)
    if not is_regulator(state, ctx) and acting_party(state, ctx).id != batch.custodian_id:
        raise NOT_HOLDER_CODE("batch", lot=batch.lot_code)


@apply_of(BatchPlatformCode)
def apply_batch_code(state: State, ev: BatchPlatformCode, ctx: Context) -> None:
    """The lot's code (a later one replaces it)."""
    row = state.batch_code(ev.batch)
    if row is None:
        state.add(BatchCodeState(ev.batch, ev.code, ctx.index))
    else:
        row.code, row.entry = ev.code, ctx.index


# -- the GI special logo ---------------------------------------------------------------------------


@command("gi.authorise", GIAuthoriseInput)
def build_authorise(state: State, inp: GIAuthoriseInput, ctx: Context) -> Built:
    """An authorisation as announced."""
    return Built(GIAuthorise(party_id=inp.party, product=inp.product, announcement=inp.announcement,
                             valid_from=inp.valid_from, valid_until=inp.valid_until))


@check_of(GIAuthorise)
def check_authorise(state: State, ev: GIAuthorise, ctx: Context) -> None:
    """The bureau (or the operator) records who may use the logo on which product, for when."""
    regulator_or_admin(state, ctx)
    party = require_party(state, ev.party_id, "party")
    if party.kind == REGULATOR:
        raise GI_REGULATOR("party")
    require_product(state, ev.product)
    if ev.valid_until is not None and ev.valid_until < ev.valid_from:
        raise DATES_ORDER("valid_until", since=ev.valid_from, until=ev.valid_until)


@apply_of(GIAuthorise)
def apply_authorise(state: State, ev: GIAuthorise, ctx: Context) -> None:
    """The authorisation, known by its entry."""
    state.add(AuthorisationState(ctx.index, ev.party_id, ev.product, ev.announcement, ev.valid_from, ev.valid_until, None))


@command("gi.revoke", GIRevokeInput)
def build_revoke(state: State, inp: GIRevokeInput, ctx: Context) -> Built:
    """The end of an authorisation."""
    return Built(GIRevoke(authorisation=inp.authorisation, reason=inp.reason))


@check_of(GIRevoke)
def check_revoke(state: State, ev: GIRevoke, ctx: Context) -> None:
    """The bureau ends an authorisation that is in force."""
    regulator_or_admin(state, ctx)
    row = state.authorisation(ev.authorisation)
    if row is None:
        raise NO_AUTHORISATION("authorisation", entry=ev.authorisation)
    if row.revoked_entry is not None:
        raise ALREADY_REVOKED("authorisation")


@apply_of(GIRevoke)
def apply_revoke(state: State, ev: GIRevoke, ctx: Context) -> None:
    """The authorisation ends with this entry."""
    row = state.authorisation(ev.authorisation)
    assert row is not None
    row.revoked_entry = ctx.index


# -- certifications --------------------------------------------------------------------------------


@command("certification.add", CertificationInput)
def build_certification(state: State, inp: CertificationInput, ctx: Context) -> Built:
    """A certification with the next free id."""
    return Built(CertificationAdd(certification=CertificationSpec(
        id=state.next_id(Certification), party_id=inp.party, plot=inp.plot, scheme=inp.scheme, number=inp.number,
        issuer=inp.issuer, scope=inp.scope, valid_from=inp.valid_from, valid_until=inp.valid_until)))


@check_of(CertificationAdd)
def check_certification(state: State, ev: CertificationAdd, ctx: Context) -> None:
    """Its holder records it, or the bureau; a plot's must be the holder's plot."""
    c = ev.certification
    require_party(state, c.party_id, "party")
    if not (ctx.is_admin or is_regulator(state, ctx)) and acting_party(state, ctx).id != c.party_id:
        raise NOT_OWN_PARTY("party")
    if c.plot is not None and require_plot(state, c.plot).party_id != c.party_id:
        raise PLOT_OF_ANOTHER("plot", plot=c.plot)
    if c.valid_until < c.valid_from:
        raise DATES_ORDER("valid_until", since=c.valid_from, until=c.valid_until)
    next_id(state, Certification, c.id, N_("certification"))


@apply_of(CertificationAdd)
def apply_certification(state: State, ev: CertificationAdd, ctx: Context) -> None:
    """The certification is on record."""
    c = ev.certification
    state.add(CertificationState(c.id, c.party_id, c.plot, c.scheme, c.number, c.issuer, c.scope, c.valid_from,
                                 c.valid_until, ctx.index, None))


@command("certification.revoke", CertificationRevokeInput)
def build_certification_revoke(state: State, inp: CertificationRevokeInput, ctx: Context) -> Built:
    """A revocation."""
    return Built(CertificationRevoke(id=inp.id, reason=inp.reason))


@check_of(CertificationRevoke)
def check_certification_revoke(state: State, ev: CertificationRevoke, ctx: Context) -> None:
    """The bureau records a revocation, once."""
    regulator(state, ctx)
    row = state.certification(ev.id)
    if row is None:
        raise CERTIFICATION_NOT_FOUND("id", id=ev.id)
    if row.revoked_entry is not None:
        raise ALREADY_REVOKED("id")


@apply_of(CertificationRevoke)
def apply_certification_revoke(state: State, ev: CertificationRevoke, ctx: Context) -> None:
    """Revoked by this entry."""
    row = state.certification(ev.id)
    assert row is not None
    row.revoked_entry = ctx.index


# -- late entries ----------------------------------------------------------------------------------


@command("late.approve", LateApproveInput)
def build_late(state: State, inp: LateApproveInput, ctx: Context) -> Built:
    """An approval, open for 7 days unless said otherwise."""
    if inp.earliest is None:
        raise REQUIRED("earliest")
    until = rfc3339(inp.until) if inp.until is not None else rfc3339(ctx.now + timedelta(days=limits.LATE_DAYS))
    return Built(LateApprove(party_id=inp.party, batch=inp.batch, plot=inp.plot, earliest=rfc3339(inp.earliest),
                             until=until, reason=inp.reason))


@check_of(LateApprove)
def check_late(state: State, ev: LateApprove, ctx: Context) -> None:
    """The bureau approves, for a party, about its batch or plot, from a past time to a near one."""
    regulator(state, ctx)
    require_party(state, ev.party_id, "party")
    if ev.batch is not None:
        require_batch(state, ev.batch)
    if ev.plot is not None:
        require_plot(state, ev.plot)
    latest = rfc3339(parse_log_time(ctx.recorded_at) + timedelta(days=limits.MAX_APPROVAL_DAYS))
    if not (ev.earliest <= ctx.recorded_at <= ev.until <= latest):
        raise APPROVAL_WINDOW("until", days=limits.MAX_APPROVAL_DAYS)


@apply_of(LateApprove)
def apply_late(state: State, ev: LateApprove, ctx: Context) -> None:
    """The approval stands until its end."""
    state.add(LateApprovalState(ctx.index, ev.party_id, ev.batch, ev.plot, ev.earliest, ev.until, ev.reason))
