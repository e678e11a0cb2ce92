"""Runs of the scheduled jobs (product import, drift report) with their counts, one row per workflow run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tgflow.store.db import Store
from tgflow.store.models import SyncRun, utcnow


def start_run(store: Store, shop_id: str, kind: str, workflow_id: str, run_id: str, started_at: datetime) -> None:
    """Record a running job once per workflow run (safe to call again)."""
    def work(s: Session) -> None:
        row = s.exec(select(SyncRun).where(SyncRun.run_id == run_id)).first()
        if row is None:
            s.add(SyncRun(shop_id=shop_id, kind=kind, workflow_id=workflow_id, run_id=run_id,
                          status="running", started_at=started_at))

    store.run(work)


def finish_run(store: Store, shop_id: str, kind: str, workflow_id: str, run_id: str, status: str,
               started_at: datetime, counts: Mapping[str, Any], errors: list[Any]) -> None:
    """Close the run's row (creating it if ``start_run`` never got through); running it twice keeps one row."""
    def work(s: Session) -> None:
        row = s.exec(select(SyncRun).where(SyncRun.run_id == run_id)).first()
        if row is None:
            row = SyncRun(shop_id=shop_id, kind=kind, workflow_id=workflow_id, run_id=run_id,
                          started_at=started_at)
        row.status = status
        row.finished_at = utcnow()
        row.counts_json = json.dumps(dict(counts), default=str)
        row.errors_json = json.dumps(errors, default=str)
        s.add(row)

    store.run(work)


def last_runs(store: Store, shop_id: str, kind: str, limit: int = 10) -> list[SyncRun]:
    with store.session() as s:
        return list(s.exec(select(SyncRun).where(SyncRun.shop_id == shop_id, SyncRun.kind == kind)
                           .order_by(col(SyncRun.started_at).desc()).limit(limit)))
