"""Forms map the fields people fill in onto the domain's typed inputs: nothing is parsed here.

A form posts strings under its own names (kilograms on a phone: `quantity_kg`); the domain's
input parser (trace.domain.inputs) reads them in kilograms, and its refusals come back carrying
the form's field names, so each message is shown next to the field it is about."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from trace.domain.errors import DomainError

Names = Callable[[tuple[Any, ...]], str]


def take(form: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The input data from a form: input field -> the form's value of its field (when posted)."""
    return {name: form[field] for name, field in fields.items() if field in form}


def namer(fields: Mapping[str, str], more: Callable[[tuple[Any, ...]], str | None] | None = None) -> Names:
    """The form's name for an input path: `fields` maps input fields to form fields; `more` names
    the paths inside lists (results rows, merge parts)."""
    def name(loc: tuple[Any, ...]) -> str:
        if more is not None:
            found = more(loc)
            if found:
                return found
        head = str(loc[0]) if loc else ""
        return fields.get(head, head)
    return name


def by_field(exc: DomainError, lang: str, fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every refusal of an input by the form field it is about ('' for the form as a whole); a
    rule's field (the input's name) is mapped to the form's name with `fields`."""
    out: dict[str, str] = {}
    for err in exc.errors:
        field = err.field or ""
        if fields and field in fields:
            field = fields[field]
        out.setdefault(field, err.message(lang, unit="kg"))
    return out


def multi(form: MultiDict[str, str], name: str) -> list[str]:
    """Every value of a field that may be posted several times (checkboxes)."""
    return [v for v in form.getlist(name) if v != ""]
