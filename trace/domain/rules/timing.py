"""Times that can be trusted (entries of encoding version 3 on).

* No entry goes back to an older encoding than an entry before it, whose rules were laxer
  (verify's replay checks it: the live path always writes the newest, see VERSION_ORDER).
* An event's time is not before the previous event of the batch it is about.
* An event is recorded at most LATE_DAYS days after it happened, unless the bureau approved
  the late entry (`late.approve`: a party, a batch or plot or anything, from when, until when).
* The bureau's own entries need neither: an official sample's report arrives days after it was
  taken, when the batch has moved on; the bureau is who approves late entries.

Every time is compared with the entry's own `recorded_at`, in the live path and in verify's
replay alike; an entry recorded by a demo clock says so (see trace.clock.FollowingClock)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from trace.clock import china_minute, parse_log_time
from trace.domain import limits
from trace.domain.errors import Code, RuleViolation
from trace.domain.events import Event, Merge
from trace.domain.messages import N_
from trace.domain.rules import also_apply_of, also_check_of
from trace.domain.rules.common import is_regulator
from trace.domain.rules.context import Context
from trace.domain.state import LogMarkState, State

VERSION_ORDER = Code("log.version_order", RuleViolation,
                     N_("This entry is written in encoding version %(got)s after entries of version %(highest)s."))
BEFORE_PREVIOUS = Code("time.before_previous", RuleViolation,
                       N_("The event time (%(at)s) cannot be before the batch's previous event (%(previous)s)."))
TOO_LATE = Code("time.too_late", RuleViolation,
                N_("This happened on %(at)s, more than %(days)s days before it is recorded (%(now)s): a late entry "
                   "needs the approval of the market supervision bureau."))
LATE_AFTER = timedelta(days=limits.LATE_DAYS)
MARK_AFTER = timedelta(hours=limits.LATE_MARK_HOURS)


@dataclass(frozen=True)
class LocalTime:
    """A log time as a message parameter: Beijing time to the minute, in any language."""

    value: str

    def render(self, lang: str, unit: str) -> str:
        """2025-09-20 09:00."""
        return china_minute(self.value)


def batches_of(ev: Event) -> list[int]:
    """The existing batches an event is about (a harvest's batch is new: it has no past)."""
    if isinstance(ev, Merge):
        return [p.id for p in ev.batches]
    batch = getattr(ev, "batch", None)
    if isinstance(batch, int):
        return [batch]
    cert = getattr(ev, "certificate", None)
    inner = getattr(cert, "batch", None)
    return [inner] if isinstance(inner, int) else []


def plot_of(ev: Event) -> int | None:
    """The plot an event is about (a harvest, a farming record)."""
    plot = getattr(ev, "plot", None)
    return plot if isinstance(plot, int) else None


def is_late(occurred_at: str, recorded_at: str, after: timedelta = MARK_AFTER) -> bool:
    """Whether something was recorded more than `after` after it happened (the page's 补录 mark
    uses a day; the rule LATE_DAYS)."""
    return parse_log_time(recorded_at) - parse_log_time(occurred_at) > after


def approved(state: State, ev: Event, ctx: Context, occurred_at: str) -> bool:
    """Whether an approval of the bureau covers this late entry of the acting party."""
    if ctx.party_id is None:
        return False
    batches, plot = set(batches_of(ev)), plot_of(ev)
    for a in state.late_approvals(ctx.party_id):
        if not (a.earliest <= occurred_at and ctx.recorded_at <= a.until):
            continue
        if a.batch_id is not None and a.batch_id not in batches:
            continue
        if a.plot_id is not None and a.plot_id != plot:
            continue
        return True
    return False


@also_check_of()
def check_times(state: State, ev: Event, ctx: Context) -> None:
    """The order of a batch's events, and how late an event is recorded."""
    if ctx.version < 3:
        return  # older entries verify by the rules they were written under
    occurred = getattr(ev, "occurred_at", None)
    if not isinstance(occurred, str):
        return
    if is_regulator(state, ctx):
        return
    for bid in batches_of(ev):
        previous = state.last_event_at(bid)
        if previous is not None and occurred < previous:
            raise BEFORE_PREVIOUS("occurred_at", at=LocalTime(occurred), previous=LocalTime(previous))
    if is_late(occurred, ctx.recorded_at, LATE_AFTER) and not approved(state, ev, ctx, occurred):
        raise TOO_LATE("occurred_at", at=LocalTime(occurred), days=limits.LATE_DAYS, now=LocalTime(ctx.recorded_at))


@also_apply_of()
def note_recorded(state: State, ev: Event, ctx: Context) -> None:
    """A log with a demo entry says so."""
    if ctx.demo and state.log_mark("demo") is None:
        state.add(LogMarkState("demo", ctx.index))
