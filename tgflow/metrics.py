"""tgflow's own counters and histograms, exported with Temporal's SDK metrics.

The worker installs one Prometheus-exporting ``Runtime``; everything in the
process records through its meter. Without it (CLI, tests) recording is a no-op.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_meter: MetricMeter = MetricMeter.noop

#: Durations are exported in milliseconds (the SDK's unit). The SDK's default buckets end at 10 s;
#: an import takes seconds to hours.
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    "tgflow_product_import_duration": [1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000, 10_800_000],
    #: Order completed in Framework360 -> registered in TotalGest: seconds (webhook) to a day (outage, retries).
    "tgflow_order_export_latency": [1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000, 14_400_000,
                                    86_400_000],
}


def prometheus_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    """A runtime whose SDK metrics and ours are served on http://host:port/metrics."""
    global _meter
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"{host}:{port}", histogram_bucket_overrides=HISTOGRAM_BUCKETS)))
    _meter = runtime.metric_meter
    _instrument.cache_clear()
    return runtime


@lru_cache(maxsize=None)
def _instrument(kind: str, name: str, description: str, unit: str | None):
    create = getattr(_meter, f"create_{kind}")
    return create(name, description, unit)


def count(name: str, value: int = 1, description: str = "", **attrs: str) -> None:
    if _meter is MetricMeter.noop or value <= 0:
        return
    _instrument("counter", name, description, None).add(value, {k: str(v) for k, v in attrs.items()})


def observe_seconds(name: str, seconds: float, description: str = "", **attrs: str) -> None:
    if _meter is MetricMeter.noop:
        return
    _instrument("histogram_timedelta", name, description, None).record(
        timedelta(seconds=max(seconds, 0.0)), {k: str(v) for k, v in attrs.items()}
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
