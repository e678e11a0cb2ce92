"""Upgrading the order export keeps running exports replayable (docs/deployment.md, section 7).

``data/order_export_histories_two_activities.json`` holds histories recorded by the previous
``OrderExportWorkflow`` (two activities: ``export_order``, then ``record_order_result``): linked,
already linked, failed, and one still retrying its export. The current code must replay each of
them the old way (``workflow.patched`` sees no marker there), without a nondeterminism error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tgflow.workflows.order_export import OrderExportWorkflow

HISTORIES = json.loads((Path(__file__).parent / "data" / "order_export_histories_two_activities.json").read_text())


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_histories_of_the_two_activity_export_still_replay(name: str) -> None:
    replayer = Replayer(workflows=[OrderExportWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"order-export-{name}", HISTORIES[name]),
                                            raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
