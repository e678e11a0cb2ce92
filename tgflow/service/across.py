"""Lists and reports across several shops (issue 15): each shop's rows in turn, in the order the shops are
configured, read with the one-shop store functions (every query stays in ``tgflow.store``) and tagged with
the shop's id. Rows stay keyed in the store by each shop's TotalGest shop id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tgflow.config import Settings

#: One shop's part of a list: ``(totalgest_shop_id, offset, limit)`` -> (its rows from ``offset``, at most
#: ``limit`` of them (``None``: all; 0: none), and how many it has in all).
ShopPage = Callable[[str, int, "int | None"], "tuple[list[dict[str, Any]], int]"]


def shop_views(settings: Settings) -> list[Settings]:
    """The single-shop view of every configured shop, in the file's order."""
    return [settings.for_shop(shop_id) for shop_id in settings.shop_ids()]


def page_across(views: list[Settings], page: ShopPage, *, offset: int = 0,
                limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset`` to ``offset + limit`` of the shops' lists laid end to end (shop by shop, in the order of
    ``views``), each row with its ``shop`` when there are several; and how many rows all shops have. ``limit``
    None: all of them."""
    several = len(views) > 1
    rows: list[dict[str, Any]] = []
    total = 0
    for view in views:
        local_offset = max(offset - total, 0)
        room = None if limit is None else max(limit - len(rows), 0)
        part, count = page(view.totalgest.shop_id, local_offset, room)
        rows += [{"shop": view.shop_key} | row for row in part] if several else part
        total += count
    return rows, total
