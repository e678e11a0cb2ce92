"""Workflows: deterministic and small; they pass ids, never customer data or credentials."""

from __future__ import annotations

from tgflow.workflows.products import ProductImportWorkflow

WORKFLOWS: list[type] = []
WORKFLOWS.append(ProductImportWorkflow)

from tgflow.workflows.orders import (  # noqa: E402
    ExportOrdersWorkflow,
    OrderExportWorkflow,
    OrderQueueWorkflow,
    OrderReconcileWorkflow,
)

WORKFLOWS += [OrderExportWorkflow, OrderQueueWorkflow, ExportOrdersWorkflow, OrderReconcileWorkflow]
