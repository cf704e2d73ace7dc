"""Refusals: typed errors with a stable code, parameters and the input field at fault.

Every refusal the domain can raise is declared once as a `Code` (its dotted name, its kind and
its message as an English msgid of the catalogue), next to the rule that raises it. A raised
error carries only the code, the field and the parameters; `message(lang, unit)` renders it in
the reader's language and unit, so the web, the CLI and `verify` say the same thing."""
from __future__ import annotations

import sys
from typing import Any, ClassVar

from trace.domain.messages import render


class DomainError(Exception):
    """A refused command. Nothing was written. `field` names the input at fault, if one is."""

    status: ClassVar[int] = 400

    def __init__(self, code: str, msgid: str, field: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msgid = msgid
        self.field = field
        self.params = params or {}
        self.errors: list[DomainError] = [self]  # every field's refusal when an input had several

    def message(self, lang: str = "zh", unit: str = "kg") -> str:
        """The message in the reader's language, quantities in the unit the reader uses."""
        return render(self.msgid, self.params, lang, unit)

    @property
    def zh(self) -> str:
        """The message in Chinese."""
        return self.message("zh")

    @property
    def en(self) -> str:
        """The message in English."""
        return self.message("en")

    def as_dict(self, lang: str = "en", unit: str = "kg") -> dict[str, Any]:
        """What machines get: code, message and field."""
        return {"code": self.code, "message": self.message(lang, unit), "field": self.field}

    def __str__(self) -> str:
        return f"{self.code}: {self.en}"


class InvalidInput(DomainError):
    """Input that is malformed or out of range."""


class NotFound(DomainError):
    """An id or code that does not exist."""

    status = 404


class Forbidden(DomainError):
    """The acting party may not do this."""

    status = 403


class RuleViolation(DomainError):
    """A GI, custody, mass-balance, recall, credit or time rule refused the command."""

    status = 409


class Code:
    """One kind of refusal: `raise OVER_CEILING("quantity_g", ceiling=Mass(...))`."""

    registry: ClassVar[dict[str, Code]] = {}

    def __init__(self, code: str, kind: type[DomainError], msgid: str) -> None:
        if code in Code.registry:
            raise ValueError(f"refusal code {code} is declared twice")
        self.code, self.kind, self.msgid = code, kind, msgid
        self.module = sys._getframe(1).f_globals.get("__name__", "")  # where the rule that raises it lives
        Code.registry[code] = self

    def __call__(self, field: str | None = None, /, **params: Any) -> DomainError:
        """The error to raise, for the input `field` (if one is at fault)."""
        return self.kind(self.code, self.msgid, field, params)

    def __repr__(self) -> str:
        return f"Code({self.code!r})"
