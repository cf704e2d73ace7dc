"""Working days for recall deadlines (食品召回管理办法: level I ends within 10 working days, level
II within 20, level III within 30).

The calendar is Monday to Friday in Beijing time. China's statutory holidays and the weekend days
worked in their place (调休) are announced by the State Council year by year; they are not in this
calendar yet, so a deadline over a holiday week comes out a few days early, never late. The
deadline is computed once, when the recall is recorded, and kept in its log entry, so a later
change of calendar never moves the deadline of a recall already made."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from trace.clock import CHINA, parse_log_time, rfc3339

START_HOURS = {1: 24, 2: 48, 3: 72}  # a recall starts within these hours of its decision
END_WORKING_DAYS = {1: 10, 2: 20, 3: 30}  # and ends within these working days
CALENDAR = "Monday to Friday, Beijing time; statutory holidays and 调休 not yet counted"


def is_working_day(day: date) -> bool:
    """Monday to Friday."""
    return day.weekday() < 5


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (`day` itself not counted)."""
    d = day
    while n > 0:
        d += timedelta(days=1)
        if is_working_day(d):
            n -= 1
    return d


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (negative when `end` is earlier)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for i in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=i)))


def deadlines(level: int, occurred_at: str) -> tuple[str, str]:
    """When holders must start (the hours after the decision) and finish (the end of the last
    working day, Beijing time) a recall of this level decided at `occurred_at` (a log time)."""
    decided = parse_log_time(occurred_at)
    start_by = rfc3339(decided + timedelta(hours=START_HOURS[level]))
    last = add_working_days(decided.astimezone(CHINA).date(), END_WORKING_DAYS[level])
    end_by = rfc3339(datetime.combine(last, time(23, 59, 59, 999000), CHINA))
    return start_by, end_by


def remaining(end_by: str, now: datetime) -> tuple[int, float]:
    """Working days (Beijing dates) and hours left until a deadline; negative when it has passed."""
    end = parse_log_time(end_by)
    hours = (end - now).total_seconds() / 3600
    return working_days_between(now.astimezone(CHINA).date(), end.astimezone(CHINA).date()), hours
