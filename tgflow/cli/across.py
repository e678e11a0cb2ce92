"""What list and report commands cover: the shop chosen with ``--shop`` / ``TGFLOW_SHOP``, the only shop
there is, or, with several shops and none chosen, every shop (shown with a shop column / ``"shop"`` key).
Action commands keep ``load_settings()``, which exits 2 naming the shops when none is chosen."""

from __future__ import annotations

from typing import Any

from tgflow.cli.common import EXIT_CONFIG, chosen_shop, fail, load_settings
from tgflow.config import Settings


def covered_shops(**kwargs: Any) -> list[Settings]:
    """One single-shop view per shop this list or report covers (see the module docstring)."""
    from tgflow.config import ConfigError, select_shop
    from tgflow.service.across import shop_views

    settings = load_settings(one_shop=False, **kwargs)
    try:
        if chosen_shop() or len(settings.shop_ids()) <= 1:
            return [select_shop(settings, chosen_shop())]
        return shop_views(settings)
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)
