"""The log as C2SP tlog-tiles under /log/: /log/checkpoint (in public.py), /log/tile/<L>/<N>[.p/<W>]
and /log/tile/entries/<N>[.p/<W>]. Tiles never change once the tree has them, so they are
served immutable and cacheable by any HTTP cache; a tile the tree does not have is 404."""
from __future__ import annotations

import gzip

from flask import Blueprint, Response, request

from trace import services
from trace.db import read_session
from trace.ledger import tiles
from trace.ledger.store import LedgerError

bp = Blueprint("tiles", __name__, url_prefix="/log")
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.get("/tile/<path:path>")
def tile(path: str) -> Response:
    """A hash tile or an entry bundle, for the tree of the latest checkpoint."""
    try:
        level, index, width = tiles.parse(path)
    except tiles.TileNotFound as exc:
        return _missing(str(exc))
    svc = services.get()
    with read_session(svc.engine) as s:
        latest = svc.ledger.latest_checkpoint(s)
        size = latest.size if latest is not None else 0
        if not tiles.available(size, 0 if level == "entries" else level, index, width):  # type: ignore[arg-type]
            return _missing(f"the log's latest checkpoint ({size} entries) has no such tile")
        try:
            data = tiles.entry_bundle(s, index, width) if level == "entries" else tiles.hash_tile(s, level, index, width)  # type: ignore[arg-type]
        except tiles.TileNotFound as exc:
            return _missing(str(exc))
        except LedgerError as exc:
            return Response(f"{exc}\n", 500, mimetype="text/plain")
    resp = Response(data, mimetype="application/octet-stream")
    if level == "entries" and "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.set_data(gzip.compress(data, compresslevel=6, mtime=0))
        resp.headers["Content-Encoding"] = "gzip"
    resp.vary.add("Accept-Encoding")
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


def _missing(message: str) -> Response:
    resp = Response(message.rstrip("\n") + "\n", 404, mimetype="text/plain")
    resp.headers["Cache-Control"] = "no-store"  # it may exist once the log grows
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp
