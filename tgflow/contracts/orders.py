"""The order workflows' and activities' inputs and results (pure pydantic, no I/O).

One name per model of the export:

* ``OrderExportInput`` / ``OrderExportResult`` - the one-order workflow (``OrderExportWorkflow``);
* ``BulkExportInput`` / ``ExportReport`` - the many-orders workflow (``ExportOrdersWorkflow``, ``tgflow export-orders``);
* ``OrderQueueInput`` / ``EnqueueOrders`` - the shop's queue (``OrderQueueWorkflow``) and its ``enqueue`` signal;
* ``ExportActivityInput`` / ``ExportActivityResult`` - the ``export_order`` activity;
* ``RecordOrderInput`` / ``RecordOrderResult`` - the ``record_order_result`` activity, built by ``record_input``;
* ``OrderReconcileInput`` / ``OrderReconcileActivityInput`` / ``OrderReconcileResult`` - the order
  reconciliation (re-enqueues completed orders that are not linked; not the drift report).

Histories hold ids, numbers, statuses and reasons only (never customer data or credentials). Field
names and shapes are part of running workflows' histories: rename or retype no field without a replay test.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

#: Workflow type names (part of every history and schedule: never change them).
EXPORT_WORKFLOW = "OrderExportWorkflow"
QUEUE_WORKFLOW = "OrderQueueWorkflow"
BULK_EXPORT_WORKFLOW = "ExportOrdersWorkflow"
ORDER_RECONCILE_WORKFLOW = "OrderReconcileWorkflow"

#: ``TgSyncKind`` values of the order workflows.
EXPORT_KIND = "order-export"
QUEUE_KIND = "order-queue"
BULK_KIND = "order-bulk-export"
RECONCILE_KIND = "order-reconcile"
#: The queue's signal (callers use signal-with-start).
QUEUE_SIGNAL = "enqueue"
#: The queue's signal from an export that waits out a Retry-After (``ExportWaiting``): while it waits it does
#: not count against ``max_concurrent`` (it is not loading TotalGest), so the queue starts the next order.
QUEUE_WAITING_SIGNAL = "export_waiting"
#: The type of a failure a person must fix (non-retryable), raised by the export activities.
NOT_EXPORTABLE = "OrderNotExportable"
#: The type of a failed export workflow's failure (non-retryable); its message is the reason, its details
#: ``{"number", "order_id"}``.
EXPORT_FAILED = "OrderExportFailed"


# ---- the workflows -----------------------------------------------------------------------------------------------

class ExportParams(BaseModel):
    """How hard an export tries (from ``settings.orders``; passed as values, workflows never read settings)."""

    retry_for_hours: float = 24.0
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 10.0
    attempt_timeout_seconds: float = 90.0


class OrderExportInput(ExportParams):
    """``OrderExportWorkflow``: one order."""

    shop_id: str
    f360_order_id: int


class OrderExportResult(BaseModel):
    shop_id: str
    f360_order_id: int
    status: Literal["linked", "already_linked", "failed", "cancelled"]
    f360_number: str | None = None
    tg_order_number: str | None = None
    tg_order_id: int | None = None
    reason: str | None = None
    #: Set when Framework360 refused the status column update.
    note: str | None = None


class EnqueueOrders(BaseModel):
    """The queue's ``enqueue`` signal."""

    order_ids: list[int]
    #: Newer settings sent along with the signal take effect in the running queue.
    max_concurrent: int | None = None
    export: ExportParams | None = None


class OrderQueueInput(BaseModel):
    """``OrderQueueWorkflow``: the shop's long-running queue."""

    shop_id: str
    max_concurrent: int = 10
    export: ExportParams = Field(default_factory=ExportParams)
    #: Ids carried over by continue-as-new.
    backlog: list[int] = Field(default_factory=list)
    #: Continue as new after this many events (None: when Temporal suggests it).
    continue_after_events: int | None = None
    #: Counts carried over by continue-as-new.
    done: dict[str, int] = Field(default_factory=dict)


class ExportWaiting(BaseModel):
    """The queue's ``export_waiting`` signal: this order's export starts (``waiting``) or ends a wait."""

    order_id: int
    waiting: bool


class BulkExportInput(BaseModel):
    """``ExportOrdersWorkflow``: these orders now, with a report (``tgflow export-orders``)."""

    shop_id: str
    order_ids: list[int]
    max_concurrent: int = 10
    export: ExportParams = Field(default_factory=ExportParams)


class OrderFailure(BaseModel):
    order_id: int
    number: str | None = None
    reason: str


class OrderLinked(BaseModel):
    order_id: int
    number: str | None = None
    tg_order_number: str | None = None


class ExportReport(BaseModel):
    """The bulk export's result."""

    total: int = 0
    succeeded: int = 0
    already_linked: int = 0
    failed: int = 0
    linked: list[OrderLinked] = Field(default_factory=list)
    already: list[OrderLinked] = Field(default_factory=list)
    failures: list[OrderFailure] = Field(default_factory=list)
    #: Cancelled in the shop before export: never exported, not a failure.
    cancelled: list[OrderLinked] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


class OrderReconcileInput(BaseModel):
    """``OrderReconcileWorkflow``: the order reconciliation schedule's run."""

    shop_id: str
    heartbeat_timeout_seconds: float = 120.0


# ---- the activities ----------------------------------------------------------------------------------------------

class ExportActivityInput(BaseModel):
    """The ``export_order`` activity."""

    shop_id: str
    f360_order_id: int
    workflow_id: str | None = None
    #: The workflow run exporting (identifies this run's attempt row in the status store).
    run_id: str | None = None
    #: Also record a success (status store + Framework360 status column) in this activity, as
    #: ``record_order_result`` would; the workflow then calls that activity only for failures.
    record: bool = False


class ExportActivityResult(BaseModel):
    #: ``cancelled``: cancelled in the shop before it was exported, so never exported (not a failure).
    outcome: Literal["linked", "already_linked", "cancelled"]
    f360_number: str
    tg_order_id: int | None = None
    tg_order_number: str | None = None
    tg_customer_id: int | None = None
    f360_status: str | None = None
    completed_at: AwareDatetime | None = None
    #: True when this activity already recorded the outcome (``record`` was asked and worked).
    recorded: bool = False
    #: Set when Framework360 refused the status column update (only when ``recorded``).
    note: str | None = None


class RecordOrderInput(BaseModel):
    """The ``record_order_result`` activity (built by ``record_input``)."""

    shop_id: str
    f360_order_id: int
    outcome: Literal["linked", "already_linked", "failed", "cancelled"]
    f360_number: str | None = None
    tg_order_id: int | None = None
    tg_order_number: str | None = None
    tg_customer_id: int | None = None
    reason: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    f360_status: str | None = None
    completed_at: AwareDatetime | None = None


class RecordOrderResult(BaseModel):
    #: False when Framework360 refused the status (e.g. the order is gone); ``note`` says why.
    f360_updated: bool = True
    note: str | None = None


def record_input(export: ExportActivityInput, exported: ExportActivityResult | None, *,
                 reason: str | None = None, f360_number: str | None = None) -> RecordOrderInput:
    """What to record of one export: its result, or (``exported`` None) a failure with its reason and the
    order number when the failure named it. The one place a ``RecordOrderInput`` is built."""
    if exported is None:
        return RecordOrderInput(shop_id=export.shop_id, f360_order_id=export.f360_order_id, outcome="failed",
                                f360_number=f360_number, reason=reason, workflow_id=export.workflow_id,
                                run_id=export.run_id)
    return RecordOrderInput(
        shop_id=export.shop_id, f360_order_id=export.f360_order_id, outcome=exported.outcome,
        f360_number=exported.f360_number, tg_order_id=exported.tg_order_id,
        tg_order_number=exported.tg_order_number, tg_customer_id=exported.tg_customer_id, reason=reason,
        workflow_id=export.workflow_id, run_id=export.run_id, f360_status=exported.f360_status,
        completed_at=exported.completed_at)


class OrderReconcileActivityInput(BaseModel):
    """The ``reconcile_orders`` activity."""

    shop_id: str


class OrderReconcileResult(BaseModel):
    """What one order reconciliation did (the activity's and the workflow's result)."""

    seen: int = 0
    enqueued: int = 0
    already_linked: int = 0
    skipped_failed: int = 0
    #: Exported orders changed since (cancelled, refunded): their cancellation/refund handling was started.
    adjustments: int = 0
    cursor: AwareDatetime | None = None
