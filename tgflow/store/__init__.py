"""Status store (SQLModel): links, sync state, runs and cursors."""

from tgflow.store.db import Store
from tgflow.store.models import (
    Alert,
    ExportRequest,
    OrderAdjustment,
    OrderAttempt,
    OrderLink,
    ProductLink,
    SyncCursor,
    SyncRun,
    utcnow,
)

__all__ = ["Alert", "ExportRequest", "OrderAdjustment", "OrderAttempt", "OrderLink", "ProductLink", "Store", "SyncCursor", "SyncRun", "utcnow"]
