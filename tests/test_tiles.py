"""The log as C2SP tlog-tiles, checked the way a tile client would, with tests/tlog_spec.py."""
from __future__ import annotations

import gzip
import struct

import pytest

from tests import tlog_spec
from trace.domain.events import Grade
from trace.ledger.tiles import TileNotFound, parse


@pytest.fixture
def big(tr, world, harvest, svc):  # type: ignore[no-untyped-def]
    """A log of a little over 300 entries: one full level-0 tile and a partial one."""
    b = harvest(kg=100)
    with tr.transaction(world["actors"]["grower"]) as tx:
        for i in range(290):
            tx.record(Grade(batch=b.id, grade=f"一级-{i}", occurred_at="2025-09-21T01:00:00.000Z"))
    return svc


def _entries(bundle: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(bundle):
        (n,) = struct.unpack(">H", bundle[i : i + 2])
        out.append(bundle[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def test_a_tile_client_rebuilds_the_checkpoint_root(client, big, svc) -> None:
    cp = client.get("/log/checkpoint")
    origin, size, root = tlog_spec.checkpoint_fields(cp.get_data(as_text=True))
    assert tlog_spec.note_signed_by(cp.get_data(as_text=True), svc.signer.vkey) and size > 256
    full, rest = divmod(size, 256)
    leaves: list[bytes] = []
    entries: list[bytes] = []
    for n in range(full):
        t = client.get("/log/" + tlog_spec.tile_path(0, n))
        assert t.status_code == 200 and t.mimetype == "application/octet-stream" and len(t.data) == 8192
        assert "immutable" in t.headers["Cache-Control"] and "max-age=31536000" in t.headers["Cache-Control"]
        leaves += [t.data[i : i + 32] for i in range(0, 8192, 32)]
        e = client.get("/log/" + tlog_spec.tile_path("entries", n))
        assert e.status_code == 200 and "immutable" in e.headers["Cache-Control"]
        entries += _entries(e.data)
    p = client.get("/log/" + tlog_spec.tile_path(0, full, rest))
    assert p.status_code == 200 and len(p.data) == 32 * rest
    leaves += [p.data[i : i + 32] for i in range(0, len(p.data), 32)]
    entries += _entries(client.get("/log/" + tlog_spec.tile_path("entries", full, rest)).data)
    assert len(leaves) == len(entries) == size
    assert [tlog_spec.leaf(e) for e in entries] == leaves  # each entry hashes to its level-0 hash
    assert tlog_spec.mth(leaves) == root
    # Level 1: each hash is the MTH of a full level-0 tile; the tree has one, so a partial tile of width 1.
    one = client.get("/log/" + tlog_spec.tile_path(1, 0, 1))
    assert one.status_code == 200 and one.data == tlog_spec.mth(leaves[:256])
    # The entries are the log's exact entries.
    assert entries[5] == client.get("/log/entries/5").data


def test_tiles_the_tree_does_not_have_are_404_and_not_cached(client, big) -> None:
    size = tlog_spec.checkpoint_fields(client.get("/log/checkpoint").get_data(as_text=True))[1]
    full, rest = divmod(size, 256)
    for path in (tlog_spec.tile_path(0, full), tlog_spec.tile_path(0, full, rest + 1), tlog_spec.tile_path(1, 0),
                 tlog_spec.tile_path(2, 0, 1), tlog_spec.tile_path("entries", full + 1)):
        resp = client.get("/log/" + path)
        assert resp.status_code == 404 and resp.headers["Cache-Control"] == "no-store", path
    # a smaller partial tile of a tree size the log once had is still served, and never changes
    assert client.get("/log/" + tlog_spec.tile_path(0, full, 1)).status_code == 200


@pytest.mark.parametrize("path", ["0/5", "0/0005", "00/000", "64/000", "0/000.p/0", "0/000.p/256", "0/000.p/07",
                                  "0/1234", "0/x001", "x/000", "entries/x000", "0/000.p/"])
def test_malformed_tile_paths_are_refused(client, big, path) -> None:
    resp = client.get("/log/tile/" + path)
    assert resp.status_code == 404 and b"tile" in resp.data
    with pytest.raises(TileNotFound):
        parse(path)


def test_parse_follows_the_spec_example() -> None:
    assert parse("0/x001/x234/067") == (0, 1234067, None)
    assert parse("3/x001/x234/067.p/8") == (3, 1234067, 8)
    assert parse("entries/000.p/255") == ("entries", 0, 255)


def test_entry_bundles_are_gzipped_for_clients_that_ask(client, big) -> None:
    plain = client.get("/log/tile/entries/000")
    zipped = client.get("/log/tile/entries/000", headers={"Accept-Encoding": "gzip, identity"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == plain.data
    assert "Accept-Encoding" in zipped.headers["Vary"]


def test_an_empty_log_has_no_tiles(client) -> None:
    assert client.get("/log/tile/0/000.p/1").status_code == 404
