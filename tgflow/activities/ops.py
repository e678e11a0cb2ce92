"""Activities of the operator's schedules: the daily drift report and the health check that sends alerts.

Both only read the two APIs; what they find goes to the status store (for ``tgflow status``) and, for
alerts, to the configured webhook (``activities/drift.py``, ``activities/alerts.py``). Inputs and results
(``tgflow.contracts.ops``) hold ids and counts, never customer data.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity

from tgflow.activities import alerts
from tgflow.activities.deps import Deps
from tgflow.activities.drift import build_report, summarize
from tgflow.contracts.ops import (
    DRIFT_RUN_KIND,
    DriftReportInput,
    DriftSummary,
    HealthCheckInput,
    HealthCheckResult,
)
from tgflow.store import runs
from tgflow.store.models import utcnow

#: Seconds between heartbeats of the drift report (its heartbeat timeout is a few times this).
HEARTBEAT_EVERY = 10.0


class OpsActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="drift_report")
    async def drift_report(self, params: DriftReportInput) -> DriftSummary:
        """The ``tgflow drift-report`` report, read-only, recorded with its counts and first findings."""
        store = self.deps.store
        await self.deps.db(runs.start_run, store, params.shop_id, DRIFT_RUN_KIND, params.workflow_id,
                           params.run_id, params.started_at)
        beating = asyncio.create_task(_heartbeat_until_cancelled())
        try:
            report = await build_report(self.deps.settings, store=store)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        counts, samples = summarize(report)
        await self.deps.db(runs.finish_run, store, params.shop_id, DRIFT_RUN_KIND, params.workflow_id,
                           params.run_id, "completed", params.started_at, counts, samples)
        return DriftSummary(counts=counts)

    @activity.defn(name="health_check")
    async def health_check(self, params: HealthCheckInput) -> HealthCheckResult:
        """Evaluate the alert conditions and send what changed (a second run sends nothing new)."""
        outcome = await alerts.check_and_send(self.deps.settings, self.deps.store, activity.client(), utcnow())
        if outcome["delivery_error"]:
            activity.logger.warning("alerts %s", outcome["delivery_error"])
        return HealthCheckResult(**outcome)


async def _heartbeat_until_cancelled() -> None:
    """The report streams both catalogs without a resume point; the heartbeat only says the worker lives."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY)
