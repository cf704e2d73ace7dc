"""The bureau's audit of the log: checkpoint history, consistency between any two checkpoints,
witnesses, alarms, and full verify runs with their progress. Regulators only: every function
checks the actor here, whatever the page shows (Forbidden otherwise). No Flask."""
from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.db import read_session, write_session
from trace.domain.actors import Actor
from trace.domain.errors import Code, Forbidden, InvalidInput, RuleViolation
from trace.domain.messages import N_
from trace.domain.replay import ReplayError, compare, replay, users_without_entry
from trace.domain.tables.parties import Party, PartyKind
from trace.ledger import merkle, note
from trace.ledger.models import Alarm, Checkpoint, Cosignature, VerifyRun, WitnessStatus
from trace.ledger.store import Ledger, LedgerError, VerifyError, b64

log = logging.getLogger(__name__)
PAGE = 50
STALE = timedelta(hours=6)  # a run that long without finishing died with its process
BUREAU_ONLY = Code("audit.bureau_only", Forbidden, N_("Only the market supervision bureau may use the audit page."))
SIZE_FORMAT = Code("audit.size_format", InvalidInput, N_("A checkpoint size must be a positive whole number."))
NO_CHECKPOINT = Code("audit.no_checkpoint", InvalidInput,
                     N_("There is no stored checkpoint of size %(size)s: pick one from the history."))
RUNNING = Code("audit.verify_running", RuleViolation, N_("A full verify is already running; wait for it to finish."))


@dataclass(frozen=True)
class Verified:
    """What verify found: the log's size and root, and how long each pass took (seconds)."""

    entries: int
    root: bytes
    integrity_s: float
    replay_s: float


def _regulator(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id else None
    if party is None or party.kind != PartyKind.REGULATOR:
        raise BUREAU_ONLY()


def _utc(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def overview(engine: Engine, ledger: Ledger, actor: Actor, *, before: int | None = None) -> dict[str, Any]:
    """Everything the audit page shows: checkpoints (newest first, PAGE at a time, below
    `before`), with their cosignature counts; witnesses; alarms; the signer's record; verify runs."""
    with read_session(engine) as s:
        _regulator(s, actor)
        q = select(Checkpoint.size, Checkpoint.root, Checkpoint.created_at, Checkpoint.prev_size).order_by(Checkpoint.size.desc())
        if before is not None:
            q = q.where(Checkpoint.size < before)
        rows = s.execute(q.limit(PAGE)).all()
        sizes = [r.size for r in rows]
        cosigned: dict[int, list[str]] = {}
        if sizes:
            for size, witness in s.execute(select(Cosignature.size, Cosignature.witness).where(Cosignature.size.in_(sizes))):
                cosigned.setdefault(size, []).append(witness)
        checkpoints = [{"size": r.size, "root": b64(bytes(r.root)), "created_at": _utc(r.created_at), "prev_size": r.prev_size,
                        "witnesses": sorted(cosigned.get(r.size, []))} for r in rows]
        total = s.scalar(select(func.count()).select_from(Checkpoint)) or 0
        witnesses = [{"name": w.name, "url": w.url, "size": w.size, "ok_at": _utc(w.ok_at), "error": w.error,
                      "error_at": _utc(w.error_at)} for w in s.scalars(select(WitnessStatus).order_by(WitnessStatus.name))]
        alarms = [{"at": _utc(a.at), "kind": a.kind, "message": a.message}
                  for a in s.scalars(select(Alarm).order_by(Alarm.id.desc()).limit(20))]
        runs = [_run(r) for r in s.scalars(select(VerifyRun).order_by(VerifyRun.id.desc()).limit(5))]
        size = ledger.size(s)
    try:
        record = ledger.signer_state()
        signer = {"size": record.size, "root": b64(record.root), "count": record.count, "base": record.base, "at": record.at} if record else None
        signer_error = ""
    except Exception as exc:  # a damaged record is itself something to show
        signer, signer_error = None, str(exc)
    return {"checkpoints": checkpoints, "total": total, "size": size, "witnesses": witnesses, "alarms": alarms,
            "runs": runs, "signer": signer, "signer_error": signer_error,
            "more": checkpoints[-1]["size"] if len(checkpoints) == PAGE else None}


def _run(r: VerifyRun) -> dict[str, Any]:
    started = _utc(r.started_at)
    state = r.state
    if state == "running" and started is not None and datetime.now(UTC) - started > STALE:
        state = "interrupted"
    return {"id": r.id, "state": state, "phase": r.phase, "done": r.done, "total": r.total, "message": r.message,
            "started_at": started, "finished_at": _utc(r.finished_at), "requested_by": r.requested_by,
            "percent": int(100 * r.done / r.total) if r.total else (100 if r.state != "running" else 0)}


def check_pair(engine: Engine, ledger: Ledger, vkey: str, actor: Actor, old: object, new: object) -> dict[str, Any]:
    """Consistency between two stored checkpoints: both signatures, then the RFC 9162 proof from
    the stored nodes between their roots. Returns {"ok", "message", ...}."""
    sizes = []
    for value, name in ((old, "old"), (new, "new")):
        raw = str(value or "").strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
            raise SIZE_FORMAT(name)
        sizes.append(int(raw))
    a, b = sorted(sizes)
    with read_session(engine) as s:
        _regulator(s, actor)
        cps = {n: ledger.checkpoint_at(s, n) for n in (a, b)}
        for n, cp in cps.items():
            if cp is None:
                raise NO_CHECKPOINT("old", size=n)
        roots = {}
        for n, cp in cps.items():
            try:
                _o, size, root = note.parse_checkpoint(note.verify_note(cp.note, vkey))  # type: ignore[union-attr]
            except note.NoteError as exc:
                return {"ok": False, "old": a, "new": b, "message": f"the checkpoint of size {n} does not verify: {exc}"}
            roots[n] = root
        try:
            proof = [base64.b64decode(p) for p in ledger.consistency_proof(s, a, b)["proof"]] if a < b else []  # type: ignore[union-attr]
            merkle.verify_consistency(a, b, roots[a], roots[b], proof)
        except (merkle.ProofError, LedgerError, KeyError) as exc:
            return {"ok": False, "old": a, "new": b, "message": f"the tree of {b} entries does not extend the tree of {a}: {exc}"}
    return {"ok": True, "old": a, "new": b, "proof": [b64(p) for p in proof],
            "message": f"the checkpoint of {b} entries is an append-only extension of the one of {a} ({len(proof)} proof hashes)"}


# -- full verify --------------------------------------------------------------------------------


def verify_everything(engine: Engine, ledger: Ledger, vkey: str, report: dict[str, object] | None = None,
                      progress: Callable[[str, int], None] | None = None) -> Verified:
    """Everything verify checks. The schema is current; integrity: every entry's hash, the chain,
    the Merkle root at every checkpoint, every checkpoint's signature, gaps, the signer's record;
    the stored proof nodes; every login logged; then the replay of every entry through the rule
    book and the state tables against it. Raises VerifyError naming the first bad entry."""
    from trace.migrations import current, head

    def phase(name: str) -> Callable[[int], None] | None:
        return (lambda n: progress(name, n)) if progress else None

    with read_session(engine) as s:
        at, latest = current(s.connection()), head()
        if at != latest:
            raise VerifyError(None, f"the database schema is at revision {at or 'none'}, this code reads {latest}: "
                                    "run `flask --app trace init` to upgrade it")
        t0 = time.perf_counter()
        count, root = ledger.verify_integrity(s, vkey, report=report, progress=phase("integrity"))
        if progress:
            progress("nodes", 0)
        ledger.verify_nodes(s)
        t1 = time.perf_counter()
        conn = s.connection()
        unlogged = users_without_entry(conn)
        if unlogged:
            raise VerifyError(None, f"logins without a user.create entry: {', '.join(unlogged[:5])}; "
                                    "run `flask --app trace init` to log them")
        try:
            state = replay(ledger.iter_entries(s), progress=phase("replay"))
        except ReplayError as exc:
            raise VerifyError(exc.index, f"{exc.code}: {exc.detail}") from None
        if progress:
            progress("compare", count)
        diff = compare(conn, state)
        if diff is not None:
            blame = diff.entry
            if blame is None and diff.watch is not None:  # replay once more, watching that value
                blame = replay(ledger.iter_entries(s), watch=diff.watch).watched_entry  # type: ignore[attr-defined]
            raise VerifyError(blame, f"the state tables differ from the log: {diff.message}")
        t2 = time.perf_counter()
    return Verified(count, root, t1 - t0, t2 - t1)


def start_verify(engine: Engine, actor: Actor, requested_by: str) -> int:
    """Record a new verify run (RuleViolation if one is still running); the caller runs it in
    the background with run_verify."""
    with write_session(engine) as s:
        _regulator(s, actor)
        running = s.scalars(select(VerifyRun).where(VerifyRun.state == "running")).all()
        if any(_run(r)["state"] == "running" for r in running):
            raise RUNNING()
        run = VerifyRun(started_at=datetime.now(UTC), state="running", phase="starting", done=0, total=0,
                        message="", requested_by=requested_by[:100])
        s.add(run)
        s.flush()
        return run.id


def run_verify(engine: Engine, ledger: Ledger, vkey: str, run_id: int) -> None:
    """Run a full verify, writing its progress and result to the run's row (in its own thread)."""
    with read_session(engine) as s:
        total = ledger.size(s)
    last = [0.0]

    def progress(phase: str, done: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and phase in ("integrity", "replay"):
            return
        last[0] = now
        _update(engine, run_id, phase=phase, done=done if phase in ("integrity", "replay") else total, total=total)

    _update(engine, run_id, phase="integrity", total=total)
    report: dict[str, object] = {}
    try:
        done = verify_everything(engine, ledger, vkey, report, progress)
        count, root = done.entries, done.root
    except VerifyError as exc:
        where = f" (first bad entry: {exc.index})" if exc.index is not None else ""
        _update(engine, run_id, state="failed", phase="done", message=f"FAILED: {exc}{where}", finished_at=datetime.now(UTC))
        return
    except Exception as exc:  # a crash is a failed run, said as such
        log.exception("verify run %d crashed", run_id)
        _update(engine, run_id, state="failed", phase="done", message=f"verify could not finish: {exc}", finished_at=datetime.now(UTC))
        return
    _update(engine, run_id, state="ok", phase="done", done=count, total=count, finished_at=datetime.now(UTC),
            message=f"OK: {count} entries, root {b64(root)}; {report.get('checkpoints')} checkpoints; {report.get('signer')}")


def _update(engine: Engine, run_id: int, **values: Any) -> None:
    with write_session(engine) as s:
        run = s.get(VerifyRun, run_id)
        if run is not None:
            for k, v in values.items():
                setattr(run, k, v)
