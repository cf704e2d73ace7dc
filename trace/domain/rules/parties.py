"""The register: parties, the quality-credit list, growers' plots and logins.

From version 3 a party is an organisation (its credit code) or a natural person: a household
grower has an identity card, not a credit code. The log then holds a masked name and a salted
commitment to the name and identity number (see identifiers.commitment); the number itself
stays in party_persons_private and only its last four characters are ever shown. A plot may be
registered by its village's division code, which must be on the division list."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from trace.clock import china_date
from trace.domain.errors import Code, Forbidden, InvalidInput, NotFound, RuleViolation
from trace.domain.events import (
    Entry,
    PartyCredit,
    PartyRegister,
    PartySpec,
    PlotRegister,
    PlotSpec,
    UserBind,
    UserCreate,
)
from trace.domain.identifiers import (
    commitment,
    location_value,
    masked_name,
    new_pseudonym,
    new_salt,
    person_value,
    uscc_problem,
)
from trace.domain.inputs import BindInput, CreditInput, PartyInput, PlotInput, UserInput
from trace.domain.messages import N_
from trace.domain.passwords import check_password, check_username, hash_password
from trace.domain.rules import Built, apply_of, check_of, command
from trace.domain.rules.common import (
    BUYER,
    GROWER,
    REGULATOR,
    acting_party,
    is_regulator,
    next_id,
    regulator,
    regulator_or_admin,
    require_party,
)
from trace.domain.rules.context import Context
from trace.domain.state import DbState, IdentityState, PartyState, PlotState, State, UserState
from trace.domain.tables.field import PartyPerson
from trace.domain.tables.parties import Party, PartyContact, Plot, PlotLocation, User

USCC_TAKEN = Code("party.uscc_taken", RuleViolation, N_("A party with this credit code is already registered."))
PLOT_GROWERS_ONLY = Code("plot.growers_only", RuleViolation, N_("Plots belong to growers and cooperatives only."))
PLOT_OWN_ONLY = Code("plot.own_only", Forbidden, N_("You may register plots of your own party only."))
COORDINATES_PAIR = Code("input.coordinates_pair", InvalidInput, N_("Give both latitude and longitude, or neither."))
USERNAME_TAKEN = Code("user.taken", RuleViolation, N_("The username %(name)s is taken."))
USER_ADMIN_ONLY = Code("user.admin_only", Forbidden, N_("Only an administrator may manage user accounts."))
USER_NEEDS_PARTY = Code("user.needs_party", InvalidInput, N_("Choose the party this user acts for."))
USER_BUREAU = Code("user.bureau_only", Forbidden,
                   N_("Logins of the market supervision bureau are made by the bureau itself, not by an administrator."))
USER_TWICE = Code("log.user_twice", RuleViolation, N_("The login %(user)s is created twice."))
USER_NOT_FOUND = Code("user.not_found", NotFound, N_("There is no login %(user)s."))
CREDIT_DATES = Code("credit.dates", RuleViolation, N_("The credit status cannot end (%(end)s) before it starts (%(start)s)."))
CREDIT_START = Code("credit.start_missing", RuleViolation, N_("A change of credit status says from which day it holds."))
USCC_REQUIRED = Code("party.uscc_required", InvalidInput, N_("An organisation is registered with its unified social credit code."))
ID_NUMBER_REQUIRED = Code("party.id_number_required", InvalidInput,
                          N_("A natural person is registered with the number of their identity card."))
PERSON_NO_USCC = Code("party.person_uscc", RuleViolation, N_("A natural person has no unified social credit code."))
PERSON_COMMITMENT = Code("log.person_commitment", RuleViolation,
                         N_("A natural person is registered with a commitment to their identity, an organisation without."))
PERSON_TAKEN = Code("party.person_taken", RuleViolation, N_("A person with this identity number is already registered."))
PERSON_KIND = Code("party.person_kind", RuleViolation, N_("A natural person may be registered as a grower or a produce buyer only."))
DIVISION_UNKNOWN = Code("plot.division_unknown", RuleViolation, N_("The division code %(code)s is not on the division list."))
DIVISION_NOT_VILLAGE = Code("plot.division_level", RuleViolation, N_("A plot is registered by its village's division code; %(code)s is not a village's."))
DIVISION_NAMES = Code("log.division_names", RuleViolation,
                      N_("The plot is named %(got)s, but its division code says %(expected)s."))
PLACE_REQUIRED = Code("plot.place_required", InvalidInput, N_("Give the village's division code, or its township and village."))


# -- parties -----------------------------------------------------------------------------------


def _store_contact(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    assert isinstance(entry.event, PartyRegister)
    person = private.pop("person", None)
    conn.execute(insert(PartyContact.__table__), {"party_id": entry.event.party.id, **private})  # type: ignore[arg-type]
    if person:
        conn.execute(insert(PartyPerson.__table__), {"party_id": entry.event.party.id, **person})  # type: ignore[arg-type]


@command("party.register", PartyInput, store=_store_contact)
def build_party(state: State, inp: PartyInput, ctx: Context) -> Built:
    """A new party, with the next free id; its contact details (and a person's name and identity
    number) stay out of the log."""
    private: dict[str, Any] = {"phone": inp.phone, "address": inp.address}
    name, uscc, person = inp.name, inp.uscc, None
    if inp.form == "person":
        if inp.id_number is None:
            raise ID_NUMBER_REQUIRED("id_number")
        if uscc is not None:
            raise PERSON_NO_USCC("uscc")
        if isinstance(state, DbState) and state.person_taken(inp.id_number):
            raise PERSON_TAKEN("id_number")
        salt = new_salt()
        private["person"] = {"name": inp.name, "id_number": inp.id_number, "salt": salt}
        name, person = masked_name(inp.name), commitment("person", salt, person_value(inp.name, inp.id_number))
    elif uscc is None:
        raise USCC_REQUIRED("uscc")
    return Built(PartyRegister(party=PartySpec(
        id=state.next_id(Party), kind=inp.kind, name=name, uscc=uscc, township=inp.township,
        gi_logo=inp.gi_logo, form=inp.form, person=person, platform_code=inp.platform_code)), private)


@check_of(PartyRegister)
def check_party(state: State, ev: PartyRegister, ctx: Context) -> None:
    """Parties are registered by the bureau or an administrator, one per credit code."""
    regulator_or_admin(state, ctx)
    p = ev.party
    if p.form == "person":
        if p.uscc is not None:
            raise PERSON_NO_USCC("uscc")
        if p.person is None:
            raise PERSON_COMMITMENT(None)
        if p.kind not in (GROWER, BUYER):
            raise PERSON_KIND("kind")
    else:
        if p.person is not None or p.uscc is None:
            raise PERSON_COMMITMENT(None)
        problem = uscc_problem(p.uscc)
        if problem:
            raise problem
        if state.party_with_uscc(p.uscc) is not None:
            raise USCC_TAKEN("uscc")
    next_id(state, Party, p.id, N_("party"))


@apply_of(PartyRegister)
def apply_party(state: State, ev: PartyRegister, ctx: Context) -> None:
    """The party joins the register with a normal credit status."""
    p = ev.party
    state.add(PartyState(p.id, p.kind, p.name, p.uscc, p.township, p.gi_logo, "normal", ""))
    if "form" in p.model_fields_set:  # version 3 says what it is
        state.add(IdentityState(p.id, p.form or "organisation", p.person, p.platform_code))


@command("party.credit", CreditInput)
def build_credit(state: State, inp: CreditInput, ctx: Context) -> Built:
    """A change of a party's place on the credit list, from a day (today when none is given)."""
    start = inp.start or china_date(ctx.recorded_at).isoformat()
    return Built(PartyCredit(party_id=inp.party, status=inp.status, reason=inp.reason, start=start, end=inp.end))


@check_of(PartyCredit)
def check_credit(state: State, ev: PartyCredit, ctx: Context) -> None:
    """The credit list is the bureau's alone, not the operator's; from version 3 each change
    says from which day it holds, and ends (if it does) no earlier."""
    regulator(state, ctx)
    require_party(state, ev.party_id)
    if ctx.version >= 3:
        if ev.start is None:
            raise CREDIT_START("start")
        if ev.end is not None and ev.end < ev.start:
            raise CREDIT_DATES("end", start=ev.start, end=ev.end)


@apply_of(PartyCredit)
def apply_credit(state: State, ev: PartyCredit, ctx: Context) -> None:
    """The party's status, its reason and the days it holds (before version 3: from the day it
    was recorded, with no end)."""
    party = state.party(ev.party_id)
    assert party is not None
    party.credit_status, party.credit_reason = ev.status, ev.reason
    if ctx.version >= 3:
        party.credit_start, party.credit_end = (ev.start, ev.end) if ev.status != "normal" else (None, None)


# -- plots -----------------------------------------------------------------------------------------


def _store_location(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    if private:
        assert isinstance(entry.event, PlotRegister)
        conn.execute(insert(PlotLocation.__table__), {"plot_id": entry.event.plot.id, **private})  # type: ignore[arg-type]


@command("plot.register", PlotInput, store=_store_location)
def build_plot(state: State, inp: PlotInput, ctx: Context) -> Built:
    """A new plot; the log holds a salted commitment to its coordinates, never the coordinates."""
    if (inp.lat is None) != (inp.lon is None):
        raise COORDINATES_PAIR("lat" if inp.lat is None else "lon")
    private: dict[str, Any] = {}
    location = None
    if inp.lat is not None and inp.lon is not None:
        private = {"lat_micro": inp.lat, "lon_micro": inp.lon, "salt": new_salt()}
        location = commitment("plot-location", private["salt"], location_value(inp.lat, inp.lon))
    township, village = inp.township, inp.village
    if inp.division is not None:
        named = division_names(state, inp.division)
        if named is None:
            raise DIVISION_UNKNOWN("division", code=inp.division)
        township, village = named
    elif not (township and village):
        raise PLACE_REQUIRED("village" if township else "township")
    return Built(PlotRegister(plot=PlotSpec(
        id=state.next_id(Plot), party_id=inp.party, township=township, village=village,
        area_centimu=inp.area_mu, location=location, division=inp.division)), private)


def division_names(state: State, code: str) -> tuple[str, str] | None:
    """The (township, village) names of a village's division code, as the list has them now."""
    village = state.division(code)
    township = state.division(code[:9] + "000")
    if village is None or township is None or village.level != "village":
        return None
    return township.name, village.name


@check_of(PlotRegister)
def check_plot(state: State, ev: PlotRegister, ctx: Context) -> None:
    """A grower registers its own plots; an administrator any grower's."""
    owner = require_party(state, ev.plot.party_id)
    if owner.kind != GROWER:
        raise PLOT_GROWERS_ONLY("party")
    if not ctx.is_admin and ctx.party_id != owner.id:
        raise PLOT_OWN_ONLY("party")
    code = ev.plot.division
    if code is not None:
        found = state.division(code)
        if found is None:
            raise DIVISION_UNKNOWN("division", code=code)
        if found.level != "village":
            raise DIVISION_NOT_VILLAGE("division", code=code)
        names = division_names(state, code)
        if names != (ev.plot.township, ev.plot.village):
            raise DIVISION_NAMES(None, got=f"{ev.plot.township}{ev.plot.village}", expected="".join(names or ("?",)))
    next_id(state, Plot, ev.plot.id, N_("plot"))


@apply_of(PlotRegister)
def apply_plot(state: State, ev: PlotRegister, ctx: Context) -> None:
    """The plot joins its grower's register."""
    p = ev.plot
    state.add(PlotState(p.id, p.party_id, p.township, p.village, p.area_centimu, p.lat_micro, p.lon_micro, p.location,
                        p.division))


# -- logins ------------------------------------------------------------------------------------------


def _prepare_user(inp: UserInput) -> dict[str, Any]:
    name = check_username(inp.username)
    return {"username": name, "password_hash": hash_password(check_password(inp.password, name))}


def _store_user(conn: Connection, entry: Entry, private: dict[str, Any]) -> None:
    assert isinstance(entry.event, UserCreate)
    t = User.__table__  # type: ignore[attr-defined]
    conn.execute(update(t).where(t.c.pseudonym == entry.event.user).values(**private))


@command("user.create", UserInput, prepare=_prepare_user, store=_store_user)
def build_user(state: State, inp: UserInput, ctx: Context) -> Built:
    """A login with a fresh pseudonym; its username and password hash stay out of the log."""
    name = check_username(inp.username)
    if isinstance(state, DbState) and state.username_taken(name):
        raise USERNAME_TAKEN("username", name=name)
    return Built(UserCreate(user=new_pseudonym(), party_id=inp.party, admin=inp.admin))


@check_of(UserCreate)
def check_user(state: State, ev: UserCreate, ctx: Context) -> None:
    """Administrators make logins (the console too); the bureau's logins are the bureau's."""
    target = require_party(state, ev.party_id) if ev.party_id is not None else None
    if ev.party_id is None and not ev.admin:
        raise USER_NEEDS_PARTY("party")
    console = ctx.party_id is None and ctx.user is None
    if target is not None and target.kind == REGULATOR and not console:
        if not (is_regulator(state, ctx) and acting_party(state, ctx).id == target.id and not ev.admin):
            raise USER_BUREAU("party")
    elif not ctx.is_admin:
        raise USER_ADMIN_ONLY()
    if state.user(ev.user) is not None:
        raise USER_TWICE(None, user=ev.user)


@apply_of(UserCreate)
def apply_user(state: State, ev: UserCreate, ctx: Context) -> None:
    """The login exists (the command then sets its username and password)."""
    state.add(UserState(ev.user, ev.party_id, ev.admin, ctx.index))


def bureau_logins(state: State, ctx: Context, *parties: int | None) -> None:
    """Logins of the market supervision bureau are the bureau's: an administrator neither makes
    nor changes them (the operator's console still may: it holds the database anyway)."""
    console = ctx.party_id is None and ctx.user is None
    for pid in parties:
        target = state.party(pid) if pid is not None else None
        if target is not None and target.kind == REGULATOR and not console:
            if not (is_regulator(state, ctx) and acting_party(state, ctx).id == target.id):
                raise USER_BUREAU("party")


@command("user.bind", BindInput)
def build_bind(state: State, inp: BindInput, ctx: Context) -> Built:
    """Bind a login (named by its username, logged by its pseudonym) to a party, or unbind it."""
    name = check_username(inp.username)
    pseudonym = state.pseudonym_of(name) if isinstance(state, DbState) else None
    if pseudonym is None:
        raise USER_NOT_FOUND("username", user=name)
    return Built(UserBind(user=pseudonym, party_id=inp.party))


@check_of(UserBind)
def check_bind(state: State, ev: UserBind, ctx: Context) -> None:
    """Administrators bind logins (the bureau its own); no one moves a login into or out of the
    bureau but the bureau."""
    login = state.user(ev.user)
    if login is None:
        raise USER_NOT_FOUND("username", user=ev.user)
    if ev.party_id is not None:
        require_party(state, ev.party_id)
    bureau_logins(state, ctx, login.party_id, ev.party_id)
    bureau = any(state.party(p) is not None and state.party(p).kind == REGULATOR  # type: ignore[union-attr]
                 for p in (login.party_id, ev.party_id) if p is not None)
    if not ctx.is_admin and not bureau:
        raise USER_ADMIN_ONLY()


@apply_of(UserBind)
def apply_bind(state: State, ev: UserBind, ctx: Context) -> None:
    """The login acts for its new party, or for none."""
    login = state.user(ev.user)
    assert login is not None
    login.party_id = ev.party_id
