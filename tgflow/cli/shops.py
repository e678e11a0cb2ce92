"""`tgflow shops`: the shops this deployment serves (``[[shops]]``, or the one shop of the single-shop form)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import typer

from tgflow.cli.common import EXIT_UNAVAILABLE, console, emit_json, fail, fit_table, load_settings, run


def _host(url: str) -> str:
    """A table shows the host (the URL is in --json): an 80-column line has no room for ``/api/v1``."""
    return urlsplit(url).netloc or url or "—"


def _schedules(row: dict[str, Any]) -> str:
    s = row["schedules"]
    if s is None:
        return "?"
    if not s["created"]:
        return "none"
    text = f"{s['created']}/{s['total']}"
    if s["paused"]:
        text += f", {len(s['paused'])} paused"
    return text


def shops(json_output: bool = typer.Option(False, "--json", help="Print the shops as JSON.")) -> None:
    """List the shops this deployment serves: id (what `tgflow --shop ID …` and TGFLOW_SHOP take), TotalGest shop
    id and host, Framework360 host (--json: the URLs and each shop's task queue), enabled, and how many of its schedules exist and are paused (when Temporal
    answers; exit 3 when it does not, the shops listed all the same)."""
    from tgflow.service.shops import shops_report

    settings = load_settings(require_shop=False, one_shop=False)
    data = run(shops_report(settings))
    if json_output:
        emit_json(data)
    else:
        rows = [[r["id"], r["totalgest_shop_id"] or "—", _host(r["totalgest_url"]), _host(r["framework360_url"]),
                 "yes" if r["enabled"] else "no", _schedules(r)] for r in data["shops"]]
        console.print(fit_table(f"Shops ({len(rows)})", ["Shop", "TG shop", "TotalGest", "Framework360", "Enabled",
                                                          "Schedules"], rows, flexible=3, caps={2: 40}))
        missing = [r["id"] for r in data["shops"] if r["schedules"] is not None and r["schedules"]["missing"]]
        if missing:
            console.print(f"schedules missing for {', '.join(missing)}: `tgflow --shop {missing[0]} schedule create "
                          "--which all`", highlight=False, soft_wrap=True)
    if not data["temporal"]["ok"]:
        fail(data["temporal"]["message"], EXIT_UNAVAILABLE)
