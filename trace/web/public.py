"""Public, no login: the log API that any transparency-log tool can check, and the pages a
consumer reaches by scanning a package's QR code (trace/web/public_pages.py)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from trace import services
from trace.db import read_session
from trace.ledger.store import LedgerError
from trace.ledger.witnessing import served_checkpoint
from trace.web import cases, public_pages

bp = Blueprint("public", __name__)
public_pages.register(bp)
cases.register(bp)


def _bad(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": message}), status


MAX_INDEX = 2**63 - 1  # the log's indexes and sizes are 64-bit integers in every engine


def log_number(raw: str, what: str) -> int:
    """A log index or size from a URL: ASCII digits only (not '²' or '٣'), within 64 bits."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_INDEX:
        raise LedgerError(f"{what} must be a whole number from 0 to {MAX_INDEX} in ASCII digits, not {raw[:40]!r}")
    return int(raw)


def _int_arg(name: str, required: bool = True) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise LedgerError(f"query parameter {name!r} is required, e.g. ?{name}=0")
        return None
    return log_number(raw, f"query parameter {name!r}")


@bp.errorhandler(LedgerError)
def _ledger_error(exc: LedgerError) -> tuple[Response, int]:
    return _bad(str(exc))


@bp.get("/log/checkpoint")
def checkpoint() -> Response | tuple[Response, int]:
    """The latest witnessed checkpoint (C2SP tlog-checkpoint signed note with the witnesses'
    cosignature lines; the latest signed one when no witness is configured or none cosigned yet)."""
    svc = services.get()
    with read_session(svc.engine) as s:
        signed = served_checkpoint(s, svc.witnesses, int(current_app.config.get("TRACE_WITNESS_QUORUM", 1)))
    svc.cosigning.notify()  # a reader is a good moment to catch up checkpoints written elsewhere
    if signed is None:
        return Response("the log is empty: no checkpoint yet\n", status=404, mimetype="text/plain")
    resp = Response(signed, mimetype="text/plain")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/log/key")
def key() -> Response:
    """The verifier key in signed-note format: name+hex8+base64."""
    resp = Response(services.get().signer.vkey + "\n", mimetype="text/plain")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.get("/log/entries/<index>")
def entry(index: str) -> Response | tuple[Response, int]:
    """One entry's exact bytes: SHA-256(0x00 || body) is its leaf hash."""
    try:
        number = log_number(index, "entry index")
    except LedgerError as exc:
        return _bad(str(exc))
    svc = services.get()
    with read_session(svc.engine) as s:
        try:
            body = svc.ledger.entry(s, number)
        except LedgerError as exc:
            return _bad(str(exc), 404)
    resp = Response(body, mimetype="application/json")
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # entries never change
    return resp


@bp.get("/log/proof/inclusion")
def inclusion() -> Response:
    """RFC 9162 inclusion proof of entry `index` in the tree of `size` (default: latest checkpoint)."""
    index, size = _int_arg("index"), _int_arg("size", required=False)
    svc = services.get()
    with read_session(svc.engine) as s:
        return jsonify(svc.ledger.inclusion_proof(s, index, size))  # type: ignore[arg-type]


@bp.get("/log/proof/consistency")
def consistency() -> Response:
    """RFC 9162 consistency proof between the trees of `old` and `size` entries."""
    old, size = _int_arg("old"), _int_arg("size", required=False)
    svc = services.get()
    with read_session(svc.engine) as s:
        return jsonify(svc.ledger.consistency_proof(s, old, size))  # type: ignore[arg-type]
