"""Running workflows keep replaying: histories recorded from earlier releases replay with today's code.

``data/histories/*.json`` are real histories from the real Temporal dev server, recorded by
``data/record_histories.py`` (see its docstring) from the code before the restructuring of issue 12
and before failed exports became failed workflows: every workflow type the worker registers, linked,
failed, still retrying, a queue with a backlog, a bulk export, a product import mid-pass and completed,
the drift report, the health check. ``*_failing_workflow.json`` were recorded after failed exports became
failed workflows (the ``failed-export-fails-workflow`` patch). The current workflows (``tgflow.worker.WORKFLOWS``) must replay
each of them without a non-determinism error; a changed workflow keeps old histories replaying with
``workflow.patched`` (docs/deployment.md, upgrades).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tgflow.sim import DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET, DEMO_TG_PASSWORD
from tgflow.worker import WORKFLOWS

FOLDER = Path(__file__).parent / "data" / "histories"
FILES = sorted(FOLDER.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    start = data["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(start.get("workflowId") or path.stem, data)


def workflow_type(path: Path) -> str:
    return json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recorded_history_replays_with_the_current_workflows(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_every_registered_workflow_type_has_recorded_histories() -> None:
    recorded = {workflow_type(p) for p in FILES}
    registered = {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}
    assert registered <= recorded, f"no recorded history for {sorted(registered - recorded)}: run record_histories.py"
    # the states the issue names: running, retrying, failed, a backlog, mid-pass
    names = {p.stem for p in FILES}
    assert {"export_linked", "export_failed_unknown_sku", "export_retrying_running", "queue_backlog_running",
            "product_import_mid_pass", "product_import_completed"} <= names


@workflow.defn(name="OrderExportWorkflow", sandboxed=False)  # this test module imports the worker
class _ChangedExport:
    """Not the real workflow: a release that waits before exporting (an incompatible change)."""

    @workflow.run
    async def run(self, params: dict) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_a_changed_workflow_fails_the_replay() -> None:
    """The replay test catches a non-deterministic change (so a green run above means something)."""
    replayer = Replayer(workflows=[_ChangedExport], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load(FOLDER / "export_linked.json"), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def test_recorded_histories_hold_no_credentials_or_customer_data() -> None:
    """As tests/chaos/test_secrets_and_pii.py scans live histories (the recorder also checked each order's
    name, street and phone before writing)."""
    for path in FILES:
        text = path.read_text()
        decoded = "\n".join(base64.b64decode(m).decode("utf-8", "ignore")
                            for m in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', text))
        for secret in (DEMO_TG_PASSWORD, DEMO_F360_API_KEY, DEMO_F360_WEBHOOK_SECRET):
            assert secret not in text and secret not in decoded, f"{path.name} holds a credential"
        assert not re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text + decoded), f"{path.name} holds an e-mail address"
        for key in ('"email"', '"address_1"', '"first_name"', '"last_name"', '"phone"'):
            assert key not in decoded, f"{path.name} holds customer fields ({key})"
