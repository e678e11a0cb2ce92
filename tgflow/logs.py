"""Logging: readable lines by default, one JSON object per line with ``--log-format json``.

What every line may carry, and what it never carries:

* Inside an activity, every record (tgflow's own modules, httpx, the SDK) gets the
  activity's ``workflow_id``, ``run_id``, ``activity_type``, ``activity_id`` and
  ``attempt``; inside a workflow, ``workflow.logger`` adds ``workflow_id``,
  ``run_id`` and ``workflow_type``. Both get ``shop``, the id of the shop whose
  task queue the work runs on (``tgflow.metrics.register_shop``). In JSON these
  are top-level fields.
* Query strings are cut from logged request URLs (``/customers?email=…`` names a
  person), and ``httpcore`` (which traces request headers, i.e. the
  ``Authorization`` header) stays at WARNING whatever the level.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from temporalio.exceptions import ApplicationError

from tgflow.clients.errors import ApiError
from tgflow.metrics import shop_of

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}

#: Dict extras of Temporal's loggers, flattened into top-level fields.
_TEMPORAL_EXTRAS = ("temporal_activity", "temporal_workflow", "temporal_update")
#: Renamed while flattening so workflow and activity lines use the same field names.
_RENAME = {"workflow_run_id": "run_id"}
#: Loggers that never go below WARNING: they trace request headers (credentials) and bodies.
_QUIET_ALWAYS = ("httpcore", "hpack", "h2")


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class TemporalContextFilter(logging.Filter):
    """Adds the running activity's ids to records logged inside it (by any logger), cuts query strings
    from httpx's request lines. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("httpx") and record.args:
            record.args = tuple(_without_query(a) for a in record.args) if isinstance(record.args, tuple) \
                else record.args
        if not hasattr(record, "temporal_activity") and not hasattr(record, "temporal_workflow"):
            try:
                from temporalio import activity

                if activity.in_activity():
                    info = activity.info()
                    record.temporal_activity = {
                        "workflow_id": info.workflow_id, "workflow_run_id": info.workflow_run_id,
                        "workflow_type": info.workflow_type, "activity_type": info.activity_type,
                        "activity_id": info.activity_id, "attempt": info.attempt,
                    }
                    _set_shop(record, info.task_queue)
            except Exception:  # logging must never fail
                pass
        for key in _TEMPORAL_EXTRAS:
            details = record.__dict__.get(key)
            if isinstance(details, dict):
                _set_shop(record, details.get("task_queue"))
        return True


def _set_shop(record: logging.LogRecord, task_queue: Any) -> None:
    """The ``shop`` field: the shop whose task queue the activity or workflow logging this runs on."""
    shop = shop_of(task_queue) if isinstance(task_queue, str) else None
    if shop and not hasattr(record, "shop"):
        record.shop = shop


def _without_query(value: Any) -> Any:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return value
    if isinstance(value, httpx.URL) and value.query:
        return str(value.copy_with(query=None)) + "?…"
    return value


class ExpectedFailureFilter(logging.Filter):
    """A failed activity whose error tgflow raised on purpose (a reason for a person, or a
    temporary API error Temporal will retry) is one line, not a traceback per attempt."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and isinstance(exc, (ApplicationError, ApiError)):
            record.msg = f"{record.getMessage()}: {exc}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ORDER_FAILURE = re.compile(r"^order (\S+?): (.*)$", re.S)
_UNKNOWN_SKU = re.compile(r"\bSKU (\S+) is unknown\b")
_PARENTHESES = re.compile(r"\s*\([^()]*\)")


def brief_reason(text: str, limit: int = 80) -> str:
    """A failure reason cut to what a person scanning a terminal needs: ``unknown SKU NOPE-404``."""
    sku = _UNKNOWN_SKU.search(text)
    if sku:
        return f"unknown SKU {sku.group(1)}"
    text = " ".join(_PARENTHESES.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class BriefFailureFilter(logging.Filter):
    """For ``tgflow dev``'s terminal: a failed activity is one short line (``order F360-10044 failed: unknown SKU
    NOPE-404 (tgflow orders show F360-10044)``) instead of a 400-character one; the full text goes to the
    ``tgflow.failures`` logger at DEBUG. Runs before :class:`ExpectedFailureFilter`."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(exc, (ApplicationError, ApiError)) or record.levelno < logging.WARNING:
            return True
        text = exc.message if isinstance(exc, ApplicationError) else str(exc)  # str() puts the type first
        order = _ORDER_FAILURE.match(text)
        if order:
            number = order.group(1)
            line = f"order {number} failed: {brief_reason(order.group(2))} (tgflow orders show {number})"
        else:
            info = record.__dict__.get("temporal_activity") or {}
            what = f"{info.get('activity_type', 'activity')} of {info.get('workflow_id', '?')}"
            line = f"{what} failed: {brief_reason(text)}"
        logging.getLogger("tgflow.failures").debug("%s: %s", line, text)
        record.msg, record.args = line, None
        record.exc_info = record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the Temporal ids as fields, any extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _TEMPORAL_EXTRAS:
            details = record.__dict__.get(key)
            if isinstance(details, dict):
                for name, value in details.items():
                    data.setdefault(_RENAME.get(name, name), _plain(value))
        for key, value in record.__dict__.items():
            if key in _STANDARD or key in _TEMPORAL_EXTRAS or key.startswith("_") or key in data:
                continue
            if key in ("activity_info", "workflow_info"):  # full info objects: too big, ids are above
                continue
            data[key] = _plain(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text", *, brief_failures: bool = False) -> None:
    """``brief_failures``: failed activities as one short line each (``tgflow dev``'s terminal)."""
    level = level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    handler = logging.StreamHandler()
    handler.addFilter(TemporalContextFilter())
    if brief_failures:
        handler.addFilter(BriefFailureFilter())
    handler.addFilter(ExpectedFailureFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
        # The ids are fields of the JSON object: keep Temporal's messages free of the appended dict.
        from temporalio import activity, workflow

        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep it for DEBUG (query strings cut by the filter).
    logging.getLogger("httpx").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    for name in _QUIET_ALWAYS:
        logging.getLogger(name).setLevel(logging.WARNING)
