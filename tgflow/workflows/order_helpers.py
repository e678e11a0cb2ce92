"""Pure helpers of the order workflows: patch ids, failure reasons, child search attributes.

No I/O. Kept apart from the workflow modules and imported through the sandbox's pass-through,
so a sandbox built for each workflow run neither rebuilds nor recompiles them. The models
are in ``tgflow.contracts.orders``, the ids in ``tgflow.contracts.ids``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from tgflow import search_attributes as attrs
from tgflow.contracts.orders import EXPORT_FAILED, EXPORT_KIND, NOT_EXPORTABLE, ExportParams

#: ``workflow.patched`` id of the one-step export: ``export_order`` runs as a local activity of the export
#: workflow and records a success itself (no record activity, no activity task round trips).
ONE_STEP_EXPORT_PATCH = "one-step-export"
#: ``workflow.patched`` id: an export that ends needing a person fails the workflow (status Failed in the Web UI,
#: the reason as its failure message) instead of completing with ``status="failed"``.
FAILED_EXPORT_FAILS_PATCH = "failed-export-fails-workflow"  # the failure's type: ``EXPORT_FAILED``
#: ``workflow.patched`` id (the order queue): an export waiting out a Retry-After (``export_waiting`` signal) does
#: not hold one of the queue's ``max_concurrent`` slots meanwhile.
SLOT_FREE_WHILE_WAITING_PATCH = "slot-free-while-waiting"


# ---- helpers (pure: safe to call from workflow code) ------------------------------------------------------------

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
