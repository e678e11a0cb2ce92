"""Parcels TotalGest -> Framework360: inputs and results of the shipment import and of one shipment.

Pure pydantic, no I/O: workflows, activities and use cases import it alike. Histories carry ids,
numbers, statuses and reasons only (the activities read orders and shipments themselves), never
customer data or credentials.

Workflow ids come from business keys (the helpers at the bottom):

* ``shipment-import-<shop>``: the schedule's import pass over TotalGest ``/order-changes``;
  ``shipment-import-<shop>-manual``: ``tgflow import-shipments`` (starting it again joins it).
* ``order-shipment-<shop>-<TotalGest shipment id>``: one TotalGest shipment becoming one
  Framework360 fulfillment.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

SYNC_KIND = "shipment-import"
SHIPMENT_KIND = "order-shipment"
RUN_KIND = "shipment_import"
#: First error reasons carried in results and reports (all of them are in the status store).
MAX_ERROR_SAMPLES = 20


class ShipmentImportInput(BaseModel):
    shop_id: str
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    pass_timeout_hours: float = 2.0
    heartbeat_timeout_seconds: float = 120.0
    #: Retries of one shipment's fulfillment (5xx, timeouts, lost answers) before it is recorded as failed.
    shipment_retry_for_hours: float = 24.0


class ShipmentCounts(BaseModel):
    #: Order changes read from TotalGest (an order appears once per change).
    changes_read: int = 0
    #: Changes of orders tgflow did not export (left alone).
    not_exported: int = 0
    #: Shipments that became a Framework360 fulfillment in this run.
    fulfilled: int = 0
    #: Shipments already linked to a fulfillment (read again: nothing sent).
    already_fulfilled: int = 0
    #: Shipments Framework360 refused, or that cannot be mapped: recorded for a person.
    failed: int = 0

    def add(self, other: "ShipmentCounts") -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class BeginShipmentImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime


class BeginShipmentImportResult(BaseModel):
    since: AwareDatetime | None = None
    #: Set when this run steps aside for another import of the shop (its workflow id).
    skipped_for: str | None = None


class ShipmentPassInput(BaseModel):
    shop_id: str
    since: AwareDatetime | None = None
    task_queue: str
    shipment_retry_for_hours: float = 24.0


class ShipmentPassProgress(BaseModel):
    """The pass's heartbeat: the page to resume from and the counts so far."""

    cursor: str | None = None
    counts: ShipmentCounts = Field(default_factory=ShipmentCounts)
    error_samples: list[str] = Field(default_factory=list)


class ShipmentPassResult(BaseModel):
    counts: ShipmentCounts
    error_samples: list[str] = Field(default_factory=list)


class FinishShipmentImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime
    succeeded: bool
    counts: ShipmentCounts = Field(default_factory=ShipmentCounts)
    error_samples: list[str] = Field(default_factory=list)
    failure: str | None = None


class ShipmentImportReport(BaseModel):
    shop_id: str
    status: str = "completed"  # completed | completed_with_errors | skipped
    skipped_for: str | None = None
    changes_read: int = 0
    not_exported: int = 0
    fulfilled: int = 0
    already_fulfilled: int = 0
    failed: int = 0
    error_samples: list[str] = Field(default_factory=list)
    started_at: AwareDatetime
    finished_at: AwareDatetime
    duration_seconds: float = 0.0


class ShipmentSyncInput(BaseModel):
    """One TotalGest shipment to show on its Framework360 order (ids only)."""

    shop_id: str
    tg_order_id: int
    tg_shipment_id: int
    f360_order_id: int
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    retry_for_hours: float = 24.0
    attempt_timeout_seconds: float = 90.0


class ShipmentSyncResult(BaseModel):
    tg_shipment_id: int
    #: fulfilled (sent now) | already_fulfilled (found, nothing sent) | failed (recorded for a person)
    status: str
    f360_fulfillment_id: int | None = None
    reason: str | None = None


class RecordShipmentFailureInput(BaseModel):
    shop_id: str
    tg_shipment_id: int
    tg_order_id: int
    f360_order_id: int
    reason: str
    workflow_id: str


# ---- summaries (pure: safe in workflow code; ids: ``tgflow.contracts.ids``) ----------------------------------

def shipment_summary(shop_id: str, tg_order_id: int, tg_shipment_id: int, f360_order_id: int) -> str:
    return (f"Parcel: TotalGest shipment {tg_shipment_id} of order {tg_order_id} → Framework360 order "
            f"{f360_order_id} fulfillment, shop {shop_id}")
