"""The regulators' audit page: history, consistency between any two checkpoints on the page,
witness status, alarms, and a full verify in the background with progress. Regulators only,
enforced in trace.domain.audit."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests import attacks
from tests.test_portal_support import Portal, add_user
from trace.db import read_session, write_session
from trace.domain import audit
from trace.domain.actors import SYSTEM, Actor
from trace.domain.errors import Forbidden
from trace.domain.events import Grade
from trace.ledger import note
from trace.ledger.models import Checkpoint, VerifyRun


@pytest.fixture
def logins(svc, world):  # type: ignore[no-untyped-def]
    add_user(svc, world["bureau"], "bureau")
    add_user(svc, world["grower"], "grower")
    add_user(svc, None, "admin", is_admin=True)


def as_(app, username: str, lang: str = "en") -> Portal:  # type: ignore[no-untyped-def]
    p = Portal(app.test_client())
    p.get(f"/login?lang={lang}")
    p.login(username)
    return p


def _sizes(svc) -> list[int]:  # type: ignore[no-untyped-def]
    with read_session(svc.engine) as s:
        return list(s.scalars(select(Checkpoint.size).order_by(Checkpoint.size)))


def test_only_regulators_see_the_audit_page(app, svc, world, logins) -> None:
    assert app.test_client().get("/audit").status_code in (302, 401)  # not logged in
    for user in ("grower", "admin"):
        p = as_(app, user)
        assert p.get("/audit").status_code == 403
        assert p.post("/audit/verify").status_code == 403
    # ... in the domain, whatever the page offers.
    with pytest.raises(Forbidden):
        audit.overview(svc.engine, svc.ledger, Actor(None, world["grower"]))
    with pytest.raises(Forbidden):
        audit.start_verify(svc.engine, SYSTEM, "admin")
    with read_session(svc.engine) as s:
        assert s.scalar(select(VerifyRun.id)) is None


def test_history_and_consistency_between_any_two(app, svc, tr, world, harvest, logins) -> None:
    for i in range(3):
        harvest(kg=10 + i)
    sizes = _sizes(svc)
    p = as_(app, "bureau")
    page = p.get("/audit").get_data(as_text=True)
    for size in sizes[-3:]:
        assert f'id="cp-{size}"' in page
    assert "No alarms" in page and f"The log has {sizes[-1]} entries and {len(sizes)} signed checkpoints." in page
    ok = p.get(f"/audit?old={sizes[1]}&new={sizes[-1]}").get_data(as_text=True)
    assert "append-only extension" in ok and 'class="ok">✓' in ok
    bad = p.get("/audit?old=abc&new=3")
    assert bad.status_code == 400 and "positive whole number" in bad.get_data(as_text=True)
    missing = p.get(f"/audit?old={sizes[-1] + 5}&new={sizes[-1]}")
    assert missing.status_code == 400 and "no stored checkpoint" in missing.get_data(as_text=True)
    # An older checkpoint the key signed over another tree (a fork kept in the table): not consistent.
    forged = svc.signer.sign(note.format_checkpoint(svc.origin, sizes[1], b"\x01" * 32))
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE checkpoints SET note = :t WHERE size = :n"), {"t": forged, "n": sizes[1]})
    bad = p.get(f"/audit?old={sizes[1]}&new={sizes[-1]}").get_data(as_text=True)
    assert f"the tree of {sizes[-1]} entries does not extend the tree of {sizes[1]}" in bad and 'class="bad">✗' in bad


def test_alarms_and_witnesses_are_shown(app, svc, tr, world, harvest, logins) -> None:
    harvest(kg=10)
    harvest(kg=10)
    attacks.truncate(svc, _sizes(svc)[-1] - 4)
    from trace.ledger.store import SignerRefused

    with pytest.raises(SignerRefused):
        harvest(kg=5)
    page = as_(app, "bureau").get("/audit").get_data(as_text=True)
    assert "signer_truncated" in page and "the log was truncated" in page


def test_a_write_the_signer_refuses_shows_a_clear_page(app, svc, tr, world, harvest, logins) -> None:
    add_user(svc, world["grower"], "grower2")
    harvest(kg=10)
    harvest(kg=10)
    attacks.truncate(svc, _sizes(svc)[-1] - 4)
    p = as_(app, "grower2")
    p.get("/portal/harvest")
    r = p.post("/portal/harvest", {"plot": str(world["plot"]), "product": "nanchangtan-soft-pear", "quantity_kg": "5",
                                    "occurred_at": "2025-09-20T08:30"})
    assert r.status_code == 503
    body = r.get_data(as_text=True)
    assert "Writes are stopped" in body and "Nothing was written" in body
    r = p.post("/portal/harvest?lang=zh", {"plot": str(world["plot"]), "product": "nanchangtan-soft-pear", "quantity_kg": "5",
                                            "occurred_at": "2025-09-20T08:30"})
    body = r.get_data(as_text=True)
    assert r.status_code == 503 and "日志写入已停止" in body and "本次操作没有写入任何内容" in body  # and in Chinese


def test_full_verify_runs_in_the_background_with_progress(app, svc, tr, world, harvest, logins) -> None:
    b = harvest(kg=100)
    with tr.transaction(world["actors"]["grower"]) as tx:
        for i in range(200):
            tx.record(Grade(batch=b.id, grade=f"g{i}", occurred_at="2025-09-21T01:00:00.000Z"))
    p = as_(app, "bureau")
    started = p.post("/audit/verify")
    assert started.status_code == 303
    again = p.post("/audit/verify")  # only one at a time (or it already finished)
    assert again.status_code in (303, 409)
    thread = next(iter(app.extensions["trace_verify_threads"].values()))
    thread.join(timeout=60)
    page = p.get("/audit").get_data(as_text=True)
    with read_session(svc.engine) as s:
        size = svc.ledger.size(s)
    assert "passed" in page and f"OK: {size} entries" in page
    with read_session(svc.engine) as s:
        run = s.scalars(select(VerifyRun).order_by(VerifyRun.id)).first()
        assert run.state == "ok" and run.done == run.total > 200 and run.requested_by == "bureau"
    # A damaged entry: the next run fails and names it.
    with write_session(svc.engine) as s:
        s.execute(text("UPDATE log_entries SET body = :b WHERE idx = 30"), {"b": b'{"tampered":true}'})
    p.post("/audit/verify")
    for th in app.extensions["trace_verify_threads"].values():
        th.join(timeout=60)
    page = p.get("/audit").get_data(as_text=True)
    assert "FAILED" in page and "first bad entry: 30" in page


def test_a_running_verify_shows_its_progress(app, svc, world, logins) -> None:
    run_id = audit.start_verify(svc.engine, Actor(None, world["bureau"]), "bureau")
    audit._update(svc.engine, run_id, phase="integrity", done=50, total=200)
    resp = as_(app, "bureau").get("/audit")
    body = resp.get_data(as_text=True)
    assert resp.headers["Refresh"] == "3" and '<progress max="100" value="25">' in body and "disabled" in body
