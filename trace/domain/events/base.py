"""The base of every typed event: strict models, the field types they share, and versions.

An entry is permanent, so an event type never changes meaning: a field that a later encoding
adds is marked `Since(n)`, one that it drops `Until(n)`. An entry says which encoding it uses
(`v`, absent in version 1); `check_shape` then demands exactly the fields of that version, so that
old entries stay readable and a new one cannot leave out what its version requires."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from trace.clock import LOG_TIME
from trace.domain import limits


@dataclass(frozen=True)
class Since:
    """A field that entries carry from this encoding version on."""

    version: int


@dataclass(frozen=True)
class Until:
    """A field that entries carry only up to this encoding version."""

    version: int


def _no_controls(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise ValueError("contains control characters")
    return value


def text(max_len: int, *, required: bool = True) -> Any:
    """A text field of an event: at most `max_len` characters, no control characters."""
    return Annotated[str, StringConstraints(min_length=1 if required else 0, max_length=max_len),
                     AfterValidator(_no_controls)]


Id = Annotated[int, Field(ge=1, le=limits.MAX_ID)]
Grams = Annotated[int, Field(gt=0, le=limits.MAX_GRAMS)]
GramsOrZero = Annotated[int, Field(ge=0, le=limits.MAX_GRAMS)]
LogTime = Annotated[str, Field(pattern=f"^{LOG_TIME.pattern}$")]
Hex64 = Annotated[str, Field(pattern=f"^{limits.HEX64}$")]
LotCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,20}$")]
Season = Annotated[int, Field(ge=limits.YEARS[0], le=limits.YEARS[1])]


class Model(BaseModel):
    """A strict, immutable part of a log entry: unknown keys and loose types are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Event(Model):
    """One event of the log. Subclasses declare `type` as a Literal and their fields."""

    TYPE: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        if field is not None and field.default is not None:
            cls.TYPE = field.default


class NewLot(Model):
    """A batch an event creates: its id and lot code."""

    id: Id
    lot: LotCode


class NewLotQuantity(NewLot):
    """A batch an event creates with its quantity."""

    quantity_g: Grams


# -- versions ---------------------------------------------------------------------------------


@cache
def _plan(cls: type[BaseModel]) -> tuple[tuple[str, int, int, bool], ...]:
    """(field, first version, last version, whether its value needs a look inside) per field."""
    out = []
    for name, info in cls.model_fields.items():
        lo, hi = 1, 10**6
        for meta in info.metadata:
            if isinstance(meta, Since):
                lo = meta.version
            elif isinstance(meta, Until):
                hi = meta.version
        out.append((name, lo, hi, _nested(info.annotation)))
    return tuple(out)


@cache
def _needs_look(cls: type[BaseModel]) -> bool:
    """Whether a model (or anything inside it) has fields that some versions leave out."""
    return any(not info.is_required() for info in cls.model_fields.values()) or any(
        nested for *_, nested in _plan(cls))


def _nested(annotation: Any) -> bool:
    args = getattr(annotation, "__args__", ()) or ()
    candidates = [annotation, *args]
    return any(isinstance(c, type) and issubclass(c, BaseModel) and _needs_look(c) for c in candidates)


def check_shape(model: BaseModel, version: int, where: str = "event") -> str | None:
    """What is wrong with the fields a decoded model carries for its encoding version, or None."""
    present = model.model_fields_set
    for name, lo, hi, nested in _plan(type(model)):
        if lo <= version <= hi:
            if name not in present and name != "type":
                return f"{where}.{name} is missing (entries of version {version} carry it)"
        elif name in present:
            return f"{where}.{name} does not belong in an entry of version {version}"
        if nested:
            value = getattr(model, name)
            items = value if isinstance(value, (list, tuple)) else [value]
            for i, item in enumerate(items):
                if isinstance(item, BaseModel):
                    problem = check_shape(item, version, f"{where}.{name}[{i}]" if value is items else f"{where}.{name}")
                    if problem:
                        return problem
    return None
