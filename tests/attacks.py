"""What an operator with the database (and perhaps the signing key) can do to the log, straight
in the tables, as the issue describes the attacks. Used by the signer, witness, audit, tile and
browser tests; nothing here goes through the ledger's write path."""
from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from trace.db import read_session, write_session
from trace.ledger import merkle, note


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _rebuild(s: Any, bodies: list[bytes]) -> list[bytes]:
    """Rewrite entries, nodes and head from `bodies`; returns the root after each size (index = size)."""
    s.execute(text("DELETE FROM merkle_nodes"))
    s.execute(text("DELETE FROM log_entries"))
    frontier: list[bytes] = []
    roots = [merkle.EMPTY_ROOT]
    nodes = []
    leaf = b""
    for i, body in enumerate(bodies):
        leaf = merkle.leaf_hash(body)
        new, frontier = merkle.append_leaf(i, leaf, frontier)
        nodes.extend(new)
        roots.append(merkle.root_from_frontier(frontier))
        s.execute(text("INSERT INTO log_entries (idx, body, leaf_hash) VALUES (:i, :b, :h)"), {"i": i, "b": body, "h": leaf})
    for level, idx, h in nodes:
        s.execute(text("INSERT INTO merkle_nodes (level, idx, hash) VALUES (:l, :i, :h)"), {"l": level, "i": idx, "h": h})
    s.execute(text("UPDATE log_head SET size = :n, frontier = :f, last_leaf = :l WHERE id = 1"),
              {"n": len(bodies), "f": b"".join(frontier), "l": leaf})
    return roots


def rewrite(svc: Any, index: int, mutate: Callable[[dict[str, Any]], None], *, with_key: bool = False) -> None:
    """Change entry `index` (mutate gets its event), re-chain every later entry, rebuild the
    Merkle nodes and the head. With the key: re-sign every checkpoint and delete the signer's
    record, as an operator holding the instance folder would. Without it: delete the
    checkpoints that no longer match."""
    with write_session(svc.engine) as s:
        bodies = [bytes(b) for (b,) in s.execute(text("SELECT body FROM log_entries ORDER BY idx"))]
        prev = merkle.leaf_hash(bodies[index - 1]) if index else b""
        for i in range(index, len(bodies)):
            obj = json.loads(bodies[i])
            if i == index:
                mutate(obj["event"])
            obj["prev"] = _b64(prev)
            bodies[i] = _canonical(obj)
            prev = merkle.leaf_hash(bodies[i])
        roots = _rebuild(s, bodies)
        cps = s.execute(text("SELECT size, root FROM checkpoints ORDER BY size")).all()
        signer = None
        if with_key:
            with open(svc.key_file) as f:
                signer = note.NoteSigner(f.read())
        for size, root in cps:
            if roots[size] == bytes(root):
                continue
            if signer is None:
                s.execute(text("DELETE FROM checkpoints WHERE size = :n"), {"n": size})
            else:
                signed = signer.sign(note.format_checkpoint(svc.origin, size, roots[size]))
                s.execute(text("UPDATE checkpoints SET root = :r, note = :t WHERE size = :n"), {"r": roots[size], "t": signed, "n": size})
    if with_key:
        _drop_record(svc)


def truncate(svc: Any, size: int) -> None:
    """Cut the log back to its first `size` entries: no key needed, the old checkpoint is still there."""
    with write_session(svc.engine) as s:
        bodies = [bytes(b) for (b,) in s.execute(text("SELECT body FROM log_entries WHERE idx < :n ORDER BY idx"), {"n": size})]
        _rebuild(s, bodies)
        s.execute(text("DELETE FROM checkpoints WHERE size > :n"), {"n": size})


def delete_checkpoints(svc: Any, sizes: list[int]) -> None:
    """Remove some stored checkpoints, leaving everything else as it was."""
    with write_session(svc.engine) as s:
        for size in sizes:
            s.execute(text("DELETE FROM checkpoints WHERE size = :n"), {"n": size})


def _drop_record(svc: Any) -> None:
    path = svc.ledger.record.path
    svc.ledger.record._fd = None  # the operator replaces the file; the running signer opens it anew
    if os.path.exists(path):
        os.remove(path)


def recall_into_grade(event: dict[str, Any]) -> None:
    """The issue's forgery: an old recall becomes a harmless grade."""
    assert event["type"] == "recall", event
    batch = event["batch"]
    event.clear()
    event.update({"type": "grade", "batch": batch, "grade": "一级", "occurred_at": "2025-09-27T01:00:00.000Z"})


def journey(tr: Any, world: dict[str, Any], harvest: Callable[..., Any], grades: int = 1) -> Any:
    """The scenario the attacks work on: a harvest the bureau inspects and recalls, then `grades`
    more harvests graded. Returns the recalled batch."""
    from tests.conftest import t

    a = world["actors"]
    b = harvest(kg=500)
    tr.inspect(a["bureau"], b.id, lab="Lab", report_no="R1", passed=True, occurred_at=t(9, 21))
    tr.recall(a["bureau"], b.id, reason="霉变", occurred_at=t(9, 22))
    for i in range(grades):
        tr.grade(a["grower"], harvest(kg=10).id, grade=f"G{i}", occurred_at=t(9, 23))
    return b


def recall_index(svc: Any) -> int:
    """The log index of the (first) recall: the entry the forgeries change."""
    with read_session(svc.engine) as s:
        return next(i for i, body in svc.ledger.iter_entries(s) if json.loads(body)["event"]["type"] == "recall")


def latest(svc: Any) -> Any:
    """The latest stored checkpoint."""
    with read_session(svc.engine) as s:
        return svc.ledger.latest_checkpoint(s)
