"""tgflow's own counters and histograms, exported with Temporal's SDK metrics.

Every series recorded inside an activity carries a ``shop`` label: the id of the shop whose task queue the
activity came from (:func:`register_shop`), so one worker serving several shops tells them apart.

The worker installs one Prometheus-exporting ``Runtime``; everything in the
process records through its meter. Without it (CLI, tests) recording is a no-op.
"""

from __future__ import annotations

from functools import lru_cache

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_meter: MetricMeter = MetricMeter.noop

#: Prometheus naming: base units (seconds), ``_seconds`` on durations, ``_total`` on counters (added by
#: :func:`count` and :func:`observe_seconds`, so callers name the thing only). They used to be
#: ``tgflow_order_export_latency`` / ``tgflow_product_import_duration`` in milliseconds and counters without
#: ``_total`` (see docs/deployment.md, upgrade notes). The SDK's default buckets end at 10 s; an import takes
#: seconds to hours, an order export seconds (webhook) to a day (outage, retries).
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    "tgflow_product_import_duration_seconds": [1, 5, 15, 60, 300, 900, 3_600, 10_800],
    "tgflow_order_export_latency_seconds": [1, 5, 15, 60, 300, 900, 3_600, 14_400, 86_400],
}


#: Task queue -> the id of the shop whose work it carries (each shop polls its own task queue, see
#: ``tgflow.config``); filled by each shop's activity dependencies (``tgflow.activities.Deps``), read by
#: :func:`current_shop` for the ``shop`` label of every metric and the ``shop`` field of every log record.
_SHOPS: dict[str, str] = {}


def register_shop(task_queue: str, shop: str) -> None:
    """Work on ``task_queue`` is shop ``shop``'s (its ``[[shops]]`` id, or the TotalGest shop id of the
    single-shop form)."""
    _SHOPS[task_queue] = shop


def shop_of(task_queue: str | None) -> str | None:
    return _SHOPS.get(task_queue) if task_queue else None


def current_shop() -> str | None:
    """The shop of the running activity (by its task queue), None outside one or for an unknown queue."""
    try:
        from temporalio import activity

        return shop_of(activity.info().task_queue) if activity.in_activity() else None
    except Exception:  # metrics and logging must never fail
        return None


def _labels(attrs: dict[str, str]) -> dict[str, str]:
    labels = {k: str(v) for k, v in attrs.items()}
    shop = labels.get("shop") or current_shop()
    if shop:
        labels["shop"] = shop
    return labels


def counter_name(name: str) -> str:
    return name if name.endswith("_total") else f"{name}_total"


def seconds_name(name: str) -> str:
    return name if name.endswith("_seconds") else f"{name}_seconds"


def prometheus_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    """A runtime whose SDK metrics and ours are served on http://host:port/metrics.

    ``attach_service_name=False``: the SDK would add ``service_name="temporal-core-sdk"`` to every series,
    tgflow's included (one runtime, one meter, one set of global tags); it says nothing a scrape job's
    own labels do not."""
    global _meter
    runtime = Runtime(telemetry=TelemetryConfig(attach_service_name=False, metrics=PrometheusConfig(
        bind_address=f"{host}:{port}", histogram_bucket_overrides=HISTOGRAM_BUCKETS)))
    _meter = runtime.metric_meter
    _instrument.cache_clear()
    return runtime


@lru_cache(maxsize=None)
def _instrument(kind: str, name: str, description: str, unit: str | None):
    create = getattr(_meter, f"create_{kind}")
    return create(name, description, unit)


def count(name: str, value: int = 1, description: str = "", **attrs: str) -> None:
    """Add to counter ``<name>_total``."""
    if _meter is MetricMeter.noop or value <= 0:
        return
    _instrument("counter", counter_name(name), description, None).add(value, _labels(attrs))


def observe_seconds(name: str, seconds: float, description: str = "", **attrs: str) -> None:
    """Record into histogram ``<name>_seconds``, in seconds (Prometheus' base unit)."""
    if _meter is MetricMeter.noop:
        return
    _instrument("histogram_float", seconds_name(name), description, "s").record(
        max(float(seconds), 0.0), _labels(attrs)
    )


def api_call(api: str, status: int | str) -> None:
    count("tgflow_api_calls", description="HTTP calls to TotalGest / Framework360 by status", api=api, status=str(status))


def rate_limited(api: str) -> None:
    count("tgflow_rate_limit_waits", description="429 answers that made tgflow wait", api=api)


def order_outcome(outcome: str) -> None:
    count("tgflow_orders", description="Order exports by outcome (linked, already_linked, failed)", outcome=outcome)


def order_retry(activity: str) -> None:
    count("tgflow_order_retries", description="Order export activity attempts after the first", activity=activity)


def order_export_latency(seconds: float) -> None:
    observe_seconds("tgflow_order_export_latency", seconds,
                    description="Order completed in Framework360 until registered in TotalGest")
