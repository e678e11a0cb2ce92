"""Create-or-update Temporal Schedules idempotently (``tgflow schedule create`` may run any number of times)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import TypedSearchAttributes

#: Set by :func:`paused_on_create`: a schedule created now starts paused with this note.
_CREATE_PAUSED: ContextVar[str | None] = ContextVar("tgflow_create_paused", default=None)


@contextmanager
def paused_on_create(note: str | None) -> Iterator[None]:
    """Within it, :func:`ensure_schedule` creates schedules already paused with ``note`` (a disabled shop's:
    paused from the first instant, so no run starts between creating and pausing). None: as usual."""
    token = _CREATE_PAUSED.set(note)
    try:
        yield
    finally:
        _CREATE_PAUSED.reset(token)


def spread_offset(schedule_id: str, every: timedelta) -> timedelta:
    """Where in its interval a schedule fires: a stable point taken from its id. Interval schedules without
    an offset all fire on the same grid, so 50 shops' 250 schedules would start at one instant every 5
    minutes (docs/benchmarks.md, "50 shops"); spread this way, their runs are scattered over the interval
    and a given schedule keeps its own minute from one ``schedule create`` to the next."""
    seconds = int(every.total_seconds())
    if seconds <= 1:
        return timedelta(0)
    return timedelta(seconds=zlib.crc32(schedule_id.encode()) % seconds)


async def ensure_schedule(
    client: Client,
    *,
    schedule_id: str,
    workflow: Any,
    arg: Any,
    workflow_id: str,
    task_queue: str,
    every: timedelta,
    search_attributes: TypedSearchAttributes | None = None,
    note: str = "",
) -> bool:
    """Returns True when created, False when an existing schedule was updated.
    Overlap policy SKIP: a run still going makes the next one skip."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            typed_search_attributes=search_attributes or TypedSearchAttributes.empty,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=spread_offset(schedule_id, every))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    paused_note = _CREATE_PAUSED.get()
    if paused_note:
        schedule.state = ScheduleState(paused=True, note=paused_note)
    try:
        await client.create_schedule(schedule_id, schedule)
        return True
    except ScheduleAlreadyRunningError:
        def _replace(update_input: ScheduleUpdateInput) -> ScheduleUpdate:
            # keep the operator's pause state
            schedule.state = update_input.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(_replace)
        return False


SCHEDULE_ACTIONS = ("pause", "unpause", "trigger", "delete")


async def schedule_action(client: Client, schedule_id: str, action: str, note: str | None = None) -> None:
    """Pause (with a note), unpause, run now (trigger) or delete a schedule: `tgflow schedule ...` and the
    console. Raises Temporal's RPCError (NOT_FOUND when the schedule was never created)."""
    handle = client.get_schedule_handle(schedule_id)
    if action == "pause":
        await handle.pause(note=note or "paused with tgflow schedule pause")
    elif action == "unpause":
        await handle.unpause(note=note or "unpaused with tgflow schedule unpause")
    elif action == "trigger":
        await handle.trigger()
    elif action == "delete":
        await handle.delete()
    else:
        raise ValueError(f"unknown schedule action {action!r}")


async def running_scheduled_workflow(client: Client, schedule_id: str) -> str | None:
    """The workflow id of the run this schedule has going now, if any (None too when it does not exist)."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return desc.info.running_actions[0].workflow_id if desc.info.running_actions else None
