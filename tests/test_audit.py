"""`flask --app trace audit`: against a checkpoint saved earlier, and as a monitor over HTTP."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import attacks, tlog_spec
from tests.browser import live_server  # noqa: F401
from trace.db import read_session
from trace.ledger import note


def _save(client, tmp_path, name="saved.txt"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(client.get("/log/checkpoint").get_data(as_text=True), encoding="utf-8")
    return str(path)




def test_an_honest_log_extends_a_saved_checkpoint(tr, world, harvest, client, runner, tmp_path) -> None:
    attacks.journey(tr, world, harvest)
    saved = _save(client, tmp_path)
    assert runner.invoke(args=["audit", "--against", saved]).exit_code == 0  # the same tree
    harvest(kg=20)
    result = runner.invoke(args=["audit", "--against", saved])
    assert result.exit_code == 0, result.output
    assert "append-only extension" in result.output


def test_rewrite_with_the_key_is_caught_against_a_checkpoint_saved_before(tr, world, harvest, svc, client, runner, tmp_path) -> None:
    attacks.journey(tr, world, harvest)
    saved = _save(client, tmp_path)
    attacks.rewrite(svc, attacks.recall_index(svc), attacks.recall_into_grade, with_key=True)
    with read_session(svc.engine) as s:
        svc.ledger.verify_integrity(s, svc.signer.vkey)  # the database alone is fooled
    harvest(kg=20)
    result = runner.invoke(args=["audit", "--against", saved])
    assert result.exit_code == 1
    assert "FORKED" in result.output and "two signed trees" in result.output


def test_rewrite_without_a_stored_rival_is_named_rewritten(tr, world, harvest, svc, client, runner, tmp_path) -> None:
    """The forger re-signs the new tree but drops the rival checkpoint at the saved size."""
    attacks.journey(tr, world, harvest)
    saved = _save(client, tmp_path)
    size = tlog_spec.checkpoint_fields(Path(saved).read_text())[1]
    attacks.rewrite(svc, attacks.recall_index(svc), attacks.recall_into_grade, with_key=True)
    attacks.delete_checkpoints(svc, [size])
    harvest(kg=20)
    result = runner.invoke(args=["audit", "--against", saved])
    assert result.exit_code == 1 and "REWRITTEN" in result.output and "does not extend the saved tree" in result.output


def test_truncation_is_caught(tr, world, harvest, svc, client, runner, tmp_path) -> None:
    attacks.journey(tr, world, harvest)
    saved = _save(client, tmp_path)
    size = tlog_spec.checkpoint_fields(Path(saved).read_text())[1]
    attacks.truncate(svc, size - 3)
    result = runner.invoke(args=["audit", "--against", saved])
    assert result.exit_code == 1
    assert "TRUNCATED" in result.output and f"has {size} entries, the log now has only {size - 3}" in result.output


def test_unusable_input_changes_nothing_and_says_why(tr, world, harvest, svc, client, runner, tmp_path) -> None:
    attacks.journey(tr, world, harvest)
    missing = runner.invoke(args=["audit", "--against", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "nope.txt" in missing.output
    other = note.NoteSigner(note.generate_private_key(svc.origin)).sign(note.format_checkpoint(svc.origin, 1, b"\0" * 32))
    (tmp_path / "other.txt").write_text(other)
    result = runner.invoke(args=["audit", "--against", str(tmp_path / "other.txt")])
    assert result.exit_code == 2 and "not a checkpoint signed by this log's key" in result.output
    both = runner.invoke(args=["audit", "--against", "x", "--monitor", "y"])
    assert both.exit_code == 2 and "exactly one of" in both.output
    assert runner.invoke(args=["audit", "--monitor", str(tmp_path / "m"), "--url", "ftp://x"]).exit_code == 2


def test_monitor_saves_checks_and_catches_truncation_and_rewrites(tr, world, harvest, svc, runner, tmp_path, live_server) -> None:  # noqa: F811
    attacks.journey(tr, world, harvest)
    folder = tmp_path / "bureau"
    args = ["audit", "--monitor", str(folder), "--url", live_server]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "pinned the log's key" in first.output and (folder / "log.vkey").read_text().strip() == svc.signer.vkey
    harvest(kg=20)
    second = runner.invoke(args=args)
    assert second.exit_code == 0 and "append-only extension" in second.output, second.output
    saved = sorted(p.name for p in folder.glob("checkpoint-*.txt"))
    assert len(saved) == 2
    size = int(saved[-1][11:31])
    attacks.truncate(svc, size - 2)
    third = runner.invoke(args=args)
    assert third.exit_code == 1 and "TRUNCATED" in third.output
    assert len(list(folder.glob("conflict-*.txt"))) == 1  # what the log served, kept as evidence
    # Restore the log by rewriting history with the key instead: the monitor catches that too.
    attacks.rewrite(svc, attacks.recall_index(svc), attacks.recall_into_grade, with_key=True)
    for _ in range(3):
        harvest(kg=30)
    fourth = runner.invoke(args=args)
    assert fourth.exit_code == 1 and "REWRITTEN" in fourth.output, fourth.output
    assert sorted(p.name for p in folder.glob("checkpoint-*.txt")) == saved  # nothing forged was saved


def test_monitor_can_require_a_witness(tr, world, harvest, runner, tmp_path, live_server) -> None:  # noqa: F811
    from trace.ledger.cosig import Cosigner, generate_cosigner_key

    attacks.journey(tr, world, harvest)
    wkey = Cosigner(generate_cosigner_key("witness.test/absent")).vkey
    result = runner.invoke(args=["audit", "--monitor", str(tmp_path / "m"), "--url", live_server, "--witness", wkey])
    assert result.exit_code == 1 and "no valid cosignature by witness witness.test/absent" in result.output
    bad = runner.invoke(args=["audit", "--monitor", str(tmp_path / "m"), "--url", live_server, "--witness", "junk"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("kind", ["consistent", "truncated", "forked", "rewritten"])
def test_verdicts_follow_the_spec_algorithm(kind) -> None:
    """judge() against RFC 9162 consistency computed independently."""
    from trace.ledger import merkle
    from trace.ledger.audit import judge

    leaves = [tlog_spec.leaf(bytes([i])) for i in range(12)]
    other = leaves[:5] + [tlog_spec.leaf(b"x")] + leaves[6:]
    nodes = {(0, i): h for i, h in enumerate(other if kind == "rewritten" else leaves)}
    for level in range(1, 4):
        for i in range(12 >> level):
            nodes[(level, i)] = tlog_spec.node(nodes[(level - 1, 2 * i)], nodes[(level - 1, 2 * i + 1)])
    tree = other if kind == "rewritten" else leaves
    proof = merkle.consistency_proof(7, 12, nodes)
    new = {"truncated": (5, tlog_spec.mth(leaves[:5])), "forked": (7, tlog_spec.mth(other[:7]))}.get(kind, (12, tlog_spec.mth(tree)))
    verdict = judge((7, tlog_spec.mth(leaves[:7])), new, proof)
    assert verdict.kind == kind
    assert verdict.ok == tlog_spec.consistent(7, new[0], tlog_spec.mth(leaves[:7]), new[1], proof if new[0] > 7 else [])
