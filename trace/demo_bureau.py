"""The bureau's part of the demo season: the holders of recalled stock record what they did with
it (taken off sale, then destroyed), a login changes hands and comes back (logged, like its
creation), a failing own check is put right by the bureau's official sampling, and a consumer's
report waits on the bureau's desk. Written through the same domain commands as real use, after
trace.demo has loaded the season."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from trace.clock import parse_log_time
from trace.db import read_session
from trace.domain import cases
from trace.domain.actors import SYSTEM, Actor
from trace.domain.commands import Trace
from trace.domain.tables.batches import Batch, Package, RecallTask
from trace.domain.tables.parties import Party, PartyKind


def load(trace: Trace) -> str:
    """Add the bureau's part of the demo to a freshly loaded season; returns a summary."""
    with read_session(trace.engine) as s:
        bureau = s.scalar(select(Party.id).where(Party.kind == PartyKind.REGULATOR.value).order_by(Party.id))
        tasks = s.execute(select(RecallTask, Batch.custodian_id, Batch.lot_code).join(Batch, Batch.id == RecallTask.batch_id)
                          .order_by(RecallTask.batch_id)).all()
        failed = s.scalars(select(Batch).where(Batch.inspection == "failed").order_by(Batch.id)).first()
        processor = s.scalar(select(Party.id).where(Party.kind == PartyKind.PROCESSOR.value).order_by(Party.id.desc()))
    acted = 0
    for n, (task, holder, _lot) in enumerate(tasks):
        if task.out <= 0 and task.out_g <= 0:
            continue
        at = parse_log_time(task_recalled_at(trace, task.recall_entry)) + timedelta(hours=5 + n)
        trace.recall_action(Actor(None, holder), task.recall_entry, task.batch_id, action="off_sale", packages=task.out,
                            loose_g=task.out_g, note="全部下架封存 all taken off the shelves and sealed", occurred_at=at)
        if n == 0:  # the first holder destroys what it took off sale, under the bureau's eyes
            trace.recall_action(Actor(None, holder), task.recall_entry, task.batch_id, action="destroyed",
                                packages=task.out, loose_g=task.out_g, note="监督销毁 destroyed under supervision",
                                occurred_at=at + timedelta(days=2))
        acted += 1
    if failed is not None and bureau is not None:
        # The holder's own test failed; the bureau's follow-up sampling confirms the failure (only
        # a new official inspection could ever clear it).
        trace.inspect(Actor(None, bureau), failed.id, lab="宁夏回族自治区农产品质量安全检测中心", report_no="JD-复检-001",
                      passed=False, results=[{"name": "毒死蜱 chlorpyrifos", "value": "0.07", "limit": "0.02", "unit": "mg/kg",
                                              "pass": False}], occurred_at=parse_log_time(failed.harvested_at) + timedelta(days=40))
    # A login moves: the date processor's is unbound while its holder is away, then bound again.
    if processor is not None:
        trace.run("user.bind", SYSTEM, {"username": "date-processor", "party": None})
        trace.run("user.bind", SYSTEM, {"username": "date-processor", "party": processor})
    with read_session(trace.engine) as s:
        sold = s.scalar(select(Package.id).where(Package.status == "sold").order_by(Package.id))
    if sold is not None:
        cases.submit(trace.engine, package_id=sold, code="", kind="quality", message="买回家第二天发现有软烂果 soft, rotten fruit the next day",
                     place="滨河镇", phone="13800000000", photo=None, client="demo")
    return f"bureau: {acted} holders recorded what they did with recalled stock"


def task_recalled_at(trace: Trace, entry: int) -> str:
    """When the recall of `entry` was decided."""
    from trace.domain.queries.entries import entries

    with read_session(trace.engine) as s:
        return entries(s, [entry])[entry].event.occurred_at  # type: ignore[union-attr]
