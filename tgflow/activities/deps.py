"""What activities share inside one worker: settings, the status store and one client per API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from tgflow.clients.framework360 import Framework360Client
from tgflow.clients.totalgest import TotalGestClient
from tgflow.config import Settings
from tgflow.metrics import register_shop
from tgflow.store import Store

T = TypeVar("T")


class Deps:
    """Long-lived per worker, so the TotalGest token and HTTP connections are reused."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        # Metrics and log records of this shop's activities carry its id (the ``shop`` label / field).
        register_shop(settings.temporal.task_queue, settings.shop_key)
        self._tg: TotalGestClient | None = None
        self._f360: Framework360Client | None = None

    @property
    def shop_id(self) -> str:
        return self.settings.totalgest.shop_id

    @property
    def totalgest(self) -> TotalGestClient:
        if self._tg is None:
            self._tg = TotalGestClient(self.settings.totalgest)
        return self._tg

    @property
    def framework360(self) -> Framework360Client:
        if self._f360 is None:
            self._f360 = Framework360Client(self.settings.f360)
        return self._f360

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking status-store call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def aclose(self) -> None:
        for client in (self._tg, self._f360):
            if client is not None:
                await client.aclose()
        self._tg = self._f360 = None
