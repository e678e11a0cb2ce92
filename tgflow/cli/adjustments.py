"""The cancellations and refunds of an order in `tgflow orders show` / `orders retry` (Framework360 → TotalGest)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from tgflow.cli.common import console, err_console


def print_adjustments(rows: list[dict[str, Any]]) -> None:
    """The table of `orders show`: kind, refund id, status, TotalGest credit note, amount, outcome or reason."""
    if not rows:
        return
    table = Table(title="Cancellation and refunds (Framework360 → TotalGest)")
    for col in ("Kind", "Refund", "Status", "Credit note", "Amount", "Outcome / reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"done": "green", "skipped": "green", "failed": "red"}.get(r["status"], "yellow")
        table.add_row(r["kind"], str(r["refund_id"] or "—"), Text(r["status"], style=style),
                      r["tg_credit_note_number"] or "—", r["amount"] or "—",
                      Text(r["reason"] if r["status"] == "failed" else (r["outcome"] or "")))
    console.print(table)


def what(kind: str, refund_id: int | None) -> str:
    return "cancellation" if kind == "cancel" else f"refund {refund_id}"


def print_redriven(results: list[dict[str, Any]]) -> None:
    """`orders retry`: one line per re-driven cancellation/refund (on stderr, next to the parcels')."""
    for r in results:
        name = f"{what(r['kind'], r['refund_id'])} of {r['f360_number'] or r['f360_order_id']}"
        if r["status"] == "failed":
            err_console.print(f"[red]failed[/]  {name}: {r['reason']}", highlight=False, soft_wrap=True)
        elif r["status"] == "pending":
            err_console.print(f"retrying {name}", highlight=False)
        else:
            err_console.print(f"[green]{r['status']}[/]  {name}: {r['outcome']}", highlight=False, soft_wrap=True)
