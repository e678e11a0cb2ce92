"""Workflows: deterministic and small; they pass ids, never customer data or credentials."""

from __future__ import annotations

from tgflow.workflows.products import ProductImportWorkflow

WORKFLOWS: list[type] = []
WORKFLOWS.append(ProductImportWorkflow)
