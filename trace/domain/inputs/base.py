"""Typed inputs: each command's input is a pydantic model, parsed once, here in the domain.

Why pydantic v2: one definition gives the parser (strings from a form, numbers from JSON), the
limits (shared with the events through trace.domain.limits) and a JSON Schema, which
`flask --app trace do --list` prints and the JSON API will publish as OpenAPI.

A caller (the portal, the CLI) hands `parse` what it received, under its own field names and in
its own unit for quantities (kilograms on forms, grams in JSON), and gets the typed input or
its first refusal (with the others in `.errors`), each carrying the caller's field name and
rendered in the caller's unit."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from trace.clock import CHINA, parse_typed
from trace.domain import limits
from trace.domain.errors import Code, DomainError, InvalidInput, NotFound
from trace.domain.messages import N_, Term

REQUIRED = Code("input.required", InvalidInput, N_("%(label)s is required."))
TOO_LONG = Code("input.too_long", InvalidInput, N_("%(label)s may have at most %(max)s characters, not %(n)s."))
CONTROL = Code("input.control_characters", InvalidInput, N_("%(label)s contains control characters."))
WHOLE = Code("input.whole_number", InvalidInput, N_("%(label)s must be a positive whole number."))
RANGE = Code("input.range", InvalidInput, N_("%(label)s must be between %(min)s and %(max)s."))
MASS_FORMAT = Code("input.mass_format", InvalidInput, N_("%(label)s must be %(how)s."))
MASS_NEGATIVE = Code("input.mass_negative", InvalidInput, N_("%(label)s cannot be negative."))
MASS_ZERO = Code("input.mass_zero", InvalidInput, N_("%(label)s must be more than zero."))
MASS_HUGE = Code("input.mass_huge", InvalidInput, N_("%(label)s is implausibly large; check the unit (%(unit)s)."))
TIME_FORMAT = Code("input.time_format", InvalidInput, N_("The time is not valid; use e.g. 2026-09-20 08:00."))
TIME_NONE = Code("input.time_no_such", InvalidInput, N_("There is no such date or time as %(value)s."))
TIME_YEAR = Code("input.time_year", InvalidInput, N_("The year %(year)s is not plausible: it must be between 2000 and 2100."))
ID_UNKNOWN = Code("input.id_unknown", NotFound, N_("Nothing has the id %(value)s."))
CHOICE = Code("input.choice", InvalidInput, N_("%(label)s must be one of: %(allowed)s."))
DECIMALS = Code("input.decimals", InvalidInput, N_("%(label)s must be a number with at most %(places)s decimals."))
COORDINATE = Code("input.coordinate", InvalidInput,
                  N_("%(label)s must be decimal degrees between %(min)s and %(max)s, such as 37.4567."))
TEMPERATURE = Code("input.temperature", InvalidInput,
                   N_("Temperature must be a number of °C between -40 and 40, with at most one decimal."))
PATTERN = Code("input.pattern", InvalidInput, N_("%(label)s is not in the right form: %(how)s."))
TOO_MANY = Code("input.too_many", InvalidInput, N_("%(label)s may have at most %(max)s items."))
TOO_FEW = Code("input.too_few", InvalidInput, N_("%(label)s needs at least %(min)s items."))
UNKNOWN_FIELD = Code("input.unknown_field", InvalidInput, N_("%(name)s is not a field of this command."))
WRONG_TYPE = Code("input.type", InvalidInput, N_("%(label)s has the wrong type of value."))

KG, G = "kg", "g"


def _fail(code: Code, **params: Any) -> PydanticCustomError:
    return PydanticCustomError(code.code, code.msgid, params)


def _unit(info: ValidationInfo) -> str:
    return (info.context or {}).get("unit", G)


def fold(value: object) -> str:
    """Input as typed on a phone, full-width digits and punctuation folded to ASCII, trimmed."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()


def _text(max_len: int, required: bool) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        s = "" if value is None else str(value).strip()
        if required and not s:
            raise _fail(REQUIRED)
        if len(s) > max_len:
            raise _fail(TOO_LONG, max=max_len, n=len(s))
        if any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 for c in s):
            raise _fail(CONTROL)
        return s
    return parse


def Text(max_len: int = limits.MAX_TEXT, *, required: bool = True, title: str = "") -> Any:  # noqa: N802
    """Text of at most `max_len` characters, trimmed; any characters but controls (markup and
    quotes are data: bound parameters and escaping keep them inert)."""
    return Annotated[str, Field(title=title, max_length=max_len), BeforeValidator(_text(max_len, required))]


def _mass(positive: bool) -> Callable[[Any, ValidationInfo], int]:
    def parse(value: Any, info: ValidationInfo) -> int:
        unit = _unit(info)
        how = Term(N_("a number of kilograms with at most three decimals, e.g. 12.5") if unit == KG
                   else N_("a whole number of grams, e.g. 12500"))
        if isinstance(value, bool) or isinstance(value, float):
            raise _fail(MASS_FORMAT, how=how)
        if isinstance(value, int):
            grams = value * 1000 if unit == KG else value
        else:
            s = fold(value).replace(",", "")
            if re.fullmatch(r"-\s*\d+(\.\d*)?", s):
                raise _fail(MASS_NEGATIVE)
            m = re.fullmatch(r"(\d{1,13})(?:\.(\d{1,3}))?" if unit == KG else r"(\d{1,16})", s)
            if not m:
                raise _fail(MASS_FORMAT, how=how)
            grams = int(m.group(1)) * 1000 + int((m.group(2) or "0").ljust(3, "0")) if unit == KG else int(m.group(1))
        if grams < 0:
            raise _fail(MASS_NEGATIVE)
        if positive and grams == 0:
            raise _fail(MASS_ZERO)
        if grams > limits.MAX_GRAMS:
            raise _fail(MASS_HUGE, unit=Term(N_("kilograms") if unit == KG else N_("grams")))
        return grams
    return parse


def Mass(*, title: str = "", positive: bool = True) -> Any:  # noqa: N802
    """A quantity of fruit as integer grams, typed in the caller's unit (never through a float)."""
    return Annotated[int, Field(title=title, ge=1 if positive else 0, le=limits.MAX_GRAMS,
                           description="grams (kilograms on the portal's forms)"), BeforeValidator(_mass(positive))]


def _whole(lo: int, hi: int, unknown_above: bool) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or isinstance(value, float):
            raise _fail(WHOLE)
        if isinstance(value, int):
            n = value
        else:
            s = fold(value)
            if not (s.isascii() and s.isdigit()) or len(s) > 20:
                raise _fail(WHOLE)
            n = int(s)
        if unknown_above and n > hi:
            raise _fail(ID_UNKNOWN, value=str(n)[:20])
        if not lo <= n <= hi:
            raise _fail(ID_UNKNOWN, value=str(n)[:20]) if unknown_above else _fail(RANGE, min=lo, max=hi)
        return n
    return parse


def Id(*, title: str = "", optional: bool = False) -> Any:  # noqa: N802
    """An id (a batch, a party, a plot): a positive integer; beyond the database's integers it
    simply does not exist (never a driver error). `optional`: empty means none."""
    whole = _whole(1, limits.MAX_ID, True)
    if optional:
        return Annotated[int | None, Field(title=title), BeforeValidator(lambda v: None if v is None or fold(v) == "" else whole(v))]
    return Annotated[int, Field(title=title, ge=1, le=limits.MAX_ID), BeforeValidator(whole)]


def Count(lo: int, hi: int, *, title: str = "") -> Any:  # noqa: N802
    """A whole number of things between `lo` and `hi`."""
    return Annotated[int, Field(title=title, ge=lo, le=hi), BeforeValidator(_whole(lo, hi, False))]


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=CHINA)  # people here type Beijing time
    else:
        s = fold(value)
        if not s:
            return None
        m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2}).*", s)
        try:
            t = parse_typed(s)
        except ValueError:
            if m:  # the shape is right but the date is not (2026-02-30, 25:00)
                raise _fail(TIME_NONE, value=s[:40]) from None
            raise _fail(TIME_FORMAT) from None
    if not limits.YEARS[0] <= t.year <= limits.YEARS[1]:
        raise _fail(TIME_YEAR, year=t.year)
    return t


When = Annotated[datetime | None, Field(title=N_("Time"), description="RFC 3339, or 'YYYY-MM-DD HH:MM' in Beijing time; empty: now"), BeforeValidator(_when)]


def _choice(allowed: tuple[str, ...], labels: Mapping[str, str] | None) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        s = fold(value)
        if s not in allowed:
            names = [Term(labels[a]) if labels and a in labels else a for a in allowed]
            raise _fail(CHOICE, allowed=names)
        return s
    return parse


def Choice(allowed: tuple[str, ...], *, title: str = "", labels: Mapping[str, str] | None = None) -> Any:  # noqa: N802
    """One of fixed codes (a party's kind, a credit status)."""
    return Annotated[str, Field(title=title, json_schema_extra={"enum": list(allowed)}), BeforeValidator(_choice(allowed, labels))]


def _yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = fold(value).lower()
    if s in ("yes", "true", "1", "on"):
        return True
    if s in ("no", "false", "0", "off", ""):
        return False
    raise _fail(CHOICE, allowed=[Term(N_("yes")), Term(N_("no"))])


YesNo = Annotated[bool, BeforeValidator(_yes_no)]  # a checkbox: empty means no


def _decision(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not fold(value)):
        raise _fail(REQUIRED)
    return _yes_no(value)


Decision = Annotated[bool, BeforeValidator(_decision)]  # a choice that must be made: yes or no


def _decimal(places: int, lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            n = value * 10**places
        else:
            s = fold(value)
            m = re.fullmatch(rf"(\d{{1,9}})(?:\.(\d{{1,{places}}}))?", s)
            if not m:
                raise _fail(DECIMALS, places=places)
            n = int(m.group(1)) * 10**places + int((m.group(2) or "0").ljust(places, "0"))
        if not lo <= n <= hi:
            scale = 10**places
            raise _fail(RANGE, min=_decimal_text(lo, scale), max=_decimal_text(hi, scale))
        return n
    return parse


def _decimal_text(n: int, scale: int) -> str:
    whole, frac = divmod(n, scale)
    return f"{whole}.{frac:0{len(str(scale)) - 1}d}".rstrip("0").rstrip(".")


def AreaMu(*, title: str = "") -> Any:  # noqa: N802
    """An area in mu (亩) with at most two decimals, as integer hundredths of a mu."""
    return Annotated[int, Field(title=title, description="mu with at most two decimals; held as hundredths"), BeforeValidator(_decimal(2, 1, limits.MAX_CENTIMU))]


def _coordinate(lo: int, hi: int) -> Callable[[Any], int | None]:
    def parse(value: Any) -> int | None:
        s = fold(value)
        if not s:
            return None
        m = re.fullmatch(r"(-?)(\d{1,3})(?:\.(\d{1,6}))?", s)
        if not m:
            raise _fail(COORDINATE, min=lo, max=hi)
        micro = int(m.group(2)) * 1_000_000 + int((m.group(3) or "0").ljust(6, "0"))
        micro = -micro if m.group(1) else micro
        if not lo * 1_000_000 <= micro <= hi * 1_000_000:
            raise _fail(COORDINATE, min=lo, max=hi)
        return micro
    return parse


def Coordinate(lo: int, hi: int, *, title: str = "") -> Any:  # noqa: N802
    """Decimal degrees as integer microdegrees, or None when not given."""
    return Annotated[int | None, Field(title=title), BeforeValidator(_coordinate(lo, hi))]


def _temperature(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        t = value * 10
    else:
        m = re.fullmatch(r"(-?)(\d{1,2})(?:\.(\d))?", fold(value))
        if not m:
            raise _fail(TEMPERATURE)
        t = int(m.group(2)) * 10 + int(m.group(3) or 0)
        t = -t if m.group(1) else t
    if not limits.TEMPERATURE_TENTHS[0] <= t <= limits.TEMPERATURE_TENTHS[1]:
        raise _fail(TEMPERATURE)
    return t


Temperature = Annotated[int, Field(title=N_("Temperature (°C)"), description="°C with at most one decimal; held as tenths"),
                        BeforeValidator(_temperature)]


def _pattern(regex: str, how: str, upper: bool) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        s = fold(value)
        s = s.upper() if upper else s
        if not s:
            raise _fail(REQUIRED)
        if not re.fullmatch(regex, s):
            raise _fail(PATTERN, how=Term(how))
        return s
    return parse


def Pattern(regex: str, how: str, *, title: str = "", upper: bool = False) -> Any:  # noqa: N802
    """A code of a fixed shape (a product id, a lot prefix); `how` says the shape to the reader."""
    return Annotated[str, Field(title=title, pattern=f"^{regex}$"), BeforeValidator(_pattern(regex, how, upper))]


class Input(BaseModel):
    """A command's input. Unknown fields are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


InputT = TypeVar("InputT", bound=Input)
_BUILTIN = {  # pydantic's own error types, as our codes
    "missing": REQUIRED, "extra_forbidden": UNKNOWN_FIELD, "too_long": TOO_MANY, "too_short": TOO_FEW,
    "greater_than_equal": RANGE, "less_than_equal": RANGE, "greater_than": RANGE, "less_than": RANGE,
}


def _label(model: type[BaseModel], loc: tuple[Any, ...]) -> Term | str:
    """The title of the field at `loc`, looked up through nested models."""
    cls: Any = model
    title: Any = None
    for part in loc:
        if isinstance(part, int) or cls is None:
            continue
        fields = getattr(cls, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.validation_alias == part), None)
        if info is None:
            return str(part)
        title = info.title or part
        ann = info.annotation
        inner = [a for a in (getattr(ann, "__args__", ()) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        cls = inner[0] if inner else None
    return Term(title) if title else ""


def parse(model: type[InputT], data: Mapping[str, Any], *, unit: str = G,
          names: Callable[[tuple[Any, ...]], str] | Mapping[str, str] | None = None) -> InputT:
    """The typed input from a caller's data: `unit` is the unit its quantities are in, `names`
    maps an input field's path to the caller's field name (for its error messages). Raises the
    first field's refusal, with every field's in its `errors`."""
    try:
        return model.model_validate(dict(data), context={"unit": unit})
    except ValidationError as exc:
        errors = [_refusal(model, err, names) for err in exc.errors(include_url=False)]
        errors[0].errors = errors
        raise errors[0] from None


def _caller_name(loc: tuple[Any, ...], names: Callable[[tuple[Any, ...]], str] | Mapping[str, str] | None) -> str:
    if callable(names):
        return names(loc)
    dotted = ".".join(str(p) for p in loc)
    if names and str(loc[0]) in names and len(loc) == 1:
        return names[str(loc[0])]
    return dotted


def _refusal(model: type[BaseModel], err: Any, names: Any) -> DomainError:
    loc = tuple(err["loc"])
    field = _caller_name(loc, names) if loc else None
    ctx = dict(err.get("ctx") or {})
    code = Code.registry.get(err["type"]) or _BUILTIN.get(err["type"]) or WRONG_TYPE
    params: dict[str, Any] = {"label": _label(model, loc), **ctx}
    if code is UNKNOWN_FIELD:
        params["name"] = field
    if code is RANGE and "min" not in params:
        params["min"] = ctx.get("ge", ctx.get("gt", ""))
        params["max"] = ctx.get("le", ctx.get("lt", ""))
    if code in (TOO_MANY, TOO_FEW):
        params.setdefault("max", ctx.get("max_length", ""))
        params.setdefault("min", ctx.get("min_length", ""))
    return code(field, **params)
