"""Clerk work that fits the work (issue 11): each party offered and allowed only its own kind of
work, sales and receipts by the codes of the packages themselves, one event for a form sent
twice, messages in kilograms, product edits from the current values with their history, labels
as one archive with the certificate beside them, and QR codes that point where the app runs."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from tests.conftest import t
from tests.forge import forge
from tests.test_portal_support import Portal, add_user, entry_of, last_event, log_size, text
from trace import create_app
from trace.db import read_session
from trace.domain.errors import Forbidden, NotFound, RuleViolation
from trace.domain.events import NewPackage, Pack
from trace.domain.rules.roles import WORK
from trace.domain.tables.batches import Package, PackageSecret
from trace.domain.tables.operations import FormSubmission

ROOT = Path(__file__).resolve().parents[1]
PEAR = "nanchangtan-soft-pear"


def _codes(svc: Any, batch_id: int) -> list[tuple[int, str]]:
    with read_session(svc.engine) as s:
        return list(s.execute(select(PackageSecret.package_id, PackageSecret.serial).join(
            Package, Package.id == PackageSecret.package_id).where(Package.batch_id == batch_id).order_by(Package.id)).all())


def _held_by(tr, world, role: str, kg: int = 100, packs: int = 0):  # type: ignore[no-untyped-def]
    """A pear batch in `role`'s custody, with `packs` packages of 1 kg packed by the grower."""
    A = world["actors"]
    b = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=kg * 1000, occurred_at=t(9, 20))
    if packs:
        tr.pack(A["grower"], b.id, count=packs, net_g=1000, occurred_at=t(9, 20, 11))
    if role != "grower":
        tr.ship(A["grower"], b.id, to_party=world[role], occurred_at=t(9, 20, 12))
        tr.receive(A[role], b.id, occurred_at=t(9, 20, 13))
    return b


# -- the role x action table ---------------------------------------------------------------------


@pytest.mark.parametrize(("role", "action"), [("carrier", "grade"), ("carrier", "split"), ("carrier", "pack"),
                                              ("carrier", "merge"), ("carrier", "sell"), ("cold", "pack")])
def test_a_party_does_only_its_own_kind_of_work(role, action, tr, world, snapshot) -> None:  # type: ignore[no-untyped-def]
    b, other = _held_by(tr, world, role), _held_by(tr, world, role)
    who = world["actors"][role]
    do = {"grade": lambda: tr.grade(who, b.id, grade="一级"), "split": lambda: tr.split(who, b.id, [1000]),
          "pack": lambda: tr.pack(who, b.id, count=2, net_g=1000), "merge": lambda: tr.merge(who, [(b.id, 1000), (other.id, 1000)]),
          "sell": lambda: tr.sell(who, b.id, loose_g=1000)}[action]
    before = snapshot()
    with pytest.raises(Forbidden) as exc:
        do()
    assert exc.value.code == "role.not_its_work" and snapshot() == before
    assert exc.value.zh.endswith("。") and ("物流企业" in exc.value.zh or "冷库" in exc.value.zh)
    assert exc.value.en.startswith(("A carrier does not", "A cold store does not"))


def test_the_table_is_the_one_the_issue_asks_for() -> None:
    assert not {"grade", "split", "pack"} & WORK["carrier"] and "pack" not in WORK["cold_store"]
    assert {"receive", "store", "ship"} <= WORK["carrier"] and {"store", "ship", "sell"} <= WORK["cold_store"]
    assert "pack" in WORK["grower"] and "pack" in WORK["processor"] and "pack" in WORK["retailer"]
    assert "pack" not in WORK["buyer"] and {"receive", "grade", "sell"} <= WORK["buyer"]


@pytest.mark.parametrize(("version", "code"), [(3, "role.not_its_work"), (2, "log.version_order")])
def test_a_cold_store_packing_is_named_by_verify_in_any_encoding(svc, tr, world, runner, version, code) -> None:  # type: ignore[no-untyped-def]
    """A cold store's pack written straight into the log breaks the role table, and verify names
    it. Written in the older encoding 2 (whose rules had no table) after the log's version 3
    entries, it breaks the order of encodings instead: an insider cannot dodge a rule by
    writing an old version."""
    b = _held_by(tr, world, "cold")
    with read_session(svc.engine) as s:
        first = (s.scalar(select(Package.id).order_by(Package.id.desc()).limit(1)) or 0) + 1
    pack = Pack(batch=b.id, occurred_at="2025-09-21T01:00:00.000Z",
                packages=[NewPackage(id=first, net_g=1000, serial_hash="ab" * 32)], shelf_life_days=None)
    assert runner.invoke(args=["verify"]).exit_code == 0
    index = forge(svc, pack, party=world["cold"], version=version)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and f"entry {index}: {code}:" in result.output, result.output


# -- selling and receiving by the packages' codes -------------------------------------------------


def test_a_sale_records_exactly_the_packages_scanned(svc, tr, world, snapshot) -> None:  # type: ignore[no-untyped-def]
    """Selling used to mark the first N unsold packages as sold, so the shopper's own package
    could read 'not sold'. Now the packages sold are the ones whose codes were scanned."""
    b = _held_by(tr, world, "retailer", packs=5)
    codes = _codes(svc, b.id)
    shop = world["actors"]["retailer"]
    scanned = f"http://127.0.0.1:5000/p/{codes[3][1]}\n\n  {codes[1][1].lower()}  \n{codes[3][1]}"  # one twice, one typed
    result = tr.run("sell", shop, {"batch": b.id, "codes": scanned})
    assert result.event.packages == [codes[1][0], codes[3][0]]  # type: ignore[attr-defined]
    with read_session(svc.engine) as s:
        sold = set(s.scalars(select(Package.id).where(Package.batch_id == b.id, Package.status == "sold")))
    assert sold == {codes[1][0], codes[3][0]}
    other = _held_by(tr, world, "retailer", packs=1)
    (_, foreign), = _codes(svc, other.id)
    for lines, error, words in ((f"{codes[0][1]}\n{foreign}", RuleViolation, "is a package of lot"),
                                (codes[1][1], RuleViolation, "was sold already"),
                                ("7" * 20, NotFound, "may be a counterfeit"),
                                ("https://example.com/pay?id=42", Exception, "is not a package code")):
        before = snapshot()
        with pytest.raises(error) as exc:
            tr.run("sell", shop, {"batch": b.id, "codes": lines})
        assert words in exc.value.en and exc.value.field == "codes" and snapshot() == before  # type: ignore[attr-defined]
    assert "第 2 行" in _refusal(tr, shop, b.id, f"{codes[0][1]}\n{foreign}").zh


def _refusal(tr, actor, batch_id, lines):  # type: ignore[no-untyped-def]
    try:
        tr.run("sell", actor, {"batch": batch_id, "codes": lines})
    except Exception as exc:  # noqa: BLE001 - the refusal is what we look at
        return exc
    raise AssertionError("the sale was not refused")


def test_loose_fruit_is_sold_by_weight_without_codes(svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "retailer", kg=10, packs=2)
    ev = tr.run("sell", world["actors"]["retailer"], {"batch": b.id, "loose_g": 3000}).event
    assert ev.packages == [] and ev.loose_g == 3000  # type: ignore[attr-defined]


def test_a_receipt_counts_every_package_that_arrived(svc, tr, world, snapshot, app) -> None:  # type: ignore[no-untyped-def]
    A = world["actors"]
    b = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=20_000, occurred_at=t(9, 20))
    tr.pack(A["grower"], b.id, count=4, net_g=2000, occurred_at=t(9, 20, 11))
    tr.ship(A["grower"], b.id, to_party=world["processor"], occurred_at=t(9, 20, 12))
    codes = _codes(svc, b.id)
    add_user(svc, world["processor"], "packer")
    packer = Portal(app.test_client())
    packer.login("packer")
    desk = text(packer.get("/portal/?lang=en"))
    assert "Scan its 4 packages to receive it" in desk and f"/portal/batch/{b.id}#do-receive" in desk
    page = text(packer.get(f"/portal/batch/{b.id}"))
    assert 'id="receive-codes"' in page and "data-scan" in page
    before = snapshot()
    r = packer.act(b.id, "receive", {"codes": "\n".join(sn for _, sn in codes[:3])}, query_string={"lang": "zh"})
    assert r.status_code == 409 and snapshot() == before
    assert f"批次 {b.lot_code} 的 4 件包装中有 1 件未扫描：…{codes[3][1][-4:]}" in text(r)
    r = packer.act(b.id, "receive", {"codes": "\n".join(f"http://127.0.0.1:5000/p/{sn}" for _, sn in codes)})
    assert r.status_code == 302
    rec = last_event(svc)
    assert rec["v"] == 3 and rec["event"]["type"] == "receive" and rec["event"]["packages"] == [p for p, _ in codes]
    # Loose fruit is received without codes.
    loose = tr.register_harvest(A["grower"], plot_id=world["plot"], product_id=PEAR, quantity_g=5000, occurred_at=t(9, 20))
    tr.ship(A["grower"], loose.id, to_party=world["processor"], occurred_at=t(9, 20, 12))
    assert packer.act(loose.id, "receive", {}).status_code == 302 and last_event(svc)["event"]["packages"] == []


# -- one event for a form sent twice ----------------------------------------------------------------


def test_a_form_sent_twice_records_one_event(app, svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "grower", kg=100)
    add_user(svc, world["grower"], "grower")
    grower = Portal(app.test_client())
    grower.login("grower")
    page = text(grower.get(f"/portal/batch/{b.id}?lang=en"))
    once = re.search(r'<form method="post" action="/portal/batch/\d+/pack" id="f-pack" novalidate>\s*'
                     r'<input type="hidden" name="csrf_token" value="[^"]+"><input type="hidden" name="once" value="([^"]+)">',
                     page).group(1)  # type: ignore[union-attr]
    size = log_size(svc)
    first = grower.act(b.id, "pack", {"count": "3", "net_kg": "2", "once": once})
    second = grower.act(b.id, "pack", {"count": "3", "net_kg": "2", "once": once})
    assert first.status_code == second.status_code == 302 and first.headers["Location"] == second.headers["Location"]
    assert log_size(svc) == size + 1 and len(_codes(svc, b.id)) == 3
    assert "nothing new was written" in text(grower.get(second.headers["Location"]))
    # Another form, another token: another event.
    assert grower.act(b.id, "pack", {"count": "1", "net_kg": "2", "once": "another-token-0123456789"}).status_code == 302
    assert log_size(svc) == size + 2


@pytest.mark.parametrize("command", ["ship", "sell"])
def test_two_submits_at_once_record_one_event(command, svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    """Two submits racing each other (a double tap): the token is looked up under the log's
    lock, so the second waits for the first and answers with its result."""
    b = _held_by(tr, world, "retailer", packs=2)
    codes = _codes(svc, b.id)
    data = {"ship": {"batch": b.id, "to_party": world["carrier"]}, "sell": {"batch": b.id, "codes": codes[0][1]}}[command]
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        barrier.wait()
        results.append(tr.run(command, world["actors"]["retailer"], data, once="double-tap-token-000001"))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(results) == 2 and results[0].entry == results[1].entry
    assert sorted(r.repeated for r in results) == [False, True]
    with read_session(svc.engine) as s:
        assert s.scalars(select(FormSubmission.entry)).all() == [results[0].entry]


def test_a_token_belongs_to_its_form(svc, tr, world, snapshot) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "grower")
    A = world["actors"]
    tr.run("grade", A["grower"], {"batch": b.id, "grade": "一级"}, once="grading-form-token-01")
    before = snapshot()
    for actor, name, data, once, code in (
            (A["grower"], "store", {"batch": b.id, "facility": "库", "temperature_c": "1"}, "grading-form-token-01", "form.once_other"),
            (A["processor"], "grade", {"batch": b.id, "grade": "一级"}, "grading-form-token-01", "form.once_other"),
            (A["grower"], "grade", {"batch": b.id, "grade": "一级"}, "short", "form.once_format"),
            (A["grower"], "grade", {"batch": b.id, "grade": "一级"}, "<script>alert(1)</script>xxxxxxxxx", "form.once_format")):
        with pytest.raises(Exception) as exc:
            tr.run(name, actor, data, once=once)
        assert getattr(exc.value, "code", None) == code and snapshot() == before
    # A refused first submit stores nothing: the corrected form goes through with the same token.
    with pytest.raises(RuleViolation):
        tr.run("split", A["grower"], {"batch": b.id, "quantities": "200000"}, once="split-form-token-0001")  # grams
    assert tr.run("split", A["grower"], {"batch": b.id, "quantities": "50000"}, once="split-form-token-0001").repeated is False


# -- kilograms ---------------------------------------------------------------------------------------


def test_every_refusal_of_a_quantity_speaks_kilograms(app, svc, tr, world, subtests) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "grower", kg=10, packs=2)
    spare = _held_by(tr, world, "grower", kg=10)
    add_user(svc, world["grower"], "grower")
    grower = Portal(app.test_client())
    grower.login("grower")
    for action, data in (("pack", {"count": "5", "net_kg": "2"}), ("split", {"quantities": "9"}),
                         ("merge", {"with": str(spare.id), f"qty_{b.id}": "9", f"qty_{spare.id}": "2"}),
                         ("merge", {"with": str(spare.id), f"qty_{b.id}": "1", f"qty_{spare.id}": "2", "quantity_kg": "4"}),
                         ("process", {"input_kg": "1", "output_kg": "2", "form": "dried"}),
                         ("process", {"input_kg": "9", "output_kg": "2", "form": "dried"}),
                         ("sell", {"loose_kg": "9"}), ("pack", {"count": "1", "net_kg": "0.0001"}),
                         ("split", {"quantities": "99999999999999"})):
        for lang, bad in (("zh", "克"), ("en", " g")):
            with subtests.test(msg=f"{action} {data} {lang}"):
                r = grower.act(b.id, action, data, query_string={"lang": lang})
                assert r.status_code in (400, 409), text(r)[:500]
                msgs = " ".join(re.findall(r'role="alert"[^>]*>(.*?)</(?:p|div)>', text(r), re.S))
                assert re.search("公斤" if lang == "zh" else r"\bkg\b|kilograms", msgs) and bad not in msgs and "gram" not in msgs.replace("kilogram", ""), msgs
    r = grower.post("/portal/harvest?lang=zh", {"plot": str(world["plot"]), "product": PEAR, "quantity_kg": "25000",
                                                "occurred_at": "2025-09-20T08:00"})
    assert "公斤" in text(r) and "克" not in re.sub(r"<[^>]+>", "", text(r)).split("超出产量上限")[1][:80]


# -- the catalogue ------------------------------------------------------------------------------------


def test_editing_a_product_starts_from_its_values_and_shows_its_history(app, svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["bureau"], "bureau")
    bureau = Portal(app.test_client())
    bureau.login("bureau")
    page = text(bureau.get("/portal/products?edit=nanchangtan-soft-pear&lang=en"))
    form = page.split('id="f-product"')[1]
    assert 'value="nanchangtan-soft-pear"' in form and 'value="南长滩软梨子"' in form and 'value="9,10"' in form
    assert 'value="2000"' in form and "香山乡 北长滩村\n香山乡 南长滩村" in form and 'value="AGI01791"' in form
    values = dict(re.findall(r'name="(\w+)" (?:type="\w+" )?value="([^"]*)"', form))
    values["area"] = "香山乡 北长滩村\n香山乡 南长滩村\n香山乡 红泉村"
    values["yield_kg_per_mu"] = "2100"
    assert bureau.post("/portal/products", values).status_code == 302
    page = text(bureau.get("/portal/products?lang=en"))
    history = page.split('id="history-nanchangtan-soft-pear"')[1].split("</details>")[0]
    assert "History: 2 versions in the log" in history and "first definition" in history
    assert re.search(r"changed: yield ceiling、protected area", history), history
    assert "沙坡头区市场监督管理局" in history  # who changed it
    latest = last_event(svc)
    assert latest["event"]["product"]["yield_g_per_mu"] == 2_100_000 and f'href="/log/entries/{latest["index"]}/view"' in history
    assert bureau.get("/portal/products?edit=no-such-fruit").status_code == 404


# -- labels and the certificate --------------------------------------------------------------------


def test_labels_download_as_one_archive_with_the_certificate_beside(app, svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "grower", kg=100)
    add_user(svc, world["grower"], "grower")
    add_user(svc, world["processor"], "packer")
    grower = Portal(app.test_client())
    grower.login("grower")
    assert grower.act(b.id, "pack", {"count": "3", "net_kg": "2.5"}).status_code == 302
    entry = entry_of(svc, b.id, "pack")
    page = text(grower.get(f"/portal/batch/{b.id}"))
    assert f"labels.zip?entry={entry}" in page and f"/portal/batch/{b.id}/certificate.pdf" not in page
    pack = page[page.index(f'id="pack-{entry}"'):]
    assert 'href="#issue-certificate"' in pack[:pack.index("</p>")]  # beside the labels: issue it first
    r = grower.get(f"/portal/batch/{b.id}/certificate.pdf")  # the portal prints no certificate the log does not hold
    assert r.status_code == 404 and b.lot_code in text(r)
    assert grower.post(f"/portal/batch/{b.id}/certificate", {"basis": "control"}).status_code == 302
    page = text(grower.get(f"/portal/batch/{b.id}"))
    pack = page[page.index(f'id="pack-{entry}"'):]
    assert f"/portal/batch/{b.id}/certificate.pdf" in pack[:pack.index("</p>")]  # now the certificate itself
    r = grower.get(f"/portal/batch/{b.id}/labels.zip?entry={entry}")
    assert r.status_code == 200 and r.mimetype == "application/zip" and r.headers["Cache-Control"] == "private, no-store"
    z = zipfile.ZipFile(io.BytesIO(r.data))
    names = sorted(z.namelist())
    assert names == [f"{b.lot_code}_{n}.png" for n in (1, 2, 3)]
    serials = [sn for _, sn in _codes(svc, b.id)]
    for name, serial in zip(names, serials, strict=True):
        url, _pts, _ = cv2.QRCodeDetector().detectAndDecode(np.array(Image.open(io.BytesIO(z.read(name))).convert("L")))
        assert url == f"{app.config['TRACE_PUBLIC_URL']}/p/{serial}"
    r = grower.get(f"/portal/batch/{b.id}/certificate.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-") and "attachment" in r.headers["Content-Disposition"]
    png = grower.get(f"/portal/batch/{b.id}/certificate.png")
    url, _pts, _ = cv2.QRCodeDetector().detectAndDecode(np.array(Image.open(io.BytesIO(png.data)).convert("L")))
    assert url == f"{app.config['TRACE_PUBLIC_URL']}/lot/{b.lot_code}"
    other = Portal(app.test_client())
    other.login("packer")
    assert other.get(f"/portal/batch/{b.id}/certificate.pdf").status_code == 403
    assert other.get(f"/portal/batch/{b.id}/labels.zip?entry={entry}").status_code == 403


# -- the right address in every QR code --------------------------------------------------------------


def test_labels_follow_the_port_the_app_runs_on(db_url, tmp_path, svc, tr, world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With PORT=5301 and no TRACE_PUBLIC_URL, portal labels point to port 5301 (decoded by a
    real QR decoder); TRACE_PUBLIC_URL, when set, wins."""
    b = _held_by(tr, world, "grower", kg=10)
    tr.pack(world["actors"]["grower"], b.id, count=1, net_g=1000, occurred_at=t(9, 21))
    add_user(svc, world["grower"], "grower")
    entry = entry_of(svc, b.id, "pack")
    monkeypatch.delenv("TRACE_PUBLIC_URL", raising=False)
    for env, expected in (({"PORT": "5301"}, "http://127.0.0.1:5301"),
                          ({"PORT": "5301", "TRACE_PUBLIC_URL": "https://trace.example.cn/"}, "https://trace.example.cn")):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        app = create_app({"TESTING": True, "DATABASE_URL": db_url, "TRACE_KEY_FILE": str(tmp_path / "log.key"),
                          "SECRET_KEY": "test-secret"})
        try:
            p = Portal(app.test_client())
            p.login("grower")
            (pid, serial), = _codes(svc, b.id)
            png = p.get(f"/portal/batch/{b.id}/labels/{pid}.png").data
            url, _pts, _ = cv2.QRCodeDetector().detectAndDecode(np.array(Image.open(io.BytesIO(png)).convert("L")))
            assert url == f"{expected}/p/{serial}"
            zipped = zipfile.ZipFile(io.BytesIO(p.get(f"/portal/batch/{b.id}/labels.zip?entry={entry}").data))
            img = Image.open(io.BytesIO(zipped.read(zipped.namelist()[0]))).convert("L")
            assert cv2.QRCodeDetector().detectAndDecode(np.array(img))[0] == f"{expected}/p/{serial}"
            data = app.test_client().get(f"/p/{serial}", headers={"Accept": "application/json"}).json
            assert data["links"]["self"] == f"{expected}/p/{serial}" and data["links"]["proof_bundle"].startswith(expected)
            bundle = app.test_client().get(f"/p/{serial}/proof").json
            assert bundle["subject"]["url"] == f"{expected}/p/{serial}"
            page = app.test_client().get(f"/p/{serial}").get_data(as_text=True)
            assert f'<link rel="canonical" href="{expected}/p/{serial}">' in page
        finally:
            app.extensions["trace"].engine.dispose()


def test_the_cli_and_make_follow_the_port_too(db_url, tmp_path, svc, tr, world) -> None:  # type: ignore[no-untyped-def]
    b = _held_by(tr, world, "grower", kg=10)
    tr.pack(world["actors"]["grower"], b.id, count=1, net_g=1000, occurred_at=t(9, 21))
    (pid, serial), = _codes(svc, b.id)
    env = {k: v for k, v in os.environ.items() if k != "TRACE_PUBLIC_URL"}
    env.update(DATABASE_URL=db_url, TRACE_KEY_FILE=str(tmp_path / "log.key"), SECRET_KEY="x", PORT="5301")
    flask = Path(sys.executable).parent / "flask"
    out = tmp_path / "labels"
    done = subprocess.run([str(flask), "--app", "trace", "labels", "--lot", b.lot_code, "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    img = Image.open(out / f"{b.lot_code}_1.png").convert("L")
    assert cv2.QRCodeDetector().detectAndDecode(np.array(img))[0] == f"http://127.0.0.1:5301/p/{serial}"
    listed = subprocess.run([str(flask), "--app", "trace", "packages"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60).stdout
    assert listed.startswith(f"http://127.0.0.1:5301/p/{serial}\t")
    # `make run` exports its PORT to the app (what `make url` prints is what its QR codes say).
    env.pop("PORT")
    made = subprocess.run(["make", "-s", "--no-print-directory", "url", "PORT=5301"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and made.stdout.strip().splitlines()[-1] == "http://127.0.0.1:5301", made.stdout + made.stderr
