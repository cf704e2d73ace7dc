"""Time in one place: Beijing time for people, RFC 3339 UTC for the log.

The log records every time as RFC 3339 UTC with milliseconds and a Z (``2026-09-20T01:00:00.000Z``),
so that times compare as strings and encode canonically. People here read and type Beijing time
(UTC+8, no daylight saving); a time typed without an offset is Beijing time. Shared by the ledger
and the domain, so it imports neither."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")
Clock = Callable[[], datetime]
# The one shape of a time inside a log entry.
LOG_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# What people and machines may type: a date, optionally a time, optionally an offset.
_TYPED = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?")


def utc_now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def rfc3339(t: datetime) -> str:
    """The log's form of a time: RFC 3339 UTC with milliseconds and a Z."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_seconds(t: datetime) -> str:
    """RFC 3339 UTC to the second, for what the public sees (scan times)."""
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_log_time(value: str) -> datetime:
    """A log time (see LOG_TIME) as an aware datetime; ValueError if it has another shape."""
    if not LOG_TIME.fullmatch(value):
        raise ValueError(f"not a log time: {value[:40]!r}")
    return datetime.fromisoformat(value[:-1] + "+00:00")


def parse_typed(value: str) -> datetime:
    """A time as people or machines type it: RFC 3339 or ``2026-09-20 08:00``; without an offset
    it is Beijing time. ValueError when it is not a real time."""
    m = _TYPED.fullmatch(value.strip())
    if not m:
        raise ValueError("not a time")
    y, mo, d, h, mi, s, frac, off = m.groups()
    tz = CHINA
    if off == "Z":
        tz = UTC
    elif off:
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((frac or "0").ljust(6, "0"))
    return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro, tzinfo=tz)


def china(t: datetime | str) -> datetime:
    """A time (or a log time) in Beijing time."""
    if isinstance(t, str):
        t = parse_log_time(t)
    return t.astimezone(CHINA)


def china_date(t: datetime | str) -> date:
    """The Beijing date of a time or a log time."""
    return china(t).date()


def china_minute(value: str | None) -> str:
    """A log time as Beijing time to the minute (``2026-09-20 09:00``); '' for none, the text itself
    when it is not a log time."""
    if not value:
        return ""
    try:
        return china(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def season_of(t: datetime | str) -> int:
    """The harvest season of a time: its year in Beijing time."""
    return china(t).year


class FollowingClock:
    """A demo clock: for a world recorded in its own time (a demo season loaded in December, a
    test's season, a benchmark's year). A command that says when it happened is recorded at that
    time (never later than the real now); one that leaves its time empty, at the last such time
    (or, with `untimed_now`, at the real now: what a test means by "now"); one with no time at all
    (a registration, a credit listing) at the last time; a transaction opened without a time,
    when its first event says it happened.

    Every entry it records says so (`demo` in the entry, from encoding version 3) and its
    `recorded_at` is the demo's own time: verify checks every time rule against that time, and
    every page of a log holding such entries says "demo data". So a season recorded after the
    fact with this clock can never pass for records made on the day."""

    demo = True

    def __init__(self, start: datetime, real: Clock = utc_now, *, untimed_now: bool = False) -> None:
        self.now = start.astimezone(UTC)
        self.real = real
        self.untimed_now = untimed_now  # a command that gives no time happens at the real now

    def __call__(self) -> datetime:
        return self.now

    def follow(self, at: datetime | None, timed: bool = True) -> datetime:
        """Move to the time something that happened `at` is recorded, and return it. A command
        whose time is left empty (`at` None, `timed`) happened now: the real now with
        `untimed_now`, else the last time; one with no time at all (a registration, a credit
        listing) is recorded at the last time."""
        if at is not None:
            self.now = min(at.astimezone(UTC), self.real())
        elif timed and self.untimed_now:
            self.now = self.real()
        return self.now

    def advance(self, to: datetime) -> None:
        """Move the clock by hand."""
        self.now = min(to.astimezone(UTC), self.real())

    @contextmanager
    def recording_at(self, when: datetime) -> Iterator[None]:
        """Record what is run meanwhile at `when`, whatever it says happened (the demo's late
        entries: recorded days after the fact, so that the rules treat them as late)."""
        held, self.follow = self.follow, lambda at, timed=True: self.now  # type: ignore[method-assign]
        self.advance(when)
        try:
            yield
        finally:
            self.follow = held  # type: ignore[method-assign]
