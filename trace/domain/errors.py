"""Typed errors the domain raises; each carries its message in Chinese and English."""
from __future__ import annotations


class DomainError(Exception):
    """A refused command. Nothing was written. `field` names the input at fault, if one is."""

    status = 400

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        self.field = field

    def message(self, lang: str = "zh") -> str:
        """The message in the user's language."""
        return self.zh if lang.startswith("zh") else self.en


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
