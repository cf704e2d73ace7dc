"""The live path: one command, one transaction.

`Trace.run(name, actor, data)` parses the command's typed input, then in ONE database transaction:
takes the log's write lock, builds the event from the input and the state, CHECKS it against the
state and the acting party, appends it to the log, APPLIES exactly what the log holds to the state
tables, stores what must stay out of the log (serials, salts, contact details), signs a checkpoint
and commits. A refusal raises a DomainError and writes nothing.

A command may carry a one-time token (`once`: the hidden token of the portal form it came from),
its idempotency key: under the same lock the token is looked up, and a second command with the
token records nothing and answers with the first one's result (a clerk who presses submit twice
records one event). Tokens are kept out of the log, in form_submissions, for a week.

The methods below `run` (register_harvest, ship, ...) are the same commands with Python arguments,
for the demo, the benchmarks and the tests."""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.clock import Clock, parse_log_time, rfc3339
from trace.db import write_session
from trace.domain import events, inputs, rules
from trace.domain.actors import SYSTEM, Actor
from trace.domain.errors import Code, InvalidInput
from trace.domain.events import Entry, Event
from trace.domain.messages import N_
from trace.domain.rules import COMMANDS, Command
from trace.domain.rules.context import Context
from trace.domain.state import DbState
from trace.domain.tables.operations import FormSubmission
from trace.ledger.store import Head, Ledger, Staged

UNKNOWN_COMMAND = Code("command.unknown", InvalidInput, N_("There is no command %(name)s."))
ONCE_FORMAT = Code("form.once_format", InvalidInput,
                   N_("The form's one-time token is damaged: reload the page and fill the form in again."))
ONCE_OTHER = Code("form.once_other", InvalidInput,
                  N_("This form was already used for something else: reload the page and fill it in again."))
ONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
ONCE_DAYS = 7  # how long a form's token is remembered


def new_once() -> str:
    """A fresh one-time token for a form."""
    return secrets.token_urlsafe(18)

__all__ = ["Trace", "Tx", "Result", "NewBatch", "NewPackage", "SYSTEM", "Actor", "COMMANDS", "new_once"]


@dataclass(frozen=True)
class Result:
    """What a command did: its entry and event, and what it keeps out of the log for the caller
    (a pack's serials, to print)."""

    entry: int
    event: Event
    private: dict[str, Any] = field(default_factory=dict)
    repeated: bool = False  # a second submit of the same form: nothing new was recorded

    def as_json(self) -> dict[str, Any]:
        """For machines (`flask --app trace do`): the entry, the event as logged, and the serials
        of a pack (the caller prints them; the log never holds them)."""
        out: dict[str, Any] = {"entry": self.entry, "event": events.dump(self.event)}
        if "serials" in self.private:
            out["serials"] = self.private["serials"]
        return out


@dataclass(frozen=True)
class NewBatch:
    """A batch a command created."""

    id: int
    lot_code: str


@dataclass(frozen=True)
class NewPackage:
    """A package a pack command issued."""

    id: int
    batch_id: int
    net_g: int
    serial_hash: str
    pack_entry: int


class Tx:
    """One write transaction under the log's lock: commands run in it one after another."""

    def __init__(self, session: Session, head: Head, ledger: Ledger, actor: Actor, now: datetime,
                 demo: bool = False, follow: Callable[[datetime | None], datetime] | None = None) -> None:
        self.session = session
        self.staged = Staged(head)  # the log's rows are written once, when the transaction ends
        self.ledger = ledger
        self.state = DbState(session.connection())
        self.demo = demo  # a demo clock records: every entry says so
        self._follow = follow  # a demo clock, told no time yet: the first event tells it
        # The "now" of the rules is the entry's recorded_at to the millisecond, as in a replay.
        self.recorded_at = rfc3339(now)
        self.now = parse_log_time(self.recorded_at)
        self.context = self.context_of(actor)
        self.results: list[Result] = []
        self.appended = 0

    def context_of(self, actor: Actor) -> Context:
        """The rules' view of an actor in this transaction."""
        return Context(actor.party_id, actor.pseudonym, actor.is_admin, self.now, self.recorded_at,
                       version=events.CURRENT_VERSION, demo=self.demo)

    def run(self, command: Command, inp: inputs.Input, prepared: dict[str, Any] | None = None,
            actor: Actor | None = None, once: str | None = None) -> Result:
        """Build, check, append, apply, store: one event (by the transaction's actor, or `actor`).
        With a one-time token seen before, nothing: the first result again."""
        if actor is not None:
            self.context = self.context_of(actor)
        if once is not None:
            first = self._first(command, once)
            if first is not None:
                return first
        built = command.build(self.state, inp, self.context)
        entry = self.record(built.event)
        private = {**(prepared or {}), **built.private}
        if command.store is not None:
            command.store(self.session.connection(), entry, private)
        result = Result(entry.index, entry.event, private)
        self.results.append(result)
        if once is not None:
            self.session.execute(insert(FormSubmission), {"token": once, "actor": self._who(), "command": command.name,
                                                          "entry": entry.index, "created_at": self.now})
            if secrets.randbelow(200) == 0:  # now and then, forget tokens of forms long sent
                self.session.execute(delete(FormSubmission).where(
                    FormSubmission.created_at < self.now - timedelta(days=ONCE_DAYS)))
        return result

    def _who(self) -> str:
        c = self.context
        return f"user:{c.user}" if c.user is not None else f"party:{c.party_id}" if c.party_id is not None else "console"

    def _first(self, command: Command, once: str) -> Result | None:
        """The result of the command that used this token first, if one did."""
        if not ONCE_RE.fullmatch(once):
            raise ONCE_FORMAT("once")
        row = self.session.execute(select(FormSubmission.actor, FormSubmission.command, FormSubmission.entry)
                                   .where(FormSubmission.token == once)).one_or_none()
        if row is None:
            return None
        if row.actor != self._who() or row.command != command.name:
            raise ONCE_OTHER("once")
        entry = events.decode(Ledger.entry(self.session, row.entry))
        return Result(entry.index, entry.event, {}, repeated=True)

    def _retime(self, now: datetime) -> None:
        self.recorded_at = rfc3339(now)
        self.now = parse_log_time(self.recorded_at)
        self.context = replace(self.context, now=self.now, recorded_at=self.recorded_at)

    @property
    def head(self) -> Head:
        """The log's head as it will be when the transaction commits."""
        return self.staged.head

    def record(self, event: Event) -> Entry:
        """Check an event, append it, and apply exactly what the log holds, as a replay would."""
        if self._follow is not None:
            occurred = getattr(event, "occurred_at", None)
            if isinstance(occurred, str):
                self._retime(self._follow(parse_log_time(occurred)))
            self._follow = None
        rules.check(self.state, event, self.context)
        record = events.record(event, self.context.party_id, self.context.user, self.demo)
        appended = self.ledger.stage(self.staged, record, self.context.recorded_at)
        self.appended += 1
        entry = events.decode(appended.body)
        rules.apply(self.state, entry.event, self.context.at(entry.index))
        self.state.flush()
        return entry


def _timed(inp: inputs.Input) -> bool:
    """Whether a command's input has a time of its event at all (left empty, it means now)."""
    return "occurred_at" in type(inp).model_fields


def _said_when(inp: inputs.Input) -> datetime | None:
    """When a command's input says its event happened (None: now, or it has no time)."""
    at = getattr(inp, "occurred_at", None)
    return at if isinstance(at, datetime) else None


class Trace:
    """The domain's entry point: commands that write, guarded by the rules."""

    def __init__(self, engine: Engine, ledger: Ledger, clock: Clock | None = None) -> None:
        self.engine = engine
        self.ledger = ledger
        self.clock = clock or ledger.clock

    @staticmethod
    def command(name: str) -> Command:
        """A command by name."""
        found = COMMANDS.get(name)
        if found is None:
            raise UNKNOWN_COMMAND("command", name=name)
        return found

    def parse(self, name: str, data: Mapping[str, Any], *, unit: str = inputs.G,
              names: Any = None) -> tuple[Command, inputs.Input, dict[str, Any]]:
        """The command, its typed input and what it prepares outside the lock (a password hash)."""
        cmd = self.command(name)
        inp = inputs.parse(cmd.input, data, unit=unit, names=names)
        return cmd, inp, cmd.prepare(inp) if cmd.prepare is not None else {}

    def run(self, name: str, actor: Actor, data: Mapping[str, Any], *, unit: str = inputs.G, names: Any = None,
            once: str | None = None) -> Result:
        """Run one command as `actor` from its input data (see inputs.parse for unit and names);
        `once`: the one-time token of the form it came from (see the module's docstring)."""
        cmd, inp, prepared = self.parse(name, data, unit=unit, names=names)
        with self.transaction(actor, at=_said_when(inp), timed=_timed(inp)) as tx:
            return tx.run(cmd, inp, prepared, once=once)

    @contextmanager
    def transaction(self, actor: Actor, at: datetime | None = None, timed: bool = False) -> Iterator[Tx]:
        """A write transaction under the log lock; signs one checkpoint of what it appended.
        `at` is when what it records happened (`timed`: whether its command has a time at all),
        for a clock that follows it (trace.clock.FollowingClock); opened without either, such a
        clock records the transaction when its first event says it happened."""
        follow = getattr(self.clock, "follow", None)
        now = follow(at, timed) if follow is not None else self.clock()
        with write_session(self.engine) as session:
            head = self.ledger.lock(session)
            tx = Tx(session, head, self.ledger, actor, now, demo=bool(getattr(self.clock, "demo", False)),
                    follow=follow if at is None and not timed else None)
            yield tx
            if tx.appended:
                self.ledger.write(session, tx.staged)
                self.ledger.sign_checkpoint(session, tx.staged.head)


    def run_many(self, commands: Sequence[tuple[Actor, str, Mapping[str, Any]]]) -> list[Result]:
        """Several commands, each by its actor, in one transaction with one checkpoint (imports,
        the demo, benchmarks). A refusal of any one refuses them all."""
        parsed = [(actor, *self.parse(name, data)) for actor, name, data in commands]
        times = [t for _a, _c, inp, _p in parsed if (t := _said_when(inp)) is not None]
        timed = any(_timed(inp) for _a, _c, inp, _p in parsed)
        with self.transaction(SYSTEM, at=max(times) if times else None, timed=timed) as tx:
            return [tx.run(cmd, inp, prepared, actor) for actor, cmd, inp, prepared in parsed]

    # -- the same commands with Python arguments ------------------------------------------------

    def define_product(self, actor: Actor, *, id: str, name_zh: str, name_en: str, harvest_months: Sequence[int],
                       yield_g_per_mu: int, lot_prefix: str, area: Sequence[Sequence[str | None]], gtin: str | None = None,
                       gi_ref: str = "", **registration: Any) -> int:
        """Define a GI product or change one (its area, months, ceiling, registration: gi_kind,
        gi_holder, gi_date, gi_spec): a regulator's act. Area places are (township, village) or
        (township, village, division code)."""
        return self.run("product.define", actor, {
            "id": id, "name_zh": name_zh, "name_en": name_en, "harvest_months": list(harvest_months),
            "yield_g_per_mu": yield_g_per_mu, "lot_prefix": lot_prefix, "area": [list(a) for a in area],
            "gtin": gtin, "gi_ref": gi_ref, **registration}).entry

    def register_party(self, actor: Actor, *, kind: str, name: str, uscc: str | None = None, township: str = "",
                       gi_logo: bool = False, phone: str = "", address: str = "", form: str = "organisation",
                       id_number: str | None = None, platform_code: str | None = None) -> int:
        """Register a party (administrator or regulator): an organisation by its credit code, or
        a natural person (form="person") by name and identity number. Returns its id."""
        ev = self.run("party.register", actor, {"kind": kind, "name": name, "uscc": uscc, "township": township,
                                                "gi_logo": gi_logo, "phone": phone, "address": address, "form": form,
                                                "id_number": id_number, "platform_code": platform_code}).event
        return ev.party.id  # type: ignore[attr-defined]

    def set_credit(self, actor: Actor, party_id: object, status: str, reason: str, *, start: str | None = None,
                   end: str | None = None) -> int:
        """Put a party on the red or black list, or back to normal, from `start` (default today)
        until `end` (default open): regulators only."""
        return self.run("party.credit", actor, {"party": party_id, "status": status, "reason": reason,
                                                "start": start, "end": end}).entry

    def register_plot(self, actor: Actor, *, party_id: object, township: str = "", village: str = "", area_mu: object,
                      lat: object = None, lon: object = None, division: str | None = None) -> int:
        """Register a grower's plot, by township and village or by its village's division code. Returns its id."""
        ev = self.run("plot.register", actor, {"party": party_id, "township": township, "village": village,
                                               "area_mu": area_mu, "lat": lat, "lon": lon, "division": division}).event
        return ev.plot.id  # type: ignore[attr-defined]

    def register_harvest(self, actor: Actor, *, plot_id: object, product_id: object, quantity_g: object,
                         occurred_at: datetime | str | None = None) -> NewBatch:
        """Register a harvest from one of the actor's plots, under the GI origin rules."""
        ev = self.run("harvest", actor, {"plot": plot_id, "product": product_id, "quantity_g": quantity_g,
                                         "occurred_at": occurred_at}).event
        return NewBatch(ev.batch.id, ev.batch.lot)  # type: ignore[attr-defined]

    def inspect(self, actor: Actor, batch_id: object, *, lab: str, report_no: str, passed: bool,
                results: Sequence[Mapping[str, Any]] = (), certificate_no: str = "",
                occurred_at: datetime | str | None = None) -> int:
        """Record an inspection: regulators on any batch, the custodian on its own."""
        return self.run("inspect", actor, {"batch": batch_id, "lab": lab, "report_no": report_no, "passed": passed,
                                           "results": [dict(r) for r in results], "certificate_no": certificate_no,
                                           "occurred_at": occurred_at}).entry

    def grade(self, actor: Actor, batch_id: object, *, grade: str, occurred_at: datetime | str | None = None) -> int:
        """Grade a batch (e.g. 特级, 一级)."""
        return self.run("grade", actor, {"batch": batch_id, "grade": grade, "occurred_at": occurred_at}).entry

    def split(self, actor: Actor, batch_id: object, quantities: Sequence[object],
              occurred_at: datetime | str | None = None) -> list[NewBatch]:
        """Split a batch into new batches; what they take never exceeds what the batch has loose."""
        ev = self.run("split", actor, {"batch": batch_id, "quantities": list(quantities), "occurred_at": occurred_at}).event
        return [NewBatch(c.id, c.lot) for c in ev.children]  # type: ignore[attr-defined]

    def merge(self, actor: Actor, parts: Sequence[tuple[object, object]], *, quantity_g: object | None = None,
              occurred_at: datetime | str | None = None) -> NewBatch:
        """Merge quantities of batches of one product in the actor's custody into a new batch."""
        ev = self.run("merge", actor, {"parts": [{"batch": b, "quantity_g": q} for b, q in parts],
                                       "quantity_g": quantity_g, "occurred_at": occurred_at}).event
        return NewBatch(ev.child.id, ev.child.lot)  # type: ignore[attr-defined]

    def process(self, actor: Actor, batch_id: object, *, input_g: object, output_g: object, form: str,
                method: str = "", occurred_at: datetime | str | None = None) -> NewBatch:
        """Process part of a batch (e.g. dry dates) into a new batch; the yield is at most 100%."""
        ev = self.run("process", actor, {"batch": batch_id, "input_g": input_g, "output_g": output_g, "form": form,
                                         "method": method, "occurred_at": occurred_at}).event
        return NewBatch(ev.child.id, ev.child.lot)  # type: ignore[attr-defined]

    def pack(self, actor: Actor, batch_id: object, *, count: object, net_g: object,
             occurred_at: datetime | str | None = None, shelf_life_days: object = None) -> list[tuple[NewPackage, str]]:
        """Pack `count` packages of `net_g` each; returns the packages with their secret serials."""
        res = self.run("pack", actor, {"batch": batch_id, "count": count, "net_g": net_g, "occurred_at": occurred_at,
                                       "shelf_life_days": shelf_life_days})
        ev = res.event
        return [(NewPackage(p.id, ev.batch, p.net_g, p.serial_hash, res.entry), sn)  # type: ignore[attr-defined]
                for p, sn in zip(ev.packages, res.private["serials"], strict=True)]  # type: ignore[attr-defined]

    def store(self, actor: Actor, batch_id: object, *, facility: str, temperature_c: object,
              occurred_at: datetime | str | None = None) -> int:
        """Record cold storage with its temperature (kept as integer tenths of a degree)."""
        return self.run("store", actor, {"batch": batch_id, "facility": facility, "temperature_c": temperature_c,
                                         "occurred_at": occurred_at}).entry

    def ship(self, actor: Actor, batch_id: object, *, to_party: object, vehicle: str = "",
             occurred_at: datetime | str | None = None) -> int:
        """Ship a batch to another party; it must receive it before anyone appends again."""
        return self.run("ship", actor, {"batch": batch_id, "to_party": to_party, "vehicle": vehicle,
                                        "occurred_at": occurred_at}).entry

    def receive(self, actor: Actor, batch_id: object, occurred_at: datetime | str | None = None, *,
                package_ids: Sequence[object] | None = None) -> int:
        """Accept a batch shipped to the actor's party; custody passes to it. Its packages are
        counted as all arrived unless `package_ids` names them (the portal scans each one)."""
        data = {"batch": batch_id, "occurred_at": occurred_at}
        data.update({"all_packages": True} if package_ids is None else {"packages": list(package_ids)})
        return self.run("receive", actor, data).entry

    def sell(self, actor: Actor, batch_id: object, *, package_ids: Sequence[object] | None = None, loose_g: object = 0,
             occurred_at: datetime | str | None = None) -> int:
        """Sell packages of a batch (all unsold ones when none are named and nothing is sold
        loose) and/or loose grams."""
        data = {"batch": batch_id, "loose_g": loose_g, "occurred_at": occurred_at}
        data.update({"all_unsold": not loose_g} if package_ids is None else {"packages": list(package_ids)})
        return self.run("sell", actor, data).entry

    def recall(self, actor: Actor, batch_id: object, *, reason: str, level: int = 3,
               occurred_at: datetime | str | None = None) -> list[int]:
        """Recall a batch and everything made from it (at level III unless told otherwise: the
        typed input has no default); returns the batches it reached."""
        ev = self.run("recall", actor, {"batch": batch_id, "reason": reason, "level": str(level),
                                        "occurred_at": occurred_at}).event
        return list(ev.affected)  # type: ignore[attr-defined]

    def recall_action(self, actor: Actor, recall_entry: int, batch_id: object, *, action: str, packages: int = 0,
                      loose_g: int = 0, note: str = "", occurred_at: datetime | str | None = None) -> int:
        """Record what a holder did with recalled stock of a batch (off_sale, returned, destroyed)."""
        return self.run("recall.action", actor, {"recall": recall_entry, "batch": batch_id, "action": action,
                                                 "packages": packages, "loose_g": loose_g, "note": note,
                                                 "occurred_at": occurred_at}).entry

    def correct(self, actor: Actor, batch_id: object, *, target: object, changes: Mapping[str, Any], reason: str,
                occurred_at: datetime | str | None = None) -> int:
        """Amend an earlier event by a later one; the earlier entry stays as it was."""
        return self.run("correct", actor, {"batch": batch_id, "target": target, "changes": dict(changes),
                                           "reason": reason, "occurred_at": occurred_at}).entry

