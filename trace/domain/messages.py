"""Messages in the reader's language, from the one gettext catalogue (trace/translations).

The domain never writes Chinese or English text inline: a refusal carries a stable code and its
parameters, and this module renders the code's message (an English msgid translated through the
catalogue that `pybabel compile` builds) in the reader's language and unit. It uses Babel's own
Translations, not Flask, so the CLI, the replay and the web all say the same thing."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel.support import NullTranslations, Translations

TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "translations")
LANGUAGES = ("zh", "en")


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention pybabel extracts
    """Mark a message for extraction; it is translated where it is shown."""
    return msgid


@lru_cache(maxsize=4)
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of a language (English msgids need none)."""
    if lang.startswith("en"):
        return NullTranslations()
    return Translations.load(TRANSLATIONS, [lang.split("-")[0].split("_")[0]], domain="messages")


def gettext(msgid: str, lang: str) -> str:
    """One message in a language."""
    return translations(lang).gettext(msgid)


@dataclass(frozen=True)
class Names:
    """A name that has a Chinese and an English form (a product, a kind of party)."""

    zh: str
    en: str

    def render(self, lang: str, unit: str) -> str:
        """The name in the reader's language."""
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True)
class Mass:
    """A quantity of fruit, held in grams, shown in the unit the reader typed."""

    grams: int

    def render(self, lang: str, unit: str) -> str:
        """12500 g reads '12.5 kg' to someone who types kilograms, '12500 g' to someone who types grams."""
        if unit == "g":
            return gettext("%(n)s g", lang) % {"n": self.grams}
        return gettext("%(n)s kg", lang) % {"n": kg_text(self.grams)}


@dataclass(frozen=True)
class Term:
    """A word of the catalogue (a field's label, a kind of event) translated where it is shown."""

    msgid: str

    def render(self, lang: str, unit: str) -> str:
        """The word in the reader's language."""
        return gettext(self.msgid, lang)


@dataclass(frozen=True)
class Month:
    """A month of the year by its number: 9月 in Chinese, 9 in English."""

    number: int

    def render(self, lang: str, unit: str) -> str:
        """The month as the reader's language writes it."""
        return translations(lang).pgettext("month number", "%(n)s") % {"n": self.number}


@dataclass(frozen=True)
class Listing:
    """Several values, listed the way the reader's language lists them."""

    items: tuple[Any, ...]

    def render(self, lang: str, unit: str) -> str:
        """Joined by 、 in Chinese and by commas in English."""
        parts = [render_value(i, lang, unit) for i in self.items]
        return ("、" if lang.startswith("zh") else ", ").join(parts)


def kg_text(grams: int) -> str:
    """Integer grams as kilograms, exactly and without a float: 12500 -> '12.5'."""
    sign = "-" if grams < 0 else ""
    whole, rest = divmod(abs(grams), 1000)
    frac = f"{rest:03d}".rstrip("0")
    return f"{sign}{whole}" + (f".{frac}" if frac else "")


def render_value(value: Any, lang: str, unit: str) -> str:
    """A message parameter as text for the reader."""
    if hasattr(value, "render"):
        return str(value.render(lang, unit))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return Listing(tuple(value)).render(lang, unit)
    return str(value)


def render(msgid: str, params: Mapping[str, Any], lang: str = "zh", unit: str = "kg") -> str:
    """A message template in the reader's language, its parameters filled in."""
    text = gettext(msgid, lang)
    if not params:
        return text
    return text % {k: render_value(v, lang, unit) for k, v in params.items()}
