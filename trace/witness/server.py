"""The witness over HTTP (a plain WSGI app, no Flask): POST /add-checkpoint as in
c2sp.org/tlog-witness; GET / for its name, key and what it has cosigned; GET /evidence for the
checkpoints it refused, with the ones they conflict with."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from trace.witness.core import MAX_BODY, Witness

log = logging.getLogger(__name__)


def wsgi_app(witness: Witness) -> Any:
    """The WSGI application of one witness."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/add-checkpoint":
            if request.method != "POST":
                resp = Response("add-checkpoint takes a POST\n", 405, {"Allow": "POST"}, mimetype="text/plain")
            elif (request.content_length or 0) > MAX_BODY:
                resp = Response(f"request body is over {MAX_BODY} bytes\n", 413, mimetype="text/plain")
            else:
                answer = witness.add_checkpoint(request.stream.read(MAX_BODY + 1))
                resp = Response(answer.body, answer.status, content_type=answer.content_type)
                if answer.status != 200:
                    log.warning("add-checkpoint refused (%d): %s", answer.status, answer.body.strip()[:200])
        elif request.path == "/" and request.method in ("GET", "HEAD"):
            body = {"name": witness.cosigner.name, "vkey": witness.cosigner.vkey, "logs": witness.state()}
            resp = Response(json.dumps(body, ensure_ascii=False, indent=1) + "\n", mimetype="application/json")
        elif request.path == "/evidence" and request.method in ("GET", "HEAD"):
            resp = Response(json.dumps(witness.evidence(), ensure_ascii=False, indent=1) + "\n", mimetype="application/json")
        else:
            resp = Response("not found: this witness serves POST /add-checkpoint, GET / and GET /evidence\n", 404,
                            mimetype="text/plain")
        resp.headers["Cache-Control"] = "no-store"
        return resp(environ, start_response)

    return app


def serve(witness: Witness, host: str, port: int) -> None:
    """Serve until interrupted (threaded; one SQLite connection per thread)."""
    server = make_server(host, port, wsgi_app(witness), threaded=True)
    log.info("witness %s on http://%s:%d", witness.cosigner.vkey, host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
