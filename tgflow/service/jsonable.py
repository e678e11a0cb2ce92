"""How tgflow writes what ``json`` cannot by itself, the same in ``--json`` output and the console's ``/api``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def json_value(value: Any) -> Any:
    """Times as ISO 8601 (``2026-11-30T15:05:41+00:00``), money as an exact string, enums as their value,
    pydantic models as their JSON form."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)
