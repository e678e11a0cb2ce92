"""Floor of the order export: a bare workflow of 3 no-op activities, on the same Temporal
server, with a worker built with the same Worker settings as ``tgflow.worker.build_worker``
(its own process, pydantic data converter).

    python -m bench.bare --address 127.0.0.1:7233 --task-queue bench-bare   # the worker
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

ACTIVITIES = 3


class BareInput(BaseModel):
    order_id: int


class BareStep(BaseModel):
    order_id: int
    step: int


@activity.defn(name="bare_noop")
async def noop(step: BareStep) -> BareStep:
    return step


@workflow.defn(name="BareThreeActivities")
class BareWorkflow:
    @workflow.run
    async def run(self, params: BareInput) -> int:
        for i in range(ACTIVITIES):
            await workflow.execute_activity(noop, BareStep(order_id=params.order_id, step=i),
                                            start_to_close_timeout=timedelta(seconds=30))
        return params.order_id


async def serve(address: str, task_queue: str) -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    client = await Client.connect(address, data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The same Worker settings as tgflow.worker.build_worker.
    worker = Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[noop],
                    max_concurrent_activities=50, graceful_shutdown_timeout=timedelta(seconds=10))
    async with worker:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
