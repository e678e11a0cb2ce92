"""Inputs and results of the order workflows (ids, numbers, statuses and reasons only), and
their pure helpers (ids, search attributes, failure reasons).

Kept apart from the workflow modules and imported through the sandbox's
pass-through, so a sandbox built for each workflow run neither rebuilds nor
recompiles them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from tgflow import search_attributes as attrs
from tgflow.activities.orders import NOT_EXPORTABLE

EXPORT_KIND = "order-export"
#: ``workflow.patched`` id of the one-step export: ``export_order`` runs as a local activity of the export
#: workflow and records a success itself (no record activity, no activity task round trips).
ONE_STEP_EXPORT_PATCH = "one-step-export"
#: ``workflow.patched`` id: an export that ends needing a person fails the workflow (status Failed in the Web UI,
#: the reason as its failure message) instead of completing with ``status="failed"``.
FAILED_EXPORT_FAILS_PATCH = "failed-export-fails-workflow"
#: The type of that failure (non-retryable); its message is the reason, its details ``{"number", "order_id"}``.
EXPORT_FAILED = "OrderExportFailed"


class ExportParams(BaseModel):
    """How hard an export tries (from ``settings.orders``; passed as values, workflows never read settings)."""

    retry_for_hours: float = 24.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    attempt_timeout_seconds: float = 90.0


class OrderExportInput(ExportParams):
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
    order_ids: list[int]
    #: Newer settings sent along with the signal take effect in the running queue.
    max_concurrent: int | None = None
    export: ExportParams | None = None


class OrderQueueInput(BaseModel):
    shop_id: str
    max_concurrent: int = 10
    export: ExportParams = Field(default_factory=ExportParams)
    #: Ids carried over by continue-as-new.
    backlog: list[int] = Field(default_factory=list)
    #: Continue as new after this many events (None: when Temporal suggests it).
    continue_after_events: int | None = None
    #: Counts carried over by continue-as-new.
    done: dict[str, int] = Field(default_factory=dict)


class ExportOrdersInput(BaseModel):
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
    shop_id: str
    heartbeat_timeout_seconds: float = 120.0


# ---- helpers (pure: safe to call from workflow code) ------------------------------------------------------------

def export_workflow_id(shop_id: str, order_id: int) -> str:
    return f"order-export-{shop_id}-{order_id}"


def queue_workflow_id(shop_id: str) -> str:
    return f"order-queue-{shop_id}"


def _cause(err: BaseException) -> BaseException | None:
    """What failed inside an activity (or child workflow) error. A local activity's own failure arrives
    as the ``ApplicationError`` itself, not wrapped in an ``ActivityError``."""
    cause: BaseException | None = (err if isinstance(err, ApplicationError)
                                   else err.__cause__ or getattr(err, "cause", None))
    while isinstance(cause, ActivityError) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause


def failure_reason(err: BaseException, params: ExportParams) -> tuple[str, str | None]:
    """(reason, order number) of a failed activity (or child workflow)."""
    cause = _cause(err)
    if isinstance(cause, ApplicationError):
        number = None
        if cause.details and isinstance(cause.details[0], dict):
            number = cause.details[0].get("number")
        return cause.message or cause.type or "failed", number
    if isinstance(cause, TemporalTimeoutError):
        last = cause.__cause__
        tail = f"; last error: {getattr(last, 'message', None) or last}" if last else ""
        return (f"gave up after {params.retry_for_hours:g} h of temporary failures (TotalGest or Framework360 "
                f"unavailable, timeouts or rate limits){tail}; export it again once they answer"), None
    return (str(cause) if cause else str(err)) or type(err).__name__, None


def is_not_exportable(err: BaseException) -> bool:
    """A failure a person must fix (non-retryable), as raised by a local or a regular activity."""
    cause = _cause(err)
    return isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type == NOT_EXPORTABLE)


def is_failed_export(err: BaseException) -> bool:
    """A child export that failed the way a failed export fails (reason as message), not abnormally."""
    cause = _cause(err)
    return isinstance(cause, ApplicationError) and cause.type == EXPORT_FAILED


def child_search_attributes(shop_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(attrs.SHOP_ID, shop_id),
        SearchAttributePair(attrs.SYNC_KIND, EXPORT_KIND),
        SearchAttributePair(attrs.SYNC_STATUS, "running"),
    ])


def export_summary(shop_id: str, order_id: int) -> str:
    return f"Export Framework360 order {order_id} to TotalGest (shop {shop_id})"
