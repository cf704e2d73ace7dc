"""Witnesses (C2SP tlog-witness, tlog-cosignature): the witness cosigns append-only growth and
refuses forks keeping evidence; the log asks it outside its write transactions and serves the
cosigned checkpoint. Cosignatures are checked with tests/tlog_spec.py, written from the spec."""
from __future__ import annotations

import base64
import http.client
import json
import os
import stat
import threading
import time
import urllib.request
from dataclasses import dataclass

import pytest
from sqlalchemy import select, text

from tests import attacks, tlog_spec
from tests.conftest import t
from trace.db import read_session, write_session
from trace.ledger import merkle, note
from trace.ledger.cosig import Cosigner, generate_cosigner_key
from trace.ledger.models import Alarm, Cosignature, WitnessStatus
from trace.ledger.witnessing import cosignatures_for
from trace.witness.core import Witness
from trace.witness.server import wsgi_app


@dataclass
class Served:
    url: str
    vkey: str
    witness: Witness


@pytest.fixture
def witness_server(app, tmp_path):  # type: ignore[no-untyped-def]
    """A witness of the test's log on its own key and state, served over real HTTP."""
    from werkzeug.serving import make_server

    svc = app.extensions["trace"]
    cosigner = Cosigner(generate_cosigner_key("witness.test/bureau"))
    witness = Witness(cosigner, {svc.origin: [svc.signer.vkey]}, str(tmp_path / "witness.db"))
    server = make_server("127.0.0.1", 0, wsgi_app(witness), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.server_port}", cosigner.vkey, witness)
    server.shutdown()
    server.server_close()


@pytest.fixture
def tr(svc, witness_server):  # type: ignore[no-untyped-def]
    """The domain service of a log configured with the witness (overrides conftest's tr)."""
    svc.witnesses_spec = f"{witness_server.vkey} {witness_server.url}"
    svc.ledger.on_checkpoint = None  # each test says when to cosign; one test runs the thread
    yield svc.trace
    svc.cosigning.close()




def _post(url: str, body: str) -> tuple[int, str, str]:
    req = urllib.request.Request(url + "/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()




def _alarms(svc) -> list[str]:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return list(s.scalars(select(Alarm.kind).order_by(Alarm.id)))


def test_witness_cosigns_and_the_log_serves_the_cosigned_checkpoint(tr, world, harvest, svc, client, witness_server) -> None:
    attacks.journey(tr, world, harvest)
    latest = attacks.latest(svc)
    assert svc.cosigning.run_once() == {"witness.test/bureau": f"cosigned {latest.size}"}
    served = client.get("/log/checkpoint")
    assert served.status_code == 200 and served.mimetype == "text/plain" and served.mimetype_params["charset"] == "utf-8"
    body = served.get_data(as_text=True)
    assert body.startswith(latest.note)  # the log's own signed note, then the cosignature line
    assert tlog_spec.note_signed_by(body, svc.signer.vkey)
    ts = tlog_spec.cosignature_time(body, witness_server.vkey)
    assert ts is not None and abs(ts - time.time()) < 60
    assert tlog_spec.checkpoint_fields(body)[1] == latest.size
    # A checkpoint is cosigned once per size: asking again changes nothing.
    assert svc.cosigning.run_once() == {"witness.test/bureau": "up to date"}
    # The bureau's witness answers with its state: it has seen exactly this checkpoint.
    state = json.loads(urllib.request.urlopen(witness_server.url + "/").read())
    assert state["vkey"] == witness_server.vkey and state["logs"][0]["size"] == latest.size
    # Later writes are served only once cosigned, then with the newer cosignature.
    tr.grade(world["actors"]["grower"], harvest(kg=5).id, grade="H", occurred_at=t(9, 24))
    assert tlog_spec.checkpoint_fields(client.get("/log/checkpoint").get_data(as_text=True))[1] == latest.size
    svc.cosigning.run_once()
    newer = client.get("/log/checkpoint").get_data(as_text=True)
    assert tlog_spec.checkpoint_fields(newer)[1] == attacks.latest(svc).size > latest.size
    assert tlog_spec.cosignature_time(newer, witness_server.vkey) is not None
    # Who vouches for the first `latest.size` entries, and since when: the earliest covering one.
    with read_session(svc.engine) as s:
        vouch = cosignatures_for(s, latest.size)
    assert [(v["witness"], v["size"]) for v in vouch] == [("witness.test/bureau", latest.size)]


def test_the_thread_cosigns_after_commits_without_a_network_call_in_the_write(tr, world, harvest, svc, client, witness_server) -> None:
    svc.ledger.on_checkpoint = svc.cosigning.notify
    b = harvest(kg=100)
    for i in range(5):
        tr.grade(world["actors"]["grower"], b.id, grade=f"G{i}", occurred_at=t(9, 22))
    size = attacks.latest(svc).size
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = client.get("/log/checkpoint").get_data(as_text=True)
        if tlog_spec.checkpoint_fields(body)[1] == size and tlog_spec.cosignature_time(body, witness_server.vkey):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the checkpoint of size {size} was not cosigned within 20 s")


def test_rewrite_with_the_key_and_every_checkpoint_resigned_is_caught_by_the_witness(tr, world, harvest, svc, client, witness_server, runner, tmp_path) -> None:
    attacks.journey(tr, world, harvest)
    svc.cosigning.run_once()
    honest = client.get("/log/checkpoint").get_data(as_text=True)
    recall = attacks.recall_index(svc)
    saved = tmp_path / "saved-by-a-consumer.txt"
    saved.write_text(honest, encoding="utf-8")  # cosigned: the audit ignores the witness's line
    assert runner.invoke(args=["audit", "--against", str(saved)]).exit_code == 0
    attacks.rewrite(svc, recall, attacks.recall_into_grade, with_key=True)
    with read_session(svc.engine) as s:
        assert svc.ledger.verify_integrity(s, svc.signer.vkey)  # every internal check is fooled
    tr.grade(world["actors"]["grower"], harvest(kg=5).id, grade="H", occurred_at=t(9, 24))  # the record was replaced too
    outcome = svc.cosigning.run_once()["witness.test/bureau"]
    assert "refused" in outcome and "not consistent" in outcome
    assert _alarms(svc) == ["witness_refused"]
    # The witness kept both: the checkpoint it cosigned and the signed fork with its proof.
    (ev,) = witness_server.witness.evidence()
    assert ev["cosigned_checkpoint"] == honest[: honest.rindex("\u2014 witness.test")]  # the log's note it cosigned
    forged = ev["request"].split("\n\n", 1)[1]
    assert tlog_spec.note_signed_by(forged, svc.signer.vkey) and tlog_spec.note_signed_by(ev["cosigned_checkpoint"], svc.signer.vkey)
    # The forged tree is not consistent with what was witnessed, by the spec's own algorithm.
    old_size, size = tlog_spec.checkpoint_fields(ev["cosigned_checkpoint"])[1], tlog_spec.checkpoint_fields(forged)[1]
    proof = [base64.b64decode(x) for x in ev["request"].split("\n\n", 1)[0].split("\n")[1:]]
    assert not tlog_spec.consistent(old_size, size, tlog_spec.checkpoint_fields(ev["cosigned_checkpoint"])[2],
                                    tlog_spec.checkpoint_fields(forged)[2], proof)
    # ... and so is anyone who saved the checkpoint before.
    audited = runner.invoke(args=["audit", "--against", str(saved)])
    assert audited.exit_code == 1 and "FORKED" in audited.output
    # Nothing forged is served as witnessed: the re-signed checkpoints carry no valid cosignature.
    served = client.get("/log/checkpoint").get_data(as_text=True)
    assert tlog_spec.note_signed_by(served, svc.signer.vkey) and tlog_spec.cosignature_time(served, witness_server.vkey) is None


def test_a_fork_shown_to_the_witness_is_refused_and_kept_as_evidence(svc, app, witness_server) -> None:
    """Straight to the witness over HTTP, with checkpoints the log's key signed."""
    signer = svc.signer
    leaves = [tlog_spec.leaf(f"entry {i}".encode()) for i in range(10)]
    fork = [*leaves[:6], *(tlog_spec.leaf(f"forged {i}".encode()) for i in range(6, 10))]

    def checkpoint(tree: list[bytes], size: int) -> str:
        return signer.sign(note.format_checkpoint(svc.origin, size, tlog_spec.mth(tree[:size])))

    def proof(tree: list[bytes], old: int, size: int) -> list[str]:
        nodes = {}
        for i, h in enumerate(tree):
            nodes[(0, i)] = h
        for level in range(1, 5):
            for i in range(size >> level):
                nodes[(level, i)] = tlog_spec.node(nodes[(level - 1, 2 * i)], nodes[(level - 1, 2 * i + 1)])
        return [base64.b64encode(p).decode() for p in merkle.consistency_proof(old, size, nodes)]

    status, _, cosig = _post(witness_server.url, "old 0\n\n" + checkpoint(leaves, 8))
    assert status == 200 and tlog_spec.cosignature_time(checkpoint(leaves, 8) + cosig, witness_server.vkey)
    # Same size, another root: 409 with the size it holds, and evidence.
    status, ctype, answer = _post(witness_server.url, "old 8\n\n" + checkpoint(fork, 8))
    assert (status, ctype, answer) == (409, "text/x.tlog.size", "8\n")
    # A larger forked tree with the proof the fork gives: 422, and evidence.
    body = "old 8\n" + "".join(p + "\n" for p in proof(fork, 8, 10)) + "\n" + checkpoint(fork, 10)
    status, _, answer = _post(witness_server.url, body)
    assert status == 422 and "does not verify" in answer
    evidence = witness_server.witness.evidence()
    assert [e["reason"].split(":")[0] for e in evidence] == ["the same tree size with a different root hash",
                                                             "not consistent with the tree it cosigned"]
    assert all(e["cosigned_checkpoint"] == checkpoint(leaves, 8) for e in evidence)
    assert evidence[1]["request"] == body
    # Its record did not move, and the honest extension is still cosigned.
    assert witness_server.witness.state()[0]["size"] == 8
    good = "old 8\n" + "".join(p + "\n" for p in proof(leaves, 8, 10)) + "\n" + checkpoint(leaves, 10)
    status, _, cosig = _post(witness_server.url, good)
    assert status == 200 and tlog_spec.cosignature_time(checkpoint(leaves, 10) + cosig, witness_server.vkey)
    # CLI: the evidence of this instance's witness is another state file; the served one is ours.
    assert witness_server.witness.state()[0]["size"] == 10


def test_truncation_is_caught_by_the_witness(tr, world, harvest, svc, witness_server) -> None:
    attacks.journey(tr, world, harvest)
    svc.cosigning.run_once()
    size = attacks.latest(svc).size
    attacks.truncate(svc, size - 2)
    outcome = svc.cosigning.run_once()["witness.test/bureau"]
    assert f"has cosigned a tree of {size} entries" in outcome and "truncated" in outcome
    # The operator also wipes what the log remembers of its witnesses: the witness says where it is.
    with write_session(svc.engine) as s:
        s.execute(text("DELETE FROM log_witnesses"))
        s.execute(text("DELETE FROM cosignatures"))
    outcome = svc.cosigning.run_once()["witness.test/bureau"]
    assert f"has cosigned a tree of {size} entries" in outcome
    assert _alarms(svc) == ["witness_ahead"]  # the same alarm once, not once per round
    assert witness_server.witness.state()[0]["size"] == size


@pytest.mark.parametrize("body, status, says", [
    ("nonsense", 400, "old size line"),
    ("old 01\n\nx\n", 400, "leading zeros"),
    ("old 0\nnot-base64!\n\nx\n", 400, "not base64"),
    ("old 0\n\nelsewhere.example/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 elsewhere.example/log AAAA\n", 404, "unknown log origin"),
])
def test_bad_requests_get_clear_answers(witness_server, body, status, says) -> None:
    got, _, answer = _post(witness_server.url, body)
    assert got == status and says in answer


def test_signature_and_size_checks(svc, witness_server) -> None:
    text_ = note.format_checkpoint(svc.origin, 3, tlog_spec.mth([tlog_spec.leaf(b"a"), tlog_spec.leaf(b"b"), tlog_spec.leaf(b"c")]))
    other = note.NoteSigner(note.generate_private_key(svc.origin))
    assert _post(witness_server.url, "old 0\n\n" + other.sign(text_))[0] == 403  # the right origin, not its key
    assert _post(witness_server.url, "old 5\n\n" + svc.signer.sign(text_))[0] == 400  # old > size
    assert _post(witness_server.url, "old 0\n\n" + svc.signer.sign(text_))[0] == 200
    status, ctype, answer = _post(witness_server.url, "old 0\n\n" + svc.signer.sign(text_))
    assert (status, ctype, answer) == (409, "text/x.tlog.size", "3\n")  # stale old size
    conn = http.client.HTTPConnection(witness_server.url.removeprefix("http://"))
    conn.request("GET", "/add-checkpoint")
    assert conn.getresponse().status == 405


def test_witness_key_command_prints_a_cosignature_vkey_kept_private(runner, app, tmp_path) -> None:
    app.config["TRACE_WITNESS_KEY_FILE"] = str(tmp_path / "w.key")
    app.config["TRACE_WITNESS_NAME"] = "samr.zhongwei.example/witness"
    first = runner.invoke(args=["witness", "key"])
    assert first.exit_code == 0, first.output
    vkey = first.output.strip()
    name, key_id, _pub = tlog_spec.parse_vkey(vkey, 0x04)
    assert name == "samr.zhongwei.example/witness" and len(key_id) == 4
    assert stat.S_IMODE(os.stat(tmp_path / "w.key").st_mode) == 0o600
    seed = (tmp_path / "w.key").read_text().strip().split("+", 4)[4]
    assert seed not in first.output
    assert runner.invoke(args=["witness", "key"]).output.strip() == vkey  # generated once
    app.config["TRACE_WITNESS_NAME"] = "another/name"
    other = runner.invoke(args=["witness", "key"])
    assert other.exit_code != 0 and "keeps its name" in other.output


def test_cosign_command_without_witnesses_says_how_to_configure(runner) -> None:
    result = runner.invoke(args=["witness", "cosign"])
    assert result.exit_code != 0 and "TRACE_WITNESSES" in result.output


def test_bad_witness_configuration_is_named(svc) -> None:
    from trace.ledger.store import LedgerError
    from trace.ledger.witnessing import parse_witnesses

    with pytest.raises(LedgerError, match="url like"):
        parse_witnesses("somekey")
    with pytest.raises(LedgerError, match="not a cosignature/v1 verifier key"):
        parse_witnesses(f"{svc.signer.vkey} http://127.0.0.1:1")  # a log key (type 0x01), not a witness key


def test_unreachable_witness_is_an_error_not_an_alarm(tr, world, harvest, svc) -> None:
    from trace.ledger.witnessing import parse_witnesses

    harvest(kg=10)
    svc.cosigning.witnesses = parse_witnesses(f"{svc.witnesses[0].vkey} http://127.0.0.1:9")
    outcome = svc.cosigning.run_once()["witness.test/bureau"]
    assert outcome.startswith("cannot reach the witness")
    with read_session(svc.engine) as s:
        st = s.get(WitnessStatus, "witness.test/bureau")
        assert st.error.startswith("cannot reach") and st.size == 0
        assert s.scalar(select(Cosignature.size)) is None
    assert _alarms(svc) == []


def test_layers_import_what_they_may() -> None:
    """The ledger imports nothing from domain or web, neither it nor the domain imports Flask, and
    the witness uses only the ledger's notes, proofs and cosignatures (the bureau runs it alone)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "trace"

    def imports(folder: str) -> dict[str, set[str]]:
        out = {}
        for path in (root / folder).glob("*.py"):
            names = set()
            for n in ast.walk(ast.parse(path.read_text())):
                if isinstance(n, ast.Import):
                    names |= {a.name for a in n.names}
                elif isinstance(n, ast.ImportFrom) and n.module:
                    names.add(n.module)
            out[path.name] = names
        return out

    for folder in ("ledger", "domain"):
        for name, mods in imports(folder).items():
            assert not {m for m in mods if m == "flask" or m.startswith(("flask.", "flask_"))}, f"{folder}/{name} imports Flask"
    for name, mods in imports("ledger").items():
        assert not {m for m in mods if m.startswith(("trace.domain", "trace.web"))}, name
    for name, mods in imports("witness").items():
        ours = {m for m in mods if m.startswith("trace")}
        assert ours <= {"trace.ledger", "trace.ledger.note", "trace.ledger.merkle", "trace.ledger.cosig", "trace.witness.core"}, (name, ours)


def test_the_consumer_page_says_which_witnesses_vouch_and_when(tr, world, harvest, svc, client, witness_server) -> None:
    a = world["actors"]
    b = harvest(kg=100)
    (_, serial), = tr.pack(a["grower"], b.id, count=1, net_g=2500, occurred_at=t(9, 22))
    page = client.get(f"/p/{serial}?lang=en").get_data(as_text=True)
    assert "No independent witness has cosigned a checkpoint covering these records yet." in page
    svc.cosigning.run_once()
    tr.grade(a["grower"], harvest(kg=5).id, grade="X", occurred_at=t(9, 23))  # a new checkpoint: the page is built anew
    page = client.get(f"/p/{serial}?lang=en").get_data(as_text=True)
    assert "Independent witnesses vouch for these records:" in page and "witness.test/bureau" in page
    with read_session(svc.engine) as s:
        ts = s.scalar(select(Cosignature.timestamp))
    from datetime import UTC, datetime, timedelta, timezone

    shown = datetime.fromtimestamp(ts, UTC).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert f"({shown})" in page
    data = client.get(f"/p/{serial}", headers={"Accept": "application/json"}).get_json()
    assert [w["witness"] for w in data["witnesses"]] == ["witness.test/bureau"]


def test_an_oversized_request_is_refused(witness_server) -> None:
    status, _, answer = _post(witness_server.url, "old 0\n" + "A" * 70_000)
    assert status == 413 and "over" in answer
    assert witness_server.witness.state()[0]["size"] == 0
