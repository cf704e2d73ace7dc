"""The package is called `trace`, like a standard-library module: make sure ours is the one imported."""
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_trace_is_this_project() -> None:
    import trace

    assert hasattr(trace, "create_app"), f"imported the wrong trace: {trace.__file__}"
    assert Path(trace.__file__).resolve() == ROOT / "trace" / "__init__.py"


def test_stdlib_trace_would_shadow_without_root_first() -> None:
    """Proof that the guard matters: without the root on the path, `trace` is the stdlib's."""
    saved_path, saved_mod = list(sys.path), sys.modules.pop("trace")
    try:
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
        other = importlib.import_module("trace")
        assert not hasattr(other, "create_app")
        assert hasattr(other, "Trace")  # the stdlib's tracing class
    finally:
        sys.path[:] = saved_path
        sys.modules["trace"] = saved_mod


def test_trace_settings_come_from_the_environment(monkeypatch) -> None:
    from trace import create_app

    monkeypatch.setenv("TRACE_COPY_CLIENTS", "7")
    monkeypatch.setenv("TRACE_REPORT_URL", "https://example.org/report")
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["TRACE_COPY_CLIENTS"] == 7
    assert app.config["TRACE_REPORT_URL"] == "https://example.org/report"
