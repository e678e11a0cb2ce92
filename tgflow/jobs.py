"""The scheduled jobs of one shop: schedule id (from ``tgflow.contracts.ids``) and interval (from the settings).

A base module (like ``config``): the use cases, the CLI and the health check's activity all read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tgflow.config import Settings
from tgflow.contracts import ids


@dataclass(frozen=True)
class Job:
    #: The name used on the command line (``tgflow schedule ... --which``).
    which: str
    schedule_id: str
    every: timedelta
    title: str


def jobs(settings: Settings) -> list[Job]:
    shop = settings.totalgest.shop_id
    return [
        Job("import", ids.product_import_schedule_id(shop), timedelta(minutes=settings.products.every_minutes),
            "product import"),
        Job("reconcile", ids.order_reconcile_schedule_id(shop), timedelta(minutes=settings.orders.reconcile_every_minutes),
            "order reconciliation"),
        Job("drift", ids.drift_report_schedule_id(shop), timedelta(hours=settings.drift_every_hours),
            "drift report"),
        Job("shipments", ids.shipment_import_schedule_id(shop), timedelta(minutes=settings.shipments.every_minutes),
            "shipment import (parcels and tracking to the shop)"),
        Job("health", ids.health_check_schedule_id(shop), timedelta(minutes=settings.alerts.check_every_minutes),
            "health check and alerts"),
    ]


def job(settings: Settings, which: str) -> Job:
    return next(j for j in jobs(settings) if j.which == which)


def minutes(every: timedelta) -> str:
    """``5 min``, ``24 h``: how people say an interval."""
    total = every.total_seconds()
    if total >= 3600 and total % 3600 == 0:
        return f"{total / 3600:g} h"
    return f"{total / 60:g} min"
