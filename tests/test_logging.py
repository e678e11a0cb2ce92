"""`tgflow worker --log-format json`: one JSON object per line, Temporal ids as fields, never a secret.

The worker runs as a real process at DEBUG (the most talkative level) against simulators that
use distinctive credentials, so a leak anywhere (settings dumps, request headers, httpcore
traces) shows up as a plain substring of its stderr.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from tests.test_metrics import IMPORT_TIMEOUT, WorkerProcess
from tgflow.config import Settings
from tgflow.service.products import start_import
from tgflow.sim.server import ServerThread

TG_PASSWORD = "tgpw-Q7f3-Kx91-zzLog"
F360_API_KEY = "f360key-M4p2-Wq88-zzLog"
WEBHOOK_SECRET = "whsec-R5t6-Yu77-0123456789-zzLog"
CUSTOMER_EMAIL = "jane.doe.logtest@example.com"


@pytest.fixture
def secret_sims():
    """Both simulators, accepting only the distinctive credentials above."""
    from tgflow.sim.framework360 import Framework360Sim
    from tgflow.sim.framework360 import create_app as f360_app
    from tgflow.sim.totalgest import TotalGestSim
    from tgflow.sim.totalgest import create_app as tg_app

    tg = TotalGestSim(articles=120, seed=3, password=TG_PASSWORD)
    f360 = Framework360Sim(orders=3, seed=3, api_key=F360_API_KEY)
    with ServerThread(tg_app(tg)) as tg_server, ServerThread(f360_app(f360)) as f360_server:
        yield tg, tg_server.url + "/api/v1", f360, f360_server.url + "/api/v1"
    f360.close()


def with_secrets(settings: Settings, tg_url: str, f360_url: str) -> Settings:
    data = settings.model_dump()
    data["totalgest"].update(endpoint=tg_url, password=TG_PASSWORD)
    data["f360"].update(base_url=f360_url, api_key=F360_API_KEY, webhook_secret=WEBHOOK_SECRET)
    return Settings.model_validate(data)


async def test_json_logs_carry_workflow_ids_and_never_a_secret(client, settings, tmp_path, secret_sims):
    tg, tg_url, f360, f360_url = secret_sims
    settings = with_secrets(settings, tg_url, f360_url)
    # One bad article (a logged, recorded error) and a 5xx burst (a retried activity, logged by the SDK).
    tg.touch_articles(["ART-00002"], vat_rate="13.37")
    with WorkerProcess(settings, tmp_path, "--log-format", "json", "--log-level", "DEBUG") as worker:
        tg.set_faults(rate_limit_burst=1, retry_after_seconds=1)
        report = await asyncio.wait_for(start_import(client, settings, wait=True), IMPORT_TIMEOUT)
        worker.stop()
    assert report.created == 119 and report.errors == 1 and len(f360.products()) == 119
    text = worker.log_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 30, text  # (over 150 while each product's status column took a PUT of its own)

    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line[:300]!r}")
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert {r["level"] for r in records} >= {"debug", "info"}

    # Temporal's activity logger and every other logger inside an activity (httpx, tgflow's modules)
    # carry the workflow and activity ids as fields; the message is not cluttered with a dict.
    in_activity = [r for r in records if r.get("activity_type") == "product_import_pass"]
    assert in_activity, "no line carries the activity type"
    assert all(r["workflow_id"] == "product-import-1001-manual" and r.get("run_id") for r in in_activity)
    assert {r["logger"] for r in in_activity} >= {"temporalio.activity", "httpx"}
    # ... and the shop whose task queue the work runs on (the single-shop form: its TotalGest shop id), as do the
    # workflows' own lines.
    assert all(r.get("shop") == "1001" for r in in_activity)
    in_workflow = [r for r in records if r["logger"] == "temporalio.workflow"]
    assert all(r.get("shop") == "1001" for r in in_workflow)
    # The product writes (status column included, in the batch items) are logged by httpx inside the activity.
    batches = [r for r in in_activity if r["message"].startswith("HTTP Request: POST")
               and "/products/batch" in r["message"]]
    assert len(batches) >= 2, len(batches)  # 119 products: ≥ 2 calls of ≤ 100
    assert not any("{'activity_id'" in r["message"] for r in records if r["logger"] == "temporalio.activity")
    # httpcore traces request headers: it never logs, whatever the level.
    assert not any(r["logger"].startswith("httpcore") for r in records)

    issued_tokens = list(tg._tokens)
    assert issued_tokens, "the worker never logged in"
    for secret in (TG_PASSWORD, F360_API_KEY, WEBHOOK_SECRET, *issued_tokens):
        assert secret not in text, "a secret was logged"
    assert "Bearer" not in text and "authorization" not in text.lower()


async def test_logged_request_urls_drop_query_strings(settings, secret_sims, capsys):
    """`GET /customers?email=…` must not put a customer's e-mail address into the logs."""
    from tgflow.clients.totalgest import TotalGestClient
    from tgflow.logs import setup_logging

    tg, tg_url, _, f360_url = secret_sims
    settings = with_secrets(settings, tg_url, f360_url)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        setup_logging("DEBUG", "json")
        root.handlers[0].setStream(stream)
        async with TotalGestClient(settings.totalgest) as api:
            assert await api.find_customers(CUSTOMER_EMAIL) == []
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        from temporalio import activity, workflow

        activity.logger.activity_info_on_message = True
        workflow.logger.workflow_info_on_message = True
    out = stream.getvalue()
    requests = [json.loads(line) for line in out.splitlines() if "HTTP Request" in line]
    assert any("/customers?…" in r["message"] for r in requests), out
    assert CUSTOMER_EMAIL not in out and "jane.doe" not in out
    assert TG_PASSWORD not in out


def test_brief_failures_make_a_failed_order_one_short_line_with_details_at_debug():
    """`tgflow dev`'s terminal: one short line per failed order, the full reason only at DEBUG."""
    from temporalio import activity
    from temporalio.exceptions import ApplicationError

    from tgflow.logs import setup_logging

    reason = ("order F360-10044: TotalGest refused the order: line 1 (SKU NOPE-404, 'Tyre 29x2.4'): SKU NOPE-404 "
              "is unknown in TotalGest (create the article or fix the SKU in Framework360)")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        outputs = []
        for level in ("WARNING", "DEBUG"):
            stream = io.StringIO()
            setup_logging(level, brief_failures=True)
            root.handlers[0].setStream(stream)
            try:
                raise ApplicationError(reason, type="OrderNotExportable", non_retryable=True)
            except ApplicationError:
                activity.logger.logger.warning("Completing activity as failed ({'activity_id': '1', "
                                               "'activity_type': 'export_order', 'workflow_id': "
                                               "'order-export-1001-44'})", exc_info=True)
            outputs.append(stream.getvalue())
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    warning, debug = outputs
    lines = warning.strip().splitlines()
    assert len(lines) == 1, warning
    assert lines[0].endswith("order F360-10044 failed: unknown SKU NOPE-404 (tgflow orders show F360-10044)")
    assert len(lines[0]) < 150 and "activity_id" not in lines[0] and "Traceback" not in warning
    assert "DEBUG" in debug and reason in debug  # the details, for whoever asks for them
