"""The operator's schedules: the drift report and the health check (pure pydantic, no I/O).

The *drift report* (``DriftReportWorkflow``, ``tgflow drift-report``) only compares Framework360 and
TotalGest and records what differs; it is not the *order reconciliation* (``OrderReconcileWorkflow``,
``tgflow.contracts.orders``), which enqueues orders that are not linked.

Field names and shapes are part of running workflows' histories (the workflow and activity models) and of
``tgflow drift-report --json`` (the report models): rename or retype nothing without a replay test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

#: Workflow type names (part of every history and schedule: never change them).
DRIFT_WORKFLOW = "DriftReportWorkflow"
HEALTH_WORKFLOW = "HealthCheckWorkflow"
#: ``TgSyncKind`` of the drift report's runs (a search attribute: dashboards query it).
DRIFT_SYNC_KIND = "drift-report"
#: ``TgSyncKind`` of the health check's runs.
HEALTH_SYNC_KIND = "health-check"
#: The drift report's ``SyncRun.kind`` in the status store (stored rows carry it: never change it).
DRIFT_RUN_KIND = "drift_report"


# ---- the workflows and their activities --------------------------------------------------------------------------

class DriftReportParams(BaseModel):
    """``DriftReportWorkflow``."""

    shop_id: str


class HealthCheckParams(BaseModel):
    """``HealthCheckWorkflow``."""

    shop_id: str


class DriftReportInput(BaseModel):
    """The ``drift_report`` activity."""

    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime


class DriftSummary(BaseModel):
    #: orders_checked, products_checked, missing_in_totalgest, not_linked, products, only_in_totalgest,
    #: only_in_framework360, unmappable, drift
    counts: dict[str, int] = Field(default_factory=dict)


class HealthCheckInput(BaseModel):
    """The ``health_check`` activity."""

    shop_id: str


class HealthCheckResult(BaseModel):
    #: Keys of the conditions firing now (``failures``, ``drift``, ``schedule:<id>``).
    firing: list[str] = Field(default_factory=list)
    #: Keys whose state change was delivered by this check.
    sent: list[str] = Field(default_factory=list)
    #: Why the alerts due were not delivered (no URL set, the receiver refused), or None.
    delivery_error: str | None = None


# ---- the drift report (``tgflow drift-report --json``) -----------------------------------------------------------

class OrderDrift(BaseModel):
    order_id: int
    number: str | None = None
    #: Framework360's status column (``integrations/totalgest``): linked, error, pending, not set…
    f360_column: str | None = None
    tg_order_number: str | None = None


class FieldDiff(BaseModel):
    field: str
    framework360: str | None = None
    totalgest: str | None = None


class ProductDrift(BaseModel):
    sku: str
    f360_product_id: int | None = None
    diffs: list[FieldDiff] = Field(default_factory=list)


class DriftReport(BaseModel):
    since: datetime | None = None
    checked_at: datetime
    orders_checked: int = 0
    products_checked: int = 0
    missing_in_totalgest: list[OrderDrift] = Field(default_factory=list)
    not_linked: list[OrderDrift] = Field(default_factory=list)
    products: list[ProductDrift] = Field(default_factory=list)
    only_in_totalgest: list[str] = Field(default_factory=list)
    only_in_framework360: list[str] = Field(default_factory=list)
    #: TotalGest articles that cannot become products (the import reports them as errors); not compared.
    unmappable: int = 0
    fixed: dict[str, Any] | None = None

    @property
    def drift(self) -> int:
        return (len(self.missing_in_totalgest) + len(self.not_linked) + len(self.products)
                + len(self.only_in_totalgest) + len(self.only_in_framework360))
