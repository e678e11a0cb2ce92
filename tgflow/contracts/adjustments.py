"""Cancellations and refunds, Framework360 → TotalGest: workflow/activity inputs and results
(workflow ids: ``tgflow.contracts.ids``).

Ids, numbers, amounts, statuses and reasons only: never customer data or a credential (they go to
workflow history). Pure pydantic, importable by use cases, workflows and activities alike.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: What happens to an exported order, per business key: its cancellation, or one shop refund.
AdjustmentKind = Literal["cancel", "refund"]
#: pending (started) | done (TotalGest matches the shop) | skipped (nothing to do in TotalGest) | failed (a person acts)
AdjustmentStatus = Literal["pending", "done", "skipped", "failed"]

#: ApplicationError type of a refusal a person must fix (not retried; recorded with its one-line reason).
ADJUSTMENT_REFUSED = "AdjustmentRefused"
CANCEL_KIND = "order-cancel"
REFUND_KIND = "order-refund"
SCAN_KIND = "order-adjust"
#: Workflow type names (part of every history: never change them).
ADJUSTMENT_WORKFLOW = "OrderAdjustmentWorkflow"
SCAN_WORKFLOW = "OrderAdjustmentsWorkflow"


def adjustment_key(kind: AdjustmentKind, refund_id: int | None = None) -> str:
    """The store key of one adjustment of an order: ``cancel`` or ``R<refund id>``."""
    if kind == "cancel":
        return "cancel"
    if refund_id is None:
        raise ValueError("a refund adjustment needs its refund id")
    return f"R{refund_id}"




def adjustment_summary(shop_id: str, order_id: int, kind: str, refund_id: int | None) -> str:
    """The one-line summary the Web UI lists for one cancellation or refund workflow."""
    what = "Cancellation" if kind == "cancel" else f"Refund {refund_id}"
    return f"{what} of Framework360 order {order_id} → TotalGest (shop {shop_id})"


class RetryParams(BaseModel):
    retry_for_hours: float = 24.0
    retry_initial_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    attempt_timeout_seconds: float = 60.0


class AdjustmentInput(BaseModel):
    """One cancellation or one refund of one shop order (workflow and activity input)."""

    shop_id: str
    f360_order_id: int
    kind: AdjustmentKind
    refund_id: int | None = None
    retry: RetryParams = Field(default_factory=RetryParams)
    workflow_id: str | None = None


class AdjustmentResult(BaseModel):
    shop_id: str
    f360_order_id: int
    kind: AdjustmentKind
    refund_id: int | None = None
    status: AdjustmentStatus
    #: What was done in one line (``cancelled in TotalGest``, ``credit note NC-… 12.50``, ``not exported``…).
    outcome: str = ""
    f360_number: str | None = None
    tg_order_number: str | None = None
    tg_credit_note_number: str | None = None
    amount: str | None = None
    reason: str | None = None


class RecordAdjustmentInput(BaseModel):
    """A refusal to record (the workflow runs it after the adjustment activity failed for good)."""

    shop_id: str
    f360_order_id: int
    kind: AdjustmentKind
    refund_id: int | None = None
    reason: str
    f360_number: str | None = None
    workflow_id: str | None = None


class ScanInput(BaseModel):
    shop_id: str
    f360_order_id: int
    retry: RetryParams = Field(default_factory=RetryParams)


class PlannedAdjustment(BaseModel):
    kind: AdjustmentKind
    refund_id: int | None = None


class ScanPlan(BaseModel):
    """What the shop order needs in TotalGest that the status store has not seen handled (refunds first)."""

    f360_number: str | None = None
    todo: list[PlannedAdjustment] = Field(default_factory=list)


class ScanResult(BaseModel):
    shop_id: str
    f360_order_id: int
    f360_number: str | None = None
    results: list[AdjustmentResult] = Field(default_factory=list)
    already_running: int = 0


__all__ = [
    "ADJUSTMENT_REFUSED", "ADJUSTMENT_WORKFLOW", "CANCEL_KIND", "SCAN_WORKFLOW", "REFUND_KIND", "SCAN_KIND", "AdjustmentInput", "AdjustmentKind",
    "AdjustmentResult", "AdjustmentStatus", "PlannedAdjustment", "RecordAdjustmentInput", "RetryParams",
    "ScanInput", "ScanPlan", "ScanResult", "adjustment_key", "adjustment_summary",
]
