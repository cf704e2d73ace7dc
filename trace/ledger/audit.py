"""Is today's log an append-only extension of a checkpoint someone saved earlier? The judgement
shared by `audit --against` (the database at hand) and `audit --monitor` (a log over HTTP)."""
from __future__ import annotations

from dataclasses import dataclass

from trace.ledger import merkle, note


@dataclass(frozen=True)
class Verdict:
    """consistent, truncated, forked or rewritten, with a sentence saying why."""

    kind: str
    message: str

    @property
    def ok(self) -> bool:
        return self.kind == "consistent"


def read_checkpoint(signed: str, vkey: str, origin: str | None = None) -> tuple[int, bytes]:
    """(size, root) of a signed checkpoint note that verifies with the log's key; NoteError if not."""
    text = note.verify_note(signed, vkey)
    got_origin, size, root = note.parse_checkpoint(text)
    if origin is not None and got_origin != origin:
        raise note.NoteError(f"the checkpoint is for origin {got_origin!r}, not this log's {origin!r}")
    return size, root


def judge(old: tuple[int, bytes], new: tuple[int, bytes], proof: list[bytes] | None) -> Verdict:
    """Judge the tree `new` (size, root) against the saved tree `old`. `proof` is a consistency
    proof from old to new (None when the log could not give one)."""
    (old_size, old_root), (size, root) = old, new
    if size < old_size:
        return Verdict("truncated", f"the saved checkpoint has {old_size} entries, the log now has only {size}: "
                                    "entries were removed (the log was truncated or rolled back)")
    if size == old_size:
        if root == old_root:
            return Verdict("consistent", f"the log is still the saved tree of {size} entries")
        return Verdict("forked", f"the log signed two different trees of {size} entries: the saved checkpoint and the "
                                 "current one are both evidence")
    if proof is None:
        return Verdict("rewritten", f"the log cannot prove that its tree of {size} entries extends the saved one of "
                                    f"{old_size}: its history was rewritten")
    try:
        merkle.verify_consistency(old_size, size, old_root, root, proof)
    except merkle.ProofError as exc:
        return Verdict("rewritten", f"the log's tree of {size} entries does not extend the saved tree of {old_size} "
                                    f"entries ({exc}): its history was rewritten")
    return Verdict("consistent", f"the log of {size} entries is an append-only extension of the saved {old_size}")
