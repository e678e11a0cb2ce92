"""Reading TotalGest pages one ahead of the caller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """The same pages, the next one already requested while the caller works on the current one
    (one page ahead: the TotalGest round trip overlaps the store and Framework360 writes)."""
    async with contextlib.aclosing(pages):
        ahead = asyncio.ensure_future(anext(pages))
        try:
            while True:
                try:
                    page = await ahead
                except StopAsyncIteration:
                    return
                ahead = asyncio.ensure_future(anext(pages))
                yield page
        finally:
            if not ahead.done():
                ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
