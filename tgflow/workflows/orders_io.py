"""Inputs and results of the order workflows (ids, numbers, statuses and reasons only).

Kept apart from the workflow module and imported through the sandbox's
pass-through, so a sandbox built for each workflow run does not rebuild them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
    status: Literal["linked", "already_linked", "failed"]
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

    @property
    def ok(self) -> bool:
        return self.failed == 0


class OrderReconcileInput(BaseModel):
    shop_id: str
    heartbeat_timeout_seconds: float = 120.0
