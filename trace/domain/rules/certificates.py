"""承诺达标合格证 as MOA Order 2025 No. 4 wants it (in force 2026-02-01), and the law's Arts. 38-39.

The producer issues a certificate per production batch, pledging that no banned pesticide was
used and residues are within limits, on a basis that is true of the batch: quality and safety
control (always), its own test (a passing check of its own), or a commissioned test (only when
an official test of this batch passed). A buyer collects the certificates of what it receives
(a receive entry records the one that came with the batch) and issues a new one after mixing or
splitting: a split, merge or processing of certified batches carries the new certificates of
the new batches, linking the old ones, so the chain never breaks. Entries of version 3 on."""
from __future__ import annotations

from trace.clock import china_date
from trace.domain.errors import Code, RuleViolation
from trace.domain.events import (
    CertificateIssue,
    Inspect,
    Merge,
    NewCertificate,
    NewLotQuantity,
    Process,
    Receive,
    Split,
)
from trace.domain.inputs import CertificateInput
from trace.domain.messages import N_, Term
from trace.domain.rules import Built, also_apply_of, also_check_of, apply_of, check_of, command
from trace.domain.rules.common import (
    ID_SEQUENCE,
    event_time,
    holder,
    next_id,
    regulator,
    require_batch,
    when,
)
from trace.domain.rules.context import Context
from trace.domain.state import BatchState, BatchTestState, CertificateState, ReceiptState, State
from trace.domain.tables.field import Certificate

STRENGTH = {"control": 0, "own_test": 1, "commissioned_test": 2}
BASIS_NAMES = {"control": N_("quality and safety control"), "own_test": N_("own test"),
               "commissioned_test": N_("commissioned test")}

ALREADY = Code("certificate.already", RuleViolation,
               N_("Batch %(lot)s already has its certificate of conformity No. %(id)s."))
NO_OFFICIAL_TEST = Code("certificate.no_official_test", RuleViolation,
                        N_("A commissioned test is a basis only when an official test of this batch passed."))
NO_OWN_TEST = Code("certificate.no_own_test", RuleViolation, N_("An own test is a basis only when this batch passed one."))
FAILED = Code("certificate.failed", RuleViolation,
              N_("Batch %(lot)s failed inspection: nobody can pledge that its residues are within limits."))
BANNED_USED = Code("certificate.banned_used", RuleViolation,
                   N_("A banned pesticide (%(pesticide)s) was recorded on the plot this season: the pledge would be false."))
QUANTITY = Code("log.certificate_quantity", RuleViolation,
                N_("The certificate is for %(got)s g, but the batch holds %(expected)s g."))
CHAIN = Code("log.certificate_chain", RuleViolation,
             N_("The new batches' certificates are not the ones the chain calls for (%(reason)s)."))
RECEIPT = Code("log.certificate_receipt", RuleViolation,
               N_("The receipt records certificate %(got)s, but the certificate of the batch is %(expected)s."))


def current(state: State, batch: BatchState) -> CertificateState | None:
    """The certificate a batch travels with now."""
    return state.batch_certificate(batch.id)


def tests_of(state: State, batch_id: int) -> BatchTestState:
    """What a batch has passed (nothing, when nothing is recorded)."""
    return state.batch_tests(batch_id) or BatchTestState(batch_id, False, False)


def chained(state: State, parents: list[BatchState], children: list[NewLotQuantity]) -> list[NewCertificate]:
    """The certificates of new batches made from `parents`: when every parent travels with one,
    one per child, on the weakest basis among them, linking theirs; else none (the holder
    issues its own, on what is true of the new batch)."""
    certs = [current(state, p) for p in parents]
    if not certs or any(c is None for c in certs):
        return []
    basis = min((c.basis for c in certs if c), key=STRENGTH.__getitem__)
    sources = sorted({c.id for c in certs if c})
    first = state.next_id(Certificate)
    return [NewCertificate(id=first + i, batch=child.id, basis=basis, quantity_g=child.quantity_g, sources=sources)  # type: ignore[arg-type]
            for i, child in enumerate(children)]


def _parents_children(state: State, ev: Split | Merge | Process) -> tuple[list[BatchState], list[NewLotQuantity]]:
    if isinstance(ev, Merge):
        return [require_batch(state, p.id) for p in ev.batches], [ev.child]
    children = ev.children if isinstance(ev, Split) else [ev.child]
    return [require_batch(state, ev.batch)], list(children)


# -- issuing ---------------------------------------------------------------------------------------


@command("certificate.issue", CertificateInput)
def build(state: State, inp: CertificateInput, ctx: Context) -> Built:
    """The certificate of a batch, for what it holds now."""
    batch = require_batch(state, inp.batch)
    return Built(CertificateIssue(certificate=NewCertificate(
        id=state.next_id(Certificate), batch=batch.id, basis=inp.basis, quantity_g=max(1, batch.quantity_g),  # type: ignore[arg-type]
        sources=[]), occurred_at=when(inp.occurred_at, ctx)))


@check_of(CertificateIssue)
def check(state: State, ev: CertificateIssue, ctx: Context) -> None:
    """The holder issues one per batch, on a true basis, for a pledge that can be true."""
    c = ev.certificate
    batch = require_batch(state, c.batch)
    holder(state, ctx, batch)
    existing = current(state, batch)
    if existing is not None:
        raise ALREADY("batch", lot=batch.lot_code, id=existing.id)
    if batch.inspection == "failed":
        raise FAILED("batch", lot=batch.lot_code)
    tests = tests_of(state, batch.id)
    if c.basis == "commissioned_test" and not tests.official:
        raise NO_OFFICIAL_TEST("basis")
    if c.basis == "own_test" and not tests.own:
        raise NO_OWN_TEST("basis")
    if batch.origin_plot_id is not None:
        for spray in state.sprays(batch.origin_plot_id):
            if "banned" in spray.alerts.split(",") and spray.season == batch.season and spray.occurred_at <= batch.harvested_at:
                pest = state.pesticide(spray.pesticide or "")
                raise BANNED_USED("batch", pesticide=pest.name if pest else spray.pesticide)
    if c.quantity_g != max(1, batch.quantity_g):
        raise QUANTITY(None, got=c.quantity_g, expected=batch.quantity_g)
    if c.sources:
        raise CHAIN(None, reason=Term(N_("a certificate issued by hand replaces none")))
    next_id(state, Certificate, c.id, N_("certificate"))
    event_time(ev.occurred_at, ctx, batch)


@apply_of(CertificateIssue)
def apply(state: State, ev: CertificateIssue, ctx: Context) -> None:
    """The certificate travels with the batch from now on."""
    c = ev.certificate
    assert ctx.party_id is not None
    state.add(CertificateState(c.id, c.batch, ctx.party_id, c.basis, c.quantity_g, ev.occurred_at, ctx.index, ""))


# -- the chain through splits, merges and processing ----------------------------------------------


@also_check_of(Split, Merge, Process)
def check_chain(state: State, ev: Split | Merge | Process, ctx: Context) -> None:
    """A version 3 transformation carries exactly the certificates the chain calls for."""
    if "certificates" not in ev.model_fields_set:
        return  # an older entry (or the portal's probe of what may be done): no chain to check
    parents, children = _parents_children(state, ev)
    expected = chained(state, parents, children)
    if list(ev.certificates) != expected:
        first = ev.certificates[0].id if ev.certificates else None
        if expected and first is not None and first != expected[0].id:
            raise ID_SEQUENCE(None, what=Term(N_("certificate")), got=first, expected=expected[0].id)
        raise CHAIN(None, reason=Term(N_("each new batch gets one, linking the certificates of what went into it")))


@also_apply_of(Split, Merge, Process)
def apply_chain(state: State, ev: Split | Merge | Process, ctx: Context) -> None:
    """The new batches travel with their certificates; what they passed goes with them."""
    assert ctx.party_id is not None or not ev.certificates
    for c in ev.certificates:
        state.add(CertificateState(c.id, c.batch, ctx.party_id or 0, c.basis, c.quantity_g, ev.occurred_at, ctx.index,
                                   ",".join(str(s) for s in c.sources)))
    if ctx.version < 3 or isinstance(ev, Process):
        return  # a new form needs its own tests
    parents, children = _parents_children(state, ev)
    tests = [tests_of(state, p.id) for p in parents]
    official, own = all(t.official for t in tests), all(t.own for t in tests)
    if official or own:
        for child in children:
            state.add(BatchTestState(child.id, official, own))


# -- receipts and tests ----------------------------------------------------------------------------


def receipt_certificate(state: State, batch: BatchState) -> int | None:
    """The certificate a receiver collects with a batch."""
    cert = current(state, batch)
    return cert.id if cert else None


@also_check_of(Receive)
def check_receipt(state: State, ev: Receive, ctx: Context) -> None:
    """A version 3 receipt records the certificate the batch travels with."""
    if "certificate" not in ev.model_fields_set:
        return
    batch = require_batch(state, ev.batch)
    expected = receipt_certificate(state, batch)
    if ev.certificate != expected:
        raise RECEIPT(None, got=ev.certificate or "-", expected=expected or "-")


@also_apply_of(Receive)
def apply_receipt(state: State, ev: Receive, ctx: Context) -> None:
    """The receiver keeps the certificate."""
    if ev.certificate is not None and ctx.party_id is not None:
        state.add(ReceiptState(ctx.index, ev.certificate, ctx.party_id, ev.occurred_at))


@also_apply_of(Inspect)
def apply_test(state: State, ev: Inspect, ctx: Context) -> None:
    """A passing test counts as a basis until a failing one (version 3 entries say whose it is)."""
    if ctx.version < 3 or ev.kind is None:
        return
    row = state.batch_tests(ev.batch)
    if row is None:
        row = BatchTestState(ev.batch, False, False)
        state.add(row)
    if not ev.passed:
        row.official = row.own = False
    elif ev.kind == "official":
        row.official = True
    else:
        row.own = True


def issued_on(cert: CertificateState) -> str:
    """The certificate's date, Beijing."""
    return china_date(cert.issued_at).isoformat()


__all__ = ["regulator", "STRENGTH", "BASIS_NAMES", "chained", "receipt_certificate", "issued_on", "tests_of", "current"]
