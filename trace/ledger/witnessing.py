"""The log's side of c2sp.org/tlog-witness: ask the configured witnesses to cosign the latest
checkpoint, in a thread of its own, never inside a write transaction.

A commit that carried a checkpoint wakes the thread (Ledger.on_checkpoint); it also looks every
`interval` seconds, so checkpoints written by other processes (the CLI, other workers) get
cosigned too. Each witness is brought from the size it last cosigned to the latest checkpoint
with a consistency proof from the stored nodes; intermediate checkpoints are skipped, which is
what witnesses expect. Cosignatures are checked against the witness's key before they are
stored. A witness that refuses the log (inconsistent with what it cosigned, or ahead of the
log) raises an alarm; one that cannot be reached only records the error."""
from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from trace.db import read_session, write_session
from trace.ledger import note
from trace.ledger.cosig import CosignatureVerifier
from trace.ledger.models import Cosignature, WitnessStatus
from trace.ledger.store import Ledger, LedgerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WitnessConfig:
    """One witness the log asks: its verifier key (cosignature/v1) and submission prefix URL."""

    vkey: str
    url: str

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.vkey)

    @property
    def name(self) -> str:
        return self.vkey.split("+", 1)[0]


def parse_witnesses(spec: str) -> list[WitnessConfig]:
    """Witnesses from "vkey url" entries, one a line or separated by ';'. LedgerError if bad."""
    out = []
    for item in spec.replace(";", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        vkey, _sep, url = item.partition(" ")
        url = url.strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LedgerError(f"witness {item[:80]!r} must be 'vkey url', the url like http://127.0.0.1:7380")
        try:
            CosignatureVerifier(vkey)
        except note.NoteError as exc:
            raise LedgerError(f"witness key {vkey[:60]!r} is not a cosignature/v1 verifier key ({exc}); "
                              "`flask --app trace witness key` prints one") from None
        out.append(WitnessConfig(vkey, url.rstrip("/")))
    names = [w.name for w in out]
    if len(set(names)) != len(names):
        raise LedgerError("two configured witnesses have the same name")
    return out


def _now() -> datetime:
    return datetime.now(UTC)


class Cosigning:
    """Brings every configured witness up to the latest checkpoint."""

    def __init__(self, engine: Engine, ledger: Ledger, witnesses: list[WitnessConfig], *,
                 timeout: float = 5.0, interval: float = 30.0, duty: float = 0.2, max_gap: float = 1.0) -> None:
        self.engine = engine
        self.ledger = ledger
        self.witnesses = witnesses
        self.timeout = timeout
        self.interval = interval
        # Under a stream of writes, rounds are spaced so that cosigning takes at most `duty` of
        # the time (a round costs a commit here and one at the witness): each round then covers
        # several writes. A write after a quiet spell is cosigned at once.
        self.duty = duty
        self.max_gap = max_gap
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conns: dict[str, http.client.HTTPConnection] = {}
        self.rounds = 0  # finished rounds, for tests and the benchmark
        self.cosigned: dict[str, tuple[int, float]] = {}  # witness -> (size, time.monotonic()) of its last cosignature

    # -- background ------------------------------------------------------------------------

    def notify(self) -> None:
        """A checkpoint was committed: cosign soon (starts the thread on first use)."""
        if not self.witnesses:
            return
        if self._thread is None or not self._thread.is_alive():
            with self._run_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(target=self._loop, name="trace-cosigning", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        next_at = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            if self._stop.wait(max(0.0, next_at - time.monotonic())):
                break
            self._wake.clear()
            started = time.monotonic()
            try:
                self.run_once()
            except Exception:
                log.exception("cosigning round failed")
            ended = time.monotonic()
            next_at = ended + min(self.max_gap, (ended - started) * (1 - self.duty) / self.duty)

    def close(self) -> None:
        """Stop the thread and close connections."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    # -- one round ---------------------------------------------------------------------------

    def run_once(self) -> dict[str, str]:
        """Ask each witness to cosign the latest checkpoint; returns what each one said."""
        with self._run_lock:
            with read_session(self.engine) as s:
                latest = self.ledger.latest_checkpoint(s)
            out = {}
            if latest is not None:
                for w in self.witnesses:
                    try:
                        out[w.name] = self._one(w, latest.size, latest.note)
                    except (OSError, http.client.HTTPException) as exc:
                        out[w.name] = self._error(w, f"cannot reach the witness at {w.url}: {exc}")
                        self._drop(w)
                    except LedgerError as exc:  # e.g. stored nodes missing: no proof to send
                        out[w.name] = self._error(w, f"cannot build the consistency proof: {exc}")
            self.rounds += 1
            return out

    def _one(self, w: WitnessConfig, size: int, signed: str) -> str:
        text = signed[: signed.rfind("\n\n") + 1]
        with read_session(self.engine) as s:
            st = s.get(WitnessStatus, w.name)
            old = st.size if st is not None else 0
            if old == size and s.get(Cosignature, (w.name, size)) is not None:
                return "up to date"
            proof = self.ledger.consistency_proof(s, old, size)["proof"] if 0 < old < size else []
        for attempt in range(3):
            if old > size:
                return self._alarm(w, "witness_ahead", f"witness {w.name} has cosigned a tree of {old} entries, but the log's "
                                                       f"latest checkpoint has {size}: the log was truncated or rolled back")
            if attempt:  # the witness told us where it is: a proof from there
                with read_session(self.engine) as s:
                    proof = self.ledger.consistency_proof(s, old, size)["proof"] if 0 < old < size else []
            body = f"old {old}\n" + "".join(f"{p}\n" for p in proof) + "\n" + signed  # type: ignore[union-attr]
            status, answer = self._post(w, body.encode())
            if status == 200:
                return self._store(w, size, text, answer)
            if status == 409:
                try:
                    theirs = int(answer.strip())
                except ValueError:
                    return self._error(w, f"the witness answered 409 without a size: {answer[:100]!r}")
                if theirs == old:  # same size, other root: the witness saw another tree of this size
                    return self._alarm(w, "witness_fork", f"witness {w.name} cosigned a different tree of {old} entries "
                                                          f"than the log's checkpoint of {size}: the log forked")
                old = theirs
                continue
            if status == 422:
                return self._alarm(w, "witness_refused", f"witness {w.name} refused the checkpoint of {size} entries: it is not "
                                                         f"consistent with the tree of {old} entries it cosigned ({answer.strip()[:200]})")
            return self._error(w, f"the witness answered {status}: {answer.strip()[:200]}")
        return self._error(w, "the witness's size kept changing; will try again")

    def _store(self, w: WitnessConfig, size: int, text: str, answer: str) -> str:
        verifier = w.verifier
        good = []
        for line in answer.splitlines():
            if verifier.matches(line):
                try:
                    good.append((verifier.verify(text, line), line))
                except note.NoteError as exc:
                    return self._error(w, f"the witness sent an invalid cosignature: {exc}")
        if not good:
            return self._error(w, "the witness answered 200 without a cosignature by its key")
        timestamp, line = good[0]
        with write_session(self.engine) as s:
            root = note.parse_checkpoint(text)[2]
            s.merge(Cosignature(witness=w.name, size=size, root=root, timestamp=timestamp, line=line + "\n", received_at=_now()))
            st = s.get(WitnessStatus, w.name) or WitnessStatus(name=w.name, size=0, error="")
            st.vkey, st.url, st.size, st.ok_at, st.error = w.vkey, w.url, size, _now(), ""
            s.merge(st)
        self.cosigned[w.name] = (size, time.monotonic())
        return f"cosigned {size}"

    def _error(self, w: WitnessConfig, message: str) -> str:
        log.warning("witness %s: %s", w.name, message)
        with write_session(self.engine) as s:
            st = s.get(WitnessStatus, w.name) or WitnessStatus(name=w.name, size=0)
            st.vkey, st.url, st.error, st.error_at = w.vkey, w.url, message, _now()
            s.merge(st)
        return message

    def _alarm(self, w: WitnessConfig, kind: str, message: str) -> str:
        with write_session(self.engine) as s:
            Ledger.raise_alarm(s, kind, message)
        return self._error(w, message)

    # -- HTTP ----------------------------------------------------------------------------------

    def _post(self, w: WitnessConfig, body: bytes) -> tuple[int, str]:
        """POST <prefix>/add-checkpoint on a kept-alive connection (reconnecting once)."""
        parts = urllib.parse.urlsplit(w.url)
        for attempt in (1, 2):
            conn = self._conns.get(w.name)
            if conn is None:
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                conn = self._conns[w.name] = cls(parts.netloc, timeout=self.timeout)
            try:
                conn.request("POST", parts.path + "/add-checkpoint", body, {"Content-Type": "text/plain; charset=utf-8"})
                resp = conn.getresponse()
                return resp.status, resp.read(64 * 1024).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                self._drop(w)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _drop(self, w: WitnessConfig) -> None:
        conn = self._conns.pop(w.name, None)
        if conn is not None:
            conn.close()


def cosignatures_for(session, size: int) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """For each witness, its earliest cosignature on a checkpoint of at least `size` entries:
    who vouches for the first `size` entries, and since when (POSIX seconds)."""
    rows = session.execute(select(Cosignature.witness, Cosignature.size, Cosignature.timestamp)
                           .where(Cosignature.size >= size).order_by(Cosignature.witness, Cosignature.size)).all()
    first: dict[str, dict[str, object]] = {}
    for witness, cs, ts in rows:
        first.setdefault(witness, {"witness": witness, "size": cs, "timestamp": ts,
                                   "at": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")})
    return list(first.values())


def served_checkpoint(session, witnesses: list[WitnessConfig], quorum: int = 1) -> str | None:  # type: ignore[no-untyped-def]
    """The checkpoint note /log/checkpoint serves: with witnesses configured, the newest one that
    `quorum` of them cosigned, with their cosignature lines; else (or before any) the latest."""
    latest = Ledger.latest_checkpoint(session)
    if latest is None:
        return None
    names = [w.name for w in witnesses]
    if not names:
        return latest.note
    rows = session.execute(select(Cosignature.size, Cosignature.root, Cosignature.line).where(Cosignature.witness.in_(names))
                           .order_by(Cosignature.size.desc(), Cosignature.witness).limit(200)).all()
    by_size: dict[int, list[tuple[bytes, str]]] = {}
    for cs, root, line in rows:
        by_size.setdefault(cs, []).append((bytes(root), line))
    for cs in sorted(by_size, reverse=True):
        cp = Ledger.checkpoint_at(session, cs)
        # Only cosignatures of the tree stored now: a checkpoint re-signed over another root
        # lost its witnesses (they would not verify), and is served as what it is.
        lines = [line for root, line in by_size[cs] if cp is not None and root == bytes(cp.root)]
        if cp is not None and len(lines) >= quorum:
            return cp.note + "".join(lines)
    return latest.note


__all__ = ["Cosigning", "WitnessConfig", "cosignatures_for", "parse_witnesses", "served_checkpoint"]
