"""Parsing form input into the values domain commands take, collecting every problem per field.

Views parse; the domain decides. What is checked here is only the shape of the input (a number,
a date that exists, text without markup): the rules of the fruit's journey stay in the domain.
Every message is bilingual, like the domain's, so a form shows its errors in either language."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trace.domain.errors import DomainError, InvalidInput
from trace.domain.operations import CHINA
from trace.domain.queries import parse_id

# Text fields never need markup or the punctuation SQL and shell injections are made of; Chinese
# text has its own full-width quotes and semicolons (“”‘’；), which stay allowed.
MARKUP = re.compile(r"<\s*[A-Za-z/!?]|&#|javascript:", re.IGNORECASE)
SQLISH = re.compile(r"['\"`;\\]|--|/\*|\*/")


class FormErrors(Exception):
    """Problems with a form's input, by field; nothing was sent to the domain."""

    def __init__(self, errors: dict[str, DomainError]) -> None:
        super().__init__(", ".join(f"{k}: {v.en}" for k, v in errors.items()))
        self.errors = errors


def normalize(value: object) -> str:
    """Input as typed on a phone, folded to ASCII digits and punctuation and trimmed."""
    # Phones type full-width digits and punctuation (１２．５); fold them to ASCII.
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()


def text_problem(value: str, zh: str, en: str, field: str) -> InvalidInput | None:
    """Why a text is refused (markup or injection punctuation), or None."""
    if any(ord(c) < 32 and c not in "\t\n\r" or 0x7F <= ord(c) < 0xA0 for c in value):
        return InvalidInput(f"{zh}含有控制字符。", f"{en} contains control characters.", field)
    if MARKUP.search(value):
        return InvalidInput(f"{zh}不能含有 HTML 标记（如 <b>、<script>）。", f"{en} cannot contain HTML markup such as <b> or <script>.", field)
    if SQLISH.search(value):
        return InvalidInput(f"{zh}不能含有这些符号：' \" ` ; \\ -- /*（中文标点可以使用）。",
                            f"{en} cannot contain the characters ' \" ` ; \\ -- or /*.", field)
    return None


class Form:
    """One submitted form: typed getters that record a bilingual error per field."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, DomainError] = {}

    def raw(self, name: str) -> str:
        """The submitted string, or ''."""
        v = self.data.get(name)
        return "" if v is None else str(v)

    def _fail(self, exc: DomainError) -> None:
        self.errors.setdefault(exc.field or "", exc)

    def text(self, name: str, zh: str, en: str, *, required: bool = False, max_len: int = 500) -> str:
        """Trimmed text; length limits beyond `max_len` are left to the domain's exact messages."""
        value = self.raw(name).strip()
        if required and not value:
            self._fail(InvalidInput(f"请填写{zh}。", f"{en} is required.", name))
        elif len(value) > max_len:
            self._fail(InvalidInput(f"{zh}最多 {max_len} 个字符，现在有 {len(value)} 个。",
                                    f"{en} may have at most {max_len} characters, not {len(value)}.", name))
        elif (problem := text_problem(value, zh, en, name)) is not None:
            self._fail(problem)
        return value

    def id(self, name: str, zh: str, en: str, *, required: bool = True) -> int | None:
        """A database id chosen in a select."""
        value = self.raw(name).strip()
        if not value:
            if required:
                self._fail(InvalidInput(f"请选择{zh}。", f"Choose the {en.lower()}.", name))
            return None
        try:
            return parse_id(value, name)
        except DomainError as exc:
            self._fail(exc)
            return None

    def grams(self, name: str, zh: str, en: str, *, required: bool = True) -> int | None:
        """A weight typed in kilograms (up to three decimals) as integer grams, never via float."""
        value = normalize(self.raw(name)).replace(",", "")
        if not value:
            if required:
                self._fail(InvalidInput(f"请填写{zh}（公斤）。", f"{en} (kg) is required.", name))
            return None
        if re.fullmatch(r"-\s*\d+(\.\d*)?", value):
            self._fail(InvalidInput(f"{zh}不能是负数。", f"{en} cannot be negative.", name))
            return None
        m = re.fullmatch(r"(\d{1,10})(?:\.(\d{1,3}))?", value)
        if not m:
            self._fail(InvalidInput(f"{zh}应为公斤数，最多三位小数，例如 12.5。",
                                    f"{en} must be a number of kilograms with at most three decimals, e.g. 12.5.", name))
            return None
        return int(m.group(1)) * 1000 + int((m.group(2) or "0").ljust(3, "0"))

    def count(self, name: str, zh: str, en: str, *, required: bool = True, maximum: int = 100_000) -> int | None:
        """A whole number of things (packages)."""
        value = normalize(self.raw(name))
        if not value:
            if required:
                self._fail(InvalidInput(f"请填写{zh}。", f"{en} is required.", name))
            return None
        if not re.fullmatch(r"\d{1,9}", value):
            self._fail(InvalidInput(f"{zh}应为正整数。", f"{en} must be a positive whole number.", name))
            return None
        n = int(value)
        if not 1 <= n <= maximum:
            self._fail(InvalidInput(f"{zh}应在 1 到 {maximum} 之间。", f"{en} must be between 1 and {maximum}.", name))
            return None
        return n

    def time(self, name: str = "occurred_at") -> datetime | None:
        """A Beijing-time moment from a datetime-local input; empty means now (the domain's default)."""
        value = normalize(self.raw(name)).replace(" ", "T", 1)
        if not value:
            return None
        m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?", value)
        if not m:
            self._fail(InvalidInput("时间格式不对，应为 2025-09-20 08:00。", "The time is not valid; use e.g. 2025-09-20 08:00.", name))
            return None
        y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        if not 2000 <= y <= 2100:
            self._fail(InvalidInput(f"年份 {y} 不合理。", f"The year {y} is not plausible.", name))
            return None
        try:
            return datetime(y, mo, d, h, mi, sec, tzinfo=CHINA)
        except ValueError:
            self._fail(InvalidInput(f"日期 {y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d} 不存在。",
                                    f"There is no such date or time as {y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}.", name))
            return None

    def check(self) -> None:
        """Raise FormErrors if any field had a problem."""
        if self.errors:
            raise FormErrors(self.errors)
