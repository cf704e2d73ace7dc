"""The rule book: for every event type, a CHECK against the state and the acting party, and an
APPLY that changes the state. One module per aggregate (catalogue, parties, harvest, custody,
transforms, packages, inspections, recalls, corrections); each declares its refusal codes beside
the rules that raise them.

The live path (trace.domain.commands) runs check, appends the event, then apply; the audit path
(trace.domain.replay) runs the very same check and apply on every logged entry, so `verify` proves
that the log obeys the rules, not only that the tables match it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from trace.domain.events import Entry, Event
from trace.domain.inputs import Input
from trace.domain.rules.context import Context
from trace.domain.state import State

E = TypeVar("E", bound=Event)
Check = Callable[[State, Any, Context], None]
Apply = Callable[[State, Any, Context], None]
CHECKS: dict[type[Event], Check] = {}
APPLIES: dict[type[Event], Apply] = {}
# Rules that other aggregates add to an event type's own (a certificate chain through a split),
# and rules of every entry (times, the encoding's order): run after the type's own, in order.
ALSO_CHECKS: dict[type[Event], list[Check]] = {}
ALSO_APPLIES: dict[type[Event], list[Apply]] = {}
EVERY_CHECK: list[Check] = []
EVERY_APPLY: list[Apply] = []


def check_of(event_type: type[E]) -> Callable[[Callable[[State, E, Context], None]], Callable[[State, E, Context], None]]:
    """Register the check of an event type."""
    def register(fn: Callable[[State, E, Context], None]) -> Callable[[State, E, Context], None]:
        CHECKS[event_type] = fn
        return fn
    return register


def apply_of(event_type: type[E]) -> Callable[[Callable[[State, E, Context], None]], Callable[[State, E, Context], None]]:
    """Register the apply of an event type."""
    def register(fn: Callable[[State, E, Context], None]) -> Callable[[State, E, Context], None]:
        APPLIES[event_type] = fn
        return fn
    return register


def also_check_of(*event_types: type[Event]) -> Callable[[Check], Check]:
    """Register a further check of some event types (none given: of every entry)."""
    def register(fn: Check) -> Check:
        if not event_types:
            EVERY_CHECK.append(fn)
        for t in event_types:
            ALSO_CHECKS.setdefault(t, []).append(fn)
        return fn
    return register


def also_apply_of(*event_types: type[Event]) -> Callable[[Apply], Apply]:
    """Register a further apply of some event types (none given: of every entry)."""
    def register(fn: Apply) -> Apply:
        if not event_types:
            EVERY_APPLY.append(fn)
        for t in event_types:
            ALSO_APPLIES.setdefault(t, []).append(fn)
        return fn
    return register


@dataclass
class Built:
    """What a command decided: the event to log, and what stays out of the log (serials, salts,
    contact details) for its `store` step."""

    event: Event
    private: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """A command: its typed input, how it builds its event from the input and the state, and
    how it stores what the log must not hold (after the event is applied, in the same
    transaction)."""

    name: str
    input: type[Input]
    build: Callable[[State, Any, Context], Built]
    store: Callable[[Connection, Entry, dict[str, Any]], None] | None = None
    prepare: Callable[[Any], dict[str, Any]] | None = None  # slow work before the write lock

    @property
    def summary(self) -> str:
        """The first line of the input's docstring."""
        return (self.input.__doc__ or "").strip().splitlines()[0]


COMMANDS: dict[str, Command] = {}


def command(name: str, input: type[Input], *, store: Callable[[Connection, Entry, dict[str, Any]], None] | None = None,
            prepare: Callable[[Any], dict[str, Any]] | None = None,
            ) -> Callable[[Callable[[State, Any, Context], Built]], Callable[[State, Any, Context], Built]]:
    """Register the build step of a command (its check and apply are its event type's)."""
    def register(fn: Callable[[State, Any, Context], Built]) -> Callable[[State, Any, Context], Built]:
        COMMANDS[name] = Command(name, input, fn, store, prepare)
        return fn
    return register


def check(state: State, event: Event, ctx: Context) -> None:
    """Raise the refusal the rules have for `event` by `ctx`'s actor in `state`, if any."""
    CHECKS[type(event)](state, event, ctx)
    for fn in ALSO_CHECKS.get(type(event), ()):
        fn(state, event, ctx)
    for fn in EVERY_CHECK:
        fn(state, event, ctx)


def apply(state: State, event: Event, ctx: Context) -> None:
    """Change `state` as `event` (entry `ctx.index`) says."""
    APPLIES[type(event)](state, event, ctx)
    for fn in ALSO_APPLIES.get(type(event), ()):
        fn(state, event, ctx)
    for fn in EVERY_APPLY:
        fn(state, event, ctx)


def _load() -> None:
    # The modules register their rules on import.
    from trace.domain.rules import (  # noqa: F401
        catalogue,
        certificates,
        corrections,
        custody,
        farming,
        field_register,
        harvest,
        inspections,
        packages,
        parties,
        recalls,
        timing,
        transforms,
    )


_load()
