"""`flask --app trace verify`: passes on an honest log, names the first bad entry after tampering."""
from __future__ import annotations

import base64
import json

from sqlalchemy import select, text, update

from tests.conftest import t
from trace.db import read_session, write_session
from trace.domain.replay import compare, replay
from trace.domain.state import BatchState
from trace.domain.tables.batches import Batch, Package, PackageSecret
from trace.ledger.models import Checkpoint, LogEntry


def _journey(tr, world, harvest):  # type: ignore[no-untyped-def]
    a = world["actors"]
    b = harvest(kg=500)
    tr.inspect(a["bureau"], b.id, lab="Lab", report_no="R1", passed=True, occurred_at=t(9, 21))
    kids = tr.split(a["grower"], b.id, [200_000, 200_000], occurred_at=t(9, 22))
    tr.pack(a["grower"], kids[0].id, count=5, net_g=5000, occurred_at=t(9, 23))
    tr.ship(a["grower"], kids[0].id, to_party=world["retailer"], occurred_at=t(9, 24))
    tr.receive(a["retailer"], kids[0].id, occurred_at=t(9, 25))
    tr.sell(a["retailer"], kids[0].id, occurred_at=t(9, 26))
    tr.recall(a["bureau"], b.id, reason="test", occurred_at=t(9, 27))
    return b, kids


def test_verify_passes_and_prints_count_and_root(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    with read_session(svc.engine) as s:
        cp = svc.ledger.latest_checkpoint(s)
    assert f"OK: {cp.size} entries, root {base64.b64encode(cp.root).decode()}" in result.output


def test_changed_entry_byte_is_named(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    with write_session(svc.engine) as s:
        body = bytes(s.scalar(select(LogEntry.body).where(LogEntry.idx == 14)))
        tampered = body.replace(b'"type":"', b'"type":"X', 1)
        assert tampered != body
        s.execute(text("UPDATE log_entries SET body = :b WHERE idx = 14"), {"b": tampered})
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "entry 14:" in result.output and "first bad entry: 14" in result.output


def test_changed_entry_with_its_leaf_hash_is_still_caught_by_the_chain(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    from trace.ledger.merkle import leaf_hash

    with write_session(svc.engine) as s:
        body = bytes(s.scalar(select(LogEntry.body).where(LogEntry.idx == 15)))
        obj = json.loads(body)
        obj["event"]["tampered"] = True
        new = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        s.execute(update(LogEntry).where(LogEntry.idx == 15).values(body=new, leaf_hash=leaf_hash(new)))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "first bad entry: 15" in result.output


def test_rewritten_tail_is_caught_by_the_signed_checkpoint(runner, tr, world, harvest, svc) -> None:
    """The operator rewrites the last entry and its hash: no later entry points at it, the checkpoints do."""
    _journey(tr, world, harvest)
    from trace.ledger.merkle import leaf_hash

    with write_session(svc.engine) as s:
        last = s.scalar(select(LogEntry.idx).order_by(LogEntry.idx.desc()).limit(1))
        body = bytes(s.scalar(select(LogEntry.body).where(LogEntry.idx == last)))
        new = body.replace(b'"reason":"test"', b'"reason":"none"')
        assert new != body
        s.execute(update(LogEntry).where(LogEntry.idx == last).values(body=new, leaf_hash=leaf_hash(new)))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and f"first bad entry: {last}" in result.output


def test_forged_checkpoint_signature_is_caught(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    with write_session(svc.engine) as s:
        cp = s.scalars(select(Checkpoint).order_by(Checkpoint.size.desc())).first()
        sig_line = cp.note.rstrip("\n").rsplit("\n", 1)[1]
        raw = bytearray(base64.b64decode(sig_line.rsplit(" ", 1)[1]))
        raw[-1] ^= 1
        forged = cp.note.replace(sig_line, sig_line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode())
        s.execute(update(Checkpoint).where(Checkpoint.size == cp.size).values(note=forged))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "signature" in result.output


def test_changed_state_value_is_named(runner, tr, world, harvest, svc) -> None:
    b, kids = _journey(tr, world, harvest)
    with read_session(svc.engine) as s:
        blame = replay(svc.ledger.iter_entries(s), watch=(BatchState, kids[1].id)).watched_entry
    assert blame is not None
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE batches SET quantity_g = quantity_g + 1000 WHERE id = :i"), {"i": kids[1].id})
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert f"first bad entry: {blame}" in result.output and "quantity_g" in result.output


def test_deleted_or_added_state_rows_and_swapped_serials_are_caught(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    with write_session(svc.engine) as s:
        pkg = s.scalars(select(PackageSecret).order_by(PackageSecret.package_id)).first()
        s.execute(update(PackageSecret).where(PackageSecret.package_id == pkg.package_id).values(serial="0" * 20))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "serial" in result.output
    with write_session(svc.engine) as s:
        s.execute(update(PackageSecret).where(PackageSecret.package_id == pkg.package_id).values(serial=pkg.serial))
        s.execute(update(Package).where(Package.id == pkg.package_id).values(status="packed"))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "packages" in result.output


def test_missing_entry_is_named(runner, tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    with write_session(svc.engine) as s:
        s.execute(text("DELETE FROM log_entries WHERE idx = 7"))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "first bad entry: 7" in result.output


def test_replay_rebuilds_state_exactly(tr, world, harvest, svc) -> None:
    _journey(tr, world, harvest)
    with read_session(svc.engine) as s:
        rp = replay(svc.ledger.iter_entries(s))
        assert compare(s.connection(), rp) is None
        live = s.scalars(select(Batch.quantity_g).order_by(Batch.id)).all()
    assert [b.quantity_g for _, b in sorted(rp.values[BatchState].items())] == live


def test_changed_proof_node_is_caught(runner, tr, world, harvest, svc) -> None:
    """Entries intact but a stored interior node altered: proofs served from it would fail."""
    from trace.ledger.models import MerkleNode

    _journey(tr, world, harvest)
    with write_session(svc.engine) as s:
        s.execute(update(MerkleNode).where(MerkleNode.level == 2, MerkleNode.idx == 1).values(hash=b"\x00" * 32))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "entries 4..7" in result.output
