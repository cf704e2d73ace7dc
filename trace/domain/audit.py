"""The bureau's audit of the log: checkpoint history, consistency between any two checkpoints,
witnesses, alarms, and full verify runs with their progress. Regulators only: every function
checks the actor here, whatever the page shows (Forbidden otherwise). No Flask."""
from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from trace.db import read_session, write_session
from trace.domain import projection
from trace.domain.errors import Forbidden, InvalidInput, RuleViolation
from trace.domain.operations import Actor
from trace.domain.parties import Party, PartyKind
from trace.ledger import merkle, note
from trace.ledger.models import Alarm, Checkpoint, Cosignature, VerifyRun, WitnessStatus
from trace.ledger.store import Ledger, LedgerError, VerifyError, b64

log = logging.getLogger(__name__)
PAGE = 50
STALE = timedelta(hours=6)  # a run that long without finishing died with its process


def _regulator(s: Session, actor: Actor) -> None:
    party = s.get(Party, actor.party_id) if actor.party_id else None
    if party is None or party.kind != PartyKind.REGULATOR:
        raise Forbidden("只有市场监管部门可以查看审计页面。", "Only the market supervision bureau may use the audit page.")


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
        if not raw.isdigit() or len(raw) > 19:
            raise InvalidInput("检查点大小必须是正整数。", f"The {name} checkpoint size must be a positive whole number.", name)
        sizes.append(int(raw))
    a, b = sorted(sizes)
    with read_session(engine) as s:
        _regulator(s, actor)
        cps = {n: ledger.checkpoint_at(s, n) for n in (a, b)}
        for n, cp in cps.items():
            if cp is None:
                raise InvalidInput(f"没有大小为 {n} 的检查点。", f"There is no stored checkpoint of size {n}: pick one from the history.", "old")
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
                      progress: Callable[[str, int], None] | None = None) -> tuple[int, bytes, float, float]:
    """Integrity (entries, chain, roots, every checkpoint, the signer's record), the stored proof
    nodes, then the projection replay. Returns (entries, root, integrity s, replay s); VerifyError."""
    def phase(name: str) -> Callable[[int], None] | None:
        return (lambda n: progress(name, n)) if progress else None

    with read_session(engine) as s:
        t0 = time.perf_counter()
        count, root = ledger.verify_integrity(s, vkey, report=report, progress=phase("integrity"))
        if progress:
            progress("nodes", 0)
        ledger.verify_nodes(s)
        t1 = time.perf_counter()
        if progress:
            progress("projection", 0)
        diff = projection.compare(s, projection.replay(ledger.iter_entries(s)))
        t2 = time.perf_counter()
        if diff is not None:
            # Replay once more, watching that row, to name the last entry that wrote it.
            blame = projection.replay(ledger.iter_entries(s), watch=(diff.table, diff.key)).watched_entry
            raise VerifyError(blame, f"the state tables differ from the log: {diff.message}")
    return count, root, t1 - t0, t2 - t1


def start_verify(engine: Engine, actor: Actor, requested_by: str) -> int:
    """Record a new verify run (RuleViolation if one is still running); the caller runs it in
    the background with run_verify."""
    with write_session(engine) as s:
        _regulator(s, actor)
        running = s.scalars(select(VerifyRun).where(VerifyRun.state == "running")).all()
        if any(_run(r)["state"] == "running" for r in running):
            raise RuleViolation("已有一次完整核验正在进行。", "A full verify is already running; wait for it to finish.")
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
        if now - last[0] < 0.5 and phase == "integrity":
            return
        last[0] = now
        _update(engine, run_id, phase=phase, done=done if phase == "integrity" else total, total=total)

    _update(engine, run_id, phase="integrity", total=total)
    report: dict[str, object] = {}
    try:
        count, root, _t1, _t2 = verify_everything(engine, ledger, vkey, report, progress)
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
