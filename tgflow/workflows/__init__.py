"""Workflows: deterministic and small; they pass ids, never customer data or credentials."""

from __future__ import annotations

WORKFLOWS: list[type] = []
