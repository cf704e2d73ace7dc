"""What a rule knows besides the state and the event: who acts, when, and which entry it is."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Context:
    """The acting party and user of an entry, whether the actor administers the system, the time
    the entry is recorded (the "now" of every time rule), its encoding version, whether a demo
    clock recorded it and, once appended, its index."""

    party_id: int | None
    user: int | str | None
    is_admin: bool
    now: datetime
    recorded_at: str
    index: int = -1
    # The encoding version of the entry: older entries name some fields otherwise, and were
    # judged by the rules in force then (the live path and readers use the current version).
    version: int = 3
    demo: bool = False  # recorded by a demo clock (version 3 entries say so)

    def at(self, index: int) -> Context:
        """The same context for the entry at `index`."""
        return replace(self, index=index)
