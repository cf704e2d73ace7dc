"""`flask --app trace audit`: is the log an append-only extension of a checkpoint saved earlier?

  audit --against FILE   the log in this instance's database against a saved checkpoint note
  audit --monitor DIR    fetch the current checkpoint from --url, check it against the newest one
                         saved in DIR, save it (a cron job on the bureau's own machine)

Exit 0: a consistent extension. Exit 1: rewritten, truncated or forked (it says which). Exit 2:
the input is not usable (unreadable file, a checkpoint that does not verify with the log's key,
an unreachable log), nothing judged."""
from __future__ import annotations

import base64
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click
from flask import Flask, current_app

from trace import services
from trace.db import read_session
from trace.ledger import note
from trace.ledger.audit import Verdict, judge, read_checkpoint
from trace.ledger.cosig import CosignatureVerifier
from trace.ledger.store import LedgerError

SAVED = re.compile(r"checkpoint-(\d{20})\.txt")


def _unusable(message: str) -> None:
    click.echo(f"cannot audit: {message}", err=True)
    sys.exit(2)


def _verdict(v: Verdict) -> None:
    if v.ok:
        click.echo(f"OK: {v.message}")
        return
    click.echo(f"{v.kind.upper()}: {v.message}", err=True)
    sys.exit(1)


def against(path: str) -> Verdict:
    """The local log against the saved checkpoint note in `path`."""
    svc = services.get()
    try:
        saved = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _unusable(f"{path}: {exc}")
    try:
        old = read_checkpoint(saved, svc.signer.vkey, svc.origin)
    except note.NoteError as exc:
        _unusable(f"{path} is not a checkpoint signed by this log's key ({exc}); save one from /log/checkpoint as text")
    with read_session(svc.engine) as s:
        latest = svc.ledger.latest_checkpoint(s)
        if latest is None:
            return judge(old, (0, b""), None)
        try:
            new = read_checkpoint(latest.note, svc.signer.vkey, svc.origin)
        except note.NoteError as exc:
            return Verdict("rewritten", f"the log's latest stored checkpoint does not verify with its key ({exc})")
        stored = svc.ledger.checkpoint_at(s, old[0])
        if stored is not None and new[0] > old[0] and bytes(stored.root) != old[1]:
            try:
                read_checkpoint(stored.note, svc.signer.vkey, svc.origin)
                return Verdict("forked", f"the log holds a signed checkpoint of {old[0]} entries with another root than the "
                                         "saved one: two signed trees of one size, both are evidence")
            except note.NoteError:
                pass
        proof = None
        if 0 < old[0] < new[0]:
            try:
                proof = [base64.b64decode(p) for p in svc.ledger.consistency_proof(s, old[0], new[0])["proof"]]  # type: ignore[union-attr]
            except (LedgerError, KeyError):
                proof = None
    return judge(old, new, proof)


def _get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "shapotou-trace-audit"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read(1 << 20)


def monitor(directory: str, base: str, vkey: str | None, witnesses: tuple[str, ...]) -> Verdict:
    """Fetch, check against the newest saved checkpoint in `directory`, save."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    pinned = folder / "log.vkey"
    if vkey is None and pinned.exists():
        vkey = pinned.read_text().strip()
    base = base.rstrip("/")
    try:
        if vkey is None:  # first run: pin the key the log serves now, and say so
            vkey = _get(base + "/log/key").decode().strip()
            click.echo(f"pinned the log's key {vkey} in {pinned} (check it against one you trust)")
        current = _get(base + "/log/checkpoint").decode("utf-8")
    except (OSError, urllib.error.URLError, UnicodeDecodeError) as exc:
        _unusable(f"cannot fetch from {base}: {exc}")
    try:
        new = read_checkpoint(current, vkey)
    except note.NoteError as exc:
        return Verdict("forked", f"the checkpoint {base}/log/checkpoint serves does not verify with the pinned key ({exc})")
    if not pinned.exists():
        pinned.write_text(vkey + "\n")
    for wkey in witnesses:
        verifier = CosignatureVerifier(wkey)
        text = current[: current.rfind("\n\n") + 1]
        try:
            stamps = [verifier.verify(text, line) for line in current.splitlines() if verifier.matches(line)]
        except note.NoteError as exc:
            return Verdict("forged", f"the checkpoint carries a cosignature line of witness {verifier.name} that does not verify ({exc})")
        if not stamps:
            return Verdict("unwitnessed", f"the checkpoint carries no valid cosignature by witness {verifier.name}")
        click.echo(f"cosigned by {verifier.name} at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(stamps[0]))} UTC")
    saved = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SAVED.fullmatch(p.name)))
    if not saved:
        (folder / f"checkpoint-{new[0]:020d}.txt").write_text(current, encoding="utf-8")
        return Verdict("consistent", f"first checkpoint saved ({new[0]} entries)")
    try:
        old = read_checkpoint(saved[-1][1].read_text(encoding="utf-8"), vkey)
    except (OSError, UnicodeDecodeError, note.NoteError) as exc:
        _unusable(f"the newest saved checkpoint {saved[-1][1]} is not usable ({exc}): move it away to start again from the one before")
    proof: list[bytes] | None = None
    verdict: Verdict
    if new[0] < old[0]:
        # Served an older tree: fine if it is a prefix of the saved one, else the log lost entries.
        try:
            got = _proof(base, new[0], old[0])
            verdict = judge((new[0], new[1]), old, got)
            if verdict.ok:
                return Verdict("consistent", f"the log serves an older checkpoint ({new[0]} entries) than the saved "
                                             f"one ({old[0]}), and proves it a prefix of it")
        except (OSError, urllib.error.URLError, ValueError):
            pass
        verdict = judge(old, new, None)
    else:
        if old[0] < new[0]:
            try:
                proof = _proof(base, old[0], new[0])
            except (OSError, urllib.error.URLError, ValueError):
                proof = None
        verdict = judge(old, new, proof)
    if verdict.ok:
        if new[0] > old[0]:
            (folder / f"checkpoint-{new[0]:020d}.txt").write_text(current, encoding="utf-8")
    else:  # keep what the log served as evidence, beside the checkpoint it conflicts with
        (folder / f"conflict-{new[0]:020d}-{int(time.time())}.txt").write_text(current, encoding="utf-8")
    return verdict


def _proof(base: str, old: int, size: int) -> list[bytes]:
    import json

    data = json.loads(_get(f"{base}/log/proof/consistency?old={old}&size={size}"))
    return [base64.b64decode(p, validate=True) for p in data["proof"]]


def init_app(app: Flask) -> None:
    """Register the audit command."""

    @app.cli.command("audit")
    @click.option("--against", "against_file", metavar="FILE", help="A checkpoint note saved earlier from /log/checkpoint.")
    @click.option("--monitor", "monitor_dir", metavar="DIR", help="Folder of saved checkpoints (cron job).")
    @click.option("--url", help="The log's base URL for --monitor (default TRACE_PUBLIC_URL).")
    @click.option("--key", help="The log's verifier key for --monitor (default: pinned in DIR on the first run).")
    @click.option("--witness", multiple=True, metavar="VKEY", help="With --monitor: require this witness's cosignature.")
    def audit_cmd(against_file: str | None, monitor_dir: str | None, url: str | None, key: str | None,
                  witness: tuple[str, ...]) -> None:
        """Exit 0 if the log extends the saved checkpoint, 1 if it was rewritten, truncated or forked."""
        if bool(against_file) == bool(monitor_dir):
            _unusable("give exactly one of --against FILE or --monitor DIR")
        if against_file:
            _verdict(against(against_file))
            return
        for wkey in witness:
            try:
                CosignatureVerifier(wkey)
            except note.NoteError as exc:
                _unusable(f"--witness {wkey[:60]!r}: {exc}")
        base = url or current_app.config["TRACE_PUBLIC_URL"]
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            _unusable(f"--url {base!r} must be an http(s) URL")
        _verdict(monitor(os.fspath(monitor_dir), base, key, witness))  # type: ignore[arg-type]
