"""One message catalogue, made with Babel's own tools: every message of the code and the
templates has its Chinese, with the same placeholders; refusals render in both languages."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from trace.domain.errors import Code
from trace.domain.messages import render

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "trace" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
HAN = re.compile(r"[\u4e00-\u9fff]")
NOT_CHINESE = {"English", "GTIN %(gtin)s is used by %(product)s."}  # names, or Chinese text around a code


def _catalogue() -> dict[object, object]:
    with CATALOGUE.open("rb") as f:
        cat = read_po(f, locale="zh")
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in cat if m.id}


def _extracted() -> set[tuple[str | None, str]]:
    """Every message pybabel extracts with the project's babel.cfg (as `make translations` does)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "N_": None}
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(str(ROOT), method_map, options_map,
                                                                       keywords=keywords):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def test_there_is_one_catalogue_and_no_merge_script() -> None:
    assert CATALOGUE.exists()
    assert sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "trace" / "translations").rglob("*.po")) == [
        "trace/translations/zh/LC_MESSAGES/messages.po"]
    assert not (ROOT / "scripts" / "compile_translations.py").exists()
    assert "pybabel" in (ROOT / "Makefile").read_text()


def test_every_message_in_the_code_and_templates_has_chinese() -> None:
    catalogue = _catalogue()
    wanted = _extracted()
    assert len(wanted) > 500
    problems = []
    for context, msgid in sorted(wanted, key=lambda k: (k[0] or "", k[1])):
        entry = catalogue.get((context, msgid))
        text = entry.string if entry is not None else ""
        if isinstance(text, tuple):  # a plural: Chinese has one form
            text = text[0]
        if not text or (entry is not None and entry.fuzzy):
            problems.append(f"no Chinese: {msgid!r}")
            continue
        if sorted(re.findall(r"%\(\w+\)[sd]", msgid)) != sorted(re.findall(r"%\(\w+\)[sd]", text)):
            problems.append(f"placeholders differ: {msgid!r} -> {text!r}")
        if not HAN.search(text) and msgid not in NOT_CHINESE:
            problems.append(f"not Chinese: {msgid!r} -> {text!r}")
    assert not problems, problems[:30]


def test_every_refusal_reads_in_both_languages() -> None:
    """Each code's message exists in Chinese; rendering fills its parameters in either language."""
    catalogue = _catalogue()
    assert len(Code.registry) > 100
    for code in Code.registry.values():
        assert (None, code.msgid) in catalogue and catalogue[(None, code.msgid)].string, code.code
        params = {name: "X" for name in re.findall(r"%\((\w+)\)s", code.msgid)}
        zh, en = render(code.msgid, params, "zh"), render(code.msgid, params, "en")
        assert HAN.search(zh) or code.msgid in NOT_CHINESE, (code.code, zh)
        assert "%(" not in zh and "%(" not in en and en == code.msgid % params


def test_quantities_render_in_the_unit_the_reader_types() -> None:
    from trace.domain.messages import Mass

    err = Code.registry["gi.over_ceiling"](None, area="10", ceiling=Mass(20_000_000), before=Mass(12_500), quantity=Mass(1))
    assert "20000 kg" in err.message("en") and "12.5 kg" in err.message("en") and "0.001 kg" in err.message("en")
    assert "20000 公斤" in err.message("zh") and "20000000 g" in err.message("en", unit="g")
    assert "20000000 克" in err.message("zh", unit="g")
