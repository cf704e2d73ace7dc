"""Merge the translation parts (trace/translations/zh/*.po, one per area of the app) into the
catalog Flask-Babel reads, trace/translations/zh/LC_MESSAGES/messages.mo. Run by `make` and tests."""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1] / "trace" / "translations"


def compile_all() -> int:
    """Compile every language folder; returns the number of messages."""
    total = 0
    for lang_dir in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        merged = Catalog(locale=lang_dir.name)
        for part in sorted(lang_dir.glob("*.po")):
            with part.open("rb") as f:
                for msg in read_po(f, locale=lang_dir.name):
                    if msg.id and msg.string:
                        if msg.id in merged and merged[msg.id].string != msg.string:
                            raise SystemExit(f"{part}: {msg.id!r} translated differently in another part")
                        merged.add(msg.id, msg.string)
        out = lang_dir / "LC_MESSAGES" / "messages.mo"
        out.parent.mkdir(exist_ok=True)
        with out.open("wb") as f:
            write_mo(f, merged)
        total += len(merged)
    return total


if __name__ == "__main__":
    print(f"compiled {compile_all()} translations", file=sys.stderr)
