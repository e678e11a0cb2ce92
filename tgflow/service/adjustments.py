"""Use cases of cancellations and refunds: start them (webhook, order reconciliation), re-drive refused ones.

Workflow ids come from business keys, so a redelivered webhook or a second order reconciliation starts nothing
new: the per-order scan joins a running one (``USE_EXISTING``) and the per-refund / per-cancel workflows
run once when done, again only when they failed (``orders retry``).
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from tgflow.activities import starts
from tgflow.activities.starts import adjustment_attributes, retry_params
from tgflow.config import Settings
from tgflow.contracts.adjustments import AdjustmentInput, AdjustmentKind, AdjustmentResult, adjustment_summary
from tgflow.contracts.ids import adjustment_workflow_id
from tgflow.store import Store
from tgflow.store import adjustments as astore
from tgflow.workflows.adjustments import OrderAdjustmentWorkflow


async def start_adjustments(client: Client, settings: Settings, order_id: int) -> WorkflowHandle:
    """Handle whatever the shop order needs in TotalGest (its refunds, its cancellation); idempotent.
    The same start as the order reconciliation activity's (``tgflow.activities.starts``)."""
    return await starts.start_adjustments(client, settings, order_id)


async def start_adjustment(client: Client, settings: Settings, order_id: int, kind: AdjustmentKind,
                           refund_id: int | None = None) -> WorkflowHandle:
    """One cancellation or refund now (``orders retry``): runs again only if it failed before."""
    shop = settings.totalgest.shop_id
    return await client.start_workflow(
        OrderAdjustmentWorkflow.run,
        AdjustmentInput(shop_id=shop, f360_order_id=order_id, kind=kind, refund_id=refund_id,
                        retry=retry_params(settings)),
        id=adjustment_workflow_id(shop, order_id, kind, refund_id), task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=adjustment_attributes(shop, kind),
        static_summary=adjustment_summary(shop, order_id, kind, refund_id))


async def retry_failed_adjustments(client: Client, settings: Settings, store: Store,
                                   order_ids: list[int] | None = None) -> list[WorkflowHandle]:
    """Re-drive refused cancellations/refunds (all, or those of these orders); returns their handles."""
    shop = settings.totalgest.shop_id
    wanted = set(order_ids) if order_ids is not None else None
    handles = []
    for row in astore.failed(store, shop):
        if wanted is None or row.f360_order_id in wanted:
            kind: AdjustmentKind = "cancel" if row.kind == "cancel" else "refund"
            handles.append(await start_adjustment(client, settings, row.f360_order_id, kind, row.refund_id))
    return handles


async def redrive_adjustments(client: Client, settings: Settings, store: Store, order_ids: list[int] | None = None,
                               *, wait: bool = False) -> list[AdjustmentResult]:
    """``orders retry``: re-drive the refused cancellations/refunds (of these orders, or all). With ``wait``,
    what became of each (``done`` with its credit note, or ``failed`` with the reason again); without, each
    one ``pending`` (started)."""
    shop = settings.totalgest.shop_id
    rows = {adjustment_workflow_id(shop, r.f360_order_id, "cancel" if r.kind == "cancel" else "refund", r.refund_id): r
            for r in astore.failed(store, shop)}
    handles = await retry_failed_adjustments(client, settings, store, order_ids)
    out = []
    for handle in handles:
        row = rows.get(handle.id)
        base = AdjustmentResult(shop_id=shop, f360_order_id=row.f360_order_id if row else 0,
                                kind="cancel" if row is not None and row.kind == "cancel" else "refund",
                                refund_id=row.refund_id if row else None, status="pending",
                                f360_number=row.f360_number if row else None)
        if not wait:
            out.append(base)
            continue
        try:
            out.append(await handle.result())
        except WorkflowFailureError as err:
            cause = err.cause
            while getattr(cause, "cause", None) is not None:
                cause = cause.cause
            reason = getattr(cause, "message", None) or str(cause)
            out.append(base.model_copy(update={"status": "failed", "reason": reason}))
    return out


__all__ = ["redrive_adjustments", "retry_failed_adjustments", "start_adjustment", "start_adjustments"]
