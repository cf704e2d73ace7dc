"""Who acts: a login of a party, an administrator, or the system itself (the operator's console)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The one who asks for a command: a user (its id and log pseudonym) of a party, or nobody's
    login at all (the CLI and the demo act as the system, with an administrator's rights)."""

    user_id: int | None
    party_id: int | None
    is_admin: bool = False
    pseudonym: str | None = None


SYSTEM = Actor(None, None, True)
