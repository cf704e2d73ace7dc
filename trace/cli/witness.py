"""`flask --app trace witness ...`: run a witness (serve, key, evidence) and, on the log's side,
ask the configured witnesses to cosign now (cosign).

The witness's settings (TRACE_* from the environment like the rest):
  TRACE_WITNESS_NAME      its key name, a schema-less URL (default witness.local/shapotou-demo)
  TRACE_WITNESS_KEY_FILE  its private key, mode 0600 (default instance/witness.key)
  TRACE_WITNESS_STATE     its SQLite state (default instance/witness.db)
  TRACE_WITNESS_LOGS      the logs it witnesses, "origin vkey" entries separated by ';' (default:
                          this app's own log, for the local demo witness)
  TRACE_WITNESS_PORT      the port `serve` listens on (default 7380)"""
from __future__ import annotations

import json
import os

import click
from flask import Flask, current_app

from trace import services
from trace.ledger import keyfile
from trace.ledger.cosig import Cosigner, generate_cosigner_key
from trace.ledger.note import NoteError
from trace.ledger.store import LedgerError
from trace.witness.core import Witness, parse_logs

DEFAULT_NAME = "witness.local/shapotou-demo"
DEFAULT_PORT = 7380


def _conf(key: str, default: str) -> str:
    return str(current_app.config.get(key) or default)


def witness_cosigner() -> Cosigner:
    """This instance's witness key, generated on first use (mode 0600)."""
    path = _conf("TRACE_WITNESS_KEY_FILE", os.path.join(current_app.instance_path, "witness.key"))
    name = _conf("TRACE_WITNESS_NAME", DEFAULT_NAME)
    try:
        cosigner = Cosigner(keyfile.ensure(path, lambda: generate_cosigner_key(name)))
    except NoteError as exc:
        raise click.ClickException(f"{path}: {exc}; fix TRACE_WITNESS_NAME or move the key file away") from None
    if cosigner.name != name and current_app.config.get("TRACE_WITNESS_NAME"):
        raise click.ClickException(f"the witness key in {path} is named {cosigner.name!r}, not TRACE_WITNESS_NAME "
                                   f"{name!r}: a witness keeps its name, so unset it or use another key file")
    return cosigner


def build_witness() -> Witness:
    """The witness of this instance's settings."""
    spec = str(current_app.config.get("TRACE_WITNESS_LOGS") or "")
    if not spec:
        svc = services.get()
        spec = f"{svc.origin} {svc.signer.vkey}"
    try:
        logs = parse_logs(spec)
    except ValueError as exc:
        raise click.ClickException(f"TRACE_WITNESS_LOGS: {exc}") from None
    state = _conf("TRACE_WITNESS_STATE", os.path.join(current_app.instance_path, "witness.db"))
    os.makedirs(os.path.dirname(os.path.abspath(state)), exist_ok=True)
    return Witness(witness_cosigner(), logs, state)


def init_app(app: Flask) -> None:
    """Register the witness commands."""

    @app.cli.group("witness")
    def witness_group() -> None:
        """A C2SP witness of its own (serve, key, evidence) and the log's witness client (cosign)."""

    @witness_group.command("serve")
    @click.option("--port", type=click.IntRange(1, 65535), help=f"Port to listen on (default {DEFAULT_PORT}).")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    def serve_cmd(port: int | None, host: str) -> None:
        """Serve POST /add-checkpoint: verify, check consistency, cosign; refuse forks, keep evidence."""
        from trace.witness.server import serve

        witness = build_witness()
        port = port or int(_conf("TRACE_WITNESS_PORT", str(DEFAULT_PORT)))
        click.echo(f"witness {witness.cosigner.vkey}")
        click.echo(f"witnessing {', '.join(sorted(witness.logs))}; listening on http://{host}:{port}/add-checkpoint")
        serve(witness, host, port)

    @witness_group.command("key")
    def key_cmd() -> None:
        """Print the witness's verifier key (name+hex8+base64), creating the key on first use."""
        click.echo(witness_cosigner().vkey)

    @witness_group.command("evidence")
    def evidence_cmd() -> None:
        """Print, as JSON, every checkpoint this witness refused and the one it conflicts with."""
        click.echo(json.dumps(build_witness().evidence(), ensure_ascii=False, indent=1))

    @witness_group.command("cosign")
    def cosign_cmd() -> None:
        """Ask the log's configured witnesses (TRACE_WITNESSES) to cosign the latest checkpoint now."""
        svc = services.get()
        try:
            witnesses = svc.witnesses
        except LedgerError as exc:
            raise click.ClickException(f"TRACE_WITNESSES: {exc}") from None
        if not witnesses:
            raise click.ClickException("no witnesses are configured: set TRACE_WITNESSES to 'vkey url' entries separated by ';'")
        failed = False
        for name, outcome in svc.cosigning.run_once().items():
            click.echo(f"{name}: {outcome}")
            failed = failed or not (outcome.startswith("cosigned") or outcome == "up to date")
        if failed:
            raise SystemExit(1)
