"""C2SP signed notes and tlog checkpoints against published vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from trace.ledger.note import (
    NoteError,
    NoteSigner,
    format_checkpoint,
    generate_private_key,
    parse_checkpoint,
    verify_note,
)

# A copy of ../shared/standards/tlog (sources and licences in its SOURCES.md), so a clone alone can run the tests.
TLOG = Path(__file__).resolve().parent / "vectors" / "tlog"
if not (TLOG / "SOURCES.md").is_file():
    raise RuntimeError(
        f"test vectors not found at {TLOG}: restore tests/vectors/ from ../shared/standards "
        "(../shared/standards/tlog)"
    )
SUMDB = TLOG / "x-mod-sumdb-note"
C2SP = TLOG / "c2sp-signed-note-example"

PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _vkey(path: Path) -> str:
    return _read(path).strip()


# ---------------------------------------------------------------------------
# Published vectors


def test_x_mod_peter_note() -> None:
    note = _read(SUMDB / "note-peter.txt")
    assert verify_note(note, _vkey(SUMDB / "peter.vkey")) == PETER_TEXT


def test_x_mod_peter_enoch_note_verifies_with_each_key() -> None:
    note = _read(SUMDB / "note-peter-enoch.txt")
    for key in ("peter.vkey", "enoch.vkey"):
        assert verify_note(note, _vkey(SUMDB / key)) == PETER_TEXT


def test_x_mod_enoch_key_does_not_verify_peter_only_note() -> None:
    with pytest.raises(NoteError, match="no signature"):
        verify_note(_read(SUMDB / "note-peter.txt"), _vkey(SUMDB / "enoch.vkey"))


def test_c2sp_example() -> None:
    text = verify_note(_read(C2SP / "note.txt"), _vkey(C2SP / "vkey.txt"))
    assert text == "This is an example message.\n"


def test_vector_keys_parse_as_documented() -> None:
    peter = _vkey(SUMDB / "peter.vkey")
    name, hex8, b64 = peter.split("+", 2)
    assert name == "PeterNeumann" and hex8 == "c74f20a3"
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33


def test_tampered_vector_note_fails() -> None:
    note = _read(SUMDB / "note-peter.txt")
    vkey = _vkey(SUMDB / "peter.vkey")
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(note.replace("cryptography", "Cryptography", 1), vkey)
    # key ID byte altered: the signature is no longer "by" this key
    sig_line = note.splitlines()[-1]
    b64 = sig_line.split(" ")[-1]
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    bad = note.replace(b64, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match="no signature"):
        verify_note(bad, vkey)
    # signature byte altered
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 1
    bad = note.replace(b64, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(bad, vkey)


def test_c2sp_checkpoint_example_text() -> None:
    note = _read(C2SP / "tlog-checkpoint-example-nokey.txt")
    text = note[: note.rindex("\n\n") + 1]
    origin, size, root = parse_checkpoint(text)
    assert origin == "example.com/behind-the-sofa"
    assert size == 20852163
    assert root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert format_checkpoint(origin, size, root) == text


def test_x_mod_sumdb_tree_note_text() -> None:
    golden = json.loads((TLOG / "rfc6962-hash-primitives.json").read_text())[
        "x_mod_sumdb_tlog_golden"
    ]
    text = golden["tree_note_text"]
    root = base64.b64decode(golden["record_hash_b64"])
    assert format_checkpoint("go.sum database tree", 123456789012, root) == text
    assert parse_checkpoint(text) == ("go.sum database tree", 123456789012, root)


# ---------------------------------------------------------------------------
# Round trips


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner(generate_private_key("shapotou.example/log"))


def test_generated_key_format(signer: NoteSigner) -> None:
    skey = generate_private_key("example.com/k")
    parts = skey.split("+", 4)
    assert parts[:3] == ["PRIVATE", "KEY", "example.com/k"]
    assert len(parts[3]) == 8 and int(parts[3], 16) >= 0
    assert len(base64.b64decode(parts[4])) == 33
    s = NoteSigner(skey)
    assert s.name == "example.com/k"
    assert s.key_id.hex() == parts[3]
    assert s.vkey.startswith(f"example.com/k+{parts[3]}+")
    assert parts[4] not in repr(s)
    assert generate_private_key("example.com/k") != skey


def test_round_trip(signer: NoteSigner) -> None:
    text = "shapotou.example/log\n5\n" + base64.b64encode(bytes(32)).decode() + "\n"
    note = signer.sign(text)
    assert note.startswith(text + "\n\u2014 shapotou.example/log ")
    assert note.endswith("\n")
    assert verify_note(note, signer.vkey) == text
    origin, size, root = parse_checkpoint(verify_note(note, signer.vkey))
    assert (origin, size, root) == ("shapotou.example/log", 5, bytes(32))


def test_round_trip_text_with_blank_lines_and_unicode(signer: NoteSigner) -> None:
    text = "沙坡头\n\nline after a blank line\n\n"
    assert verify_note(signer.sign(text), signer.vkey) == text


def test_tampered_and_wrong_key(signer: NoteSigner) -> None:
    text = "hello\nworld\n"
    note = signer.sign(text)
    with pytest.raises(NoteError):
        verify_note(note.replace("world", "World"), signer.vkey)
    other = NoteSigner(generate_private_key("shapotou.example/log"))  # same name, new key
    with pytest.raises(NoteError):
        verify_note(note, other.vkey)
    with pytest.raises(NoteError):
        verify_note(note, _vkey(SUMDB / "peter.vkey"))
    # a valid signature by another key is ignored, ours still verifies
    cosigned = note + other.sign(text).split("\n\n", 1)[1]
    assert verify_note(cosigned, signer.vkey) == text
    assert verify_note(cosigned, other.vkey) == text


def test_bad_signature(signer: NoteSigner) -> None:
    note = signer.sign("x\n")
    prefix, b64 = note.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x80
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n", signer.vkey)
    truncated = base64.b64encode(bytes(raw[:4])).decode()
    with pytest.raises(NoteError):
        verify_note(f"{prefix} {truncated}\n", signer.vkey)
    with pytest.raises(NoteError):
        verify_note(f"{prefix} not*base64\n", signer.vkey)


@pytest.mark.parametrize(
    "note",
    [
        "",
        "x\n",
        "x\n\n",
        "x\n\n\u2014 n AAAA\n",  # signature too short
        "x\n\n- shapotou.example/log AAAAAAAA\n",  # hyphen, not em dash
        "x\n\n\u2014 shapotou.example/log AAAAAAAA",  # no final newline
        "x\r\n\n\u2014 shapotou.example/log AAAAAAAA\n",  # control character
        "x\n\n\u2014 bad name AAAAAAAA\n",
    ],
)
def test_malformed_notes(signer: NoteSigner, note: str) -> None:
    with pytest.raises(NoteError):
        verify_note(note, signer.vkey)


def test_sign_rejects_bad_text(signer: NoteSigner) -> None:
    for text in ["no newline", "tab\there\n", "nul\x00\n", "\ud800\n"]:
        with pytest.raises(NoteError):
            signer.sign(text)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u3000b", "a\nb"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(NoteError):
        generate_private_key(name)


def test_bad_keys(signer: NoteSigner) -> None:
    skey = generate_private_key("example.com/k")
    _, _, name, hex8, b64 = skey.split("+", 4)
    wrong_id = f"{int(hex8, 16) ^ 1:08x}"
    not_ed25519 = base64.b64encode(bytes([2]) + bytes(32)).decode()
    for bad in [
        f"PRIVATE+KEY+{name}+{wrong_id}+{b64}",  # ID does not match
        f"PRIVATE+KEY+other.example+{hex8}+{b64}",  # name does not match ID
        f"PRIVATE+KEY+{name}+{hex8[:7]}+{b64}",
        f"PRIVATE+KEY+{name}+{hex8}+{b64[:-4]}",
        f"KEY+PRIVATE+{name}+{hex8}+{b64}",
        f"{name}+{hex8}+{b64}",
        f"PRIVATE+KEY+{name}+{hex8}+{not_ed25519}",
    ]:
        with pytest.raises(NoteError):
            NoteSigner(bad)
    vname, vhex, vb64 = signer.vkey.split("+", 2)
    for bad in [
        f"{vname}+{int(vhex, 16) ^ 1:08x}+{vb64}",
        f"other.example+{vhex}+{vb64}",
        f"{vname}+{vhex}",
        f"{vname}+{vhex}+{vb64[:-4]}",
        f"{vname}+{vhex}+{vb64}+extra",
        "",
    ]:
        with pytest.raises(NoteError):
            verify_note(signer.sign("x\n"), bad)


# ---------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_format_and_parse() -> None:
    root = bytes(range(32))
    text = format_checkpoint("shapotou.example/log", 0, root)
    assert text == "shapotou.example/log\n0\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert parse_checkpoint(text) == ("shapotou.example/log", 0, root)
    # extension lines are accepted and ignored
    assert parse_checkpoint(text + "ext one\next two\n") == ("shapotou.example/log", 0, root)
    assert parse_checkpoint(format_checkpoint("o", 2**63, root))[1] == 2**63


@pytest.mark.parametrize(
    "text",
    [
        "",
        "origin\n1\n",
        "origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  # no final newline
        "origin\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # leading zero
        "origin\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "origin\n+1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "origin\n\u0661\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # Arabic-Indic digit
        "origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n",  # 31 bytes
        "origin\n1\nnot base64!\n",
        "\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # empty origin
        "origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",  # empty extension
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


def test_format_checkpoint_rejects_bad_input() -> None:
    with pytest.raises(NoteError):
        format_checkpoint("", 1, bytes(32))
    with pytest.raises(NoteError):
        format_checkpoint("a\nb", 1, bytes(32))
    with pytest.raises(NoteError):
        format_checkpoint("o", -1, bytes(32))
    with pytest.raises(NoteError):
        format_checkpoint("o", 1, bytes(31))
