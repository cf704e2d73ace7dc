"""Who does what kind of work: the role x action table of the rule book.

Custody decides *whose* batch it is (rules.common.holder); this table decides what kind of work a
party of each kind does to a batch it holds. A carrier moves fruit: it receives, keeps it cold,
checks it and hands it on, but does not grade, split, merge, pack or sell it; a cold store keeps
fruit and may sort and sell it, but packs no coded packages (coded packages come from the party
that packs them: a grower, a processor, or a shop that packs for its counter); a produce buyer
(收购商) buys from growers and sells on as a cold store does, and packs no coded packages either. Processing stays
with processors and growers (rules.transforms). The bureau does its work on any batch
(inspections, recalls, corrections) through its own rules, not through custody.

The table is in force from encoding version 3: entries of earlier versions were written under
rules without it, and a replay judges them by those (Context.version)."""
from __future__ import annotations

from trace.domain.errors import Code, Forbidden
from trace.domain.messages import N_, Term
from trace.domain.rules.common import (
    BUYER,
    CARRIER,
    COLD_STORE,
    GROWER,
    KIND_NAMES,
    PROCESSOR,
    REGULATOR,
    RETAILER,
)
from trace.domain.rules.context import Context
from trace.domain.state import PartyState

SINCE_VERSION = 3
BATCH_WORK = ("receive", "inspect", "grade", "store", "split", "merge", "process", "pack", "ship", "sell", "recall",
              "correct")
WORK: dict[str, frozenset[str]] = {
    GROWER: frozenset(BATCH_WORK),
    PROCESSOR: frozenset(BATCH_WORK),
    COLD_STORE: frozenset(BATCH_WORK) - {"process", "pack"},
    CARRIER: frozenset({"receive", "inspect", "store", "ship", "recall", "correct"}),
    RETAILER: frozenset(BATCH_WORK) - {"process"},
    REGULATOR: frozenset({"inspect", "recall", "correct"}),
    BUYER: frozenset(BATCH_WORK) - {"process", "pack"},
}
ACTION_NAMES = {"receive": N_("receive batches"), "inspect": N_("inspect batches"), "grade": N_("grade fruit"),
                "store": N_("record cold storage"), "split": N_("split batches"), "merge": N_("merge batches"),
                "process": N_("process fruit"), "pack": N_("pack coded packages"), "ship": N_("ship batches"),
                "sell": N_("sell fruit"), "recall": N_("recall batches"), "correct": N_("correct entries")}

NOT_ITS_WORK = Code("role.not_its_work", Forbidden, N_("A %(kind)s does not %(action)s."))


def does(kind: str, action: str) -> bool:
    """Whether a party of this kind does this kind of work (the table, whatever the version)."""
    return action in WORK.get(kind, frozenset())


def its_work(party: PartyState, action: str, ctx: Context) -> None:
    """Refuse work that is not this party's kind of work (entries of version 3 on)."""
    if ctx.version >= SINCE_VERSION and not does(party.kind, action):
        raise NOT_ITS_WORK(None, kind=Term(KIND_NAMES.get(party.kind, party.kind)), action=Term(ACTION_NAMES[action]))
