"""The arrows of the house (DESIGN.md): web -> domain -> ledger. Nothing under trace/domain or
trace/ledger imports Flask, and the ledger imports nothing of the domain or the web."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "trace"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["domain", "ledger"])
def test_no_flask_below_the_web(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) >= 5
    for path in files:
        bad = {m for m in _imports(path) if m.split(".")[0] in ("flask", "flask_babel", "flask_login", "flask_wtf")
               or m.startswith("trace.web")}
        assert not bad, f"{path.relative_to(ROOT.parent)} imports {sorted(bad)}"


def test_the_ledger_knows_bytes_not_apples() -> None:
    for path in sorted((ROOT / "ledger").rglob("*.py")):
        bad = {m for m in _imports(path) if m.startswith(("trace.domain", "trace.web", "trace.cli"))}
        assert not bad, f"{path.relative_to(ROOT.parent)} imports {sorted(bad)}"


def test_the_check_fails_on_a_flask_import(tmp_path: Path) -> None:
    """The scan above can fail: it sees an import of Flask, however it is written."""
    for source in ("import flask\n", "from flask import current_app\n", "def f():\n    from flask_babel import gettext\n"):
        path = tmp_path / "m.py"
        path.write_text(source)
        assert {m.split(".")[0] for m in _imports(path)} & {"flask", "flask_babel"}


def test_the_domain_builds_no_engines() -> None:
    """Engines (and their connections' settings) are the wiring's business (trace/db.py,
    trace/services.py); the domain is handed them."""
    for path in sorted((ROOT / "domain").rglob("*.py")):
        names = {n.id if isinstance(n, ast.Name) else n.attr
                 for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, (ast.Name, ast.Attribute))}
        assert not names & {"create_engine", "make_engine", "make_scan_engine"}, path.relative_to(ROOT.parent)
