"""One row per measurement: value, the floor measured in the same run, ratio, target, met."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Row:
    bench: str
    measurement: str
    value: float | None
    unit: str
    floor: float | None = None
    #: "le": value/floor (or value) must be ≤ target; "ge": ≥ target; None: informative only.
    target: float | None = None
    direction: str | None = None
    #: The target applies to the ratio (value / floor) when True, else to the value itself.
    target_on_ratio: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def met(self) -> bool | None:
        if self.target is None or self.direction is None:
            return None
        subject = self.ratio if self.target_on_ratio else self.value
        if subject is None:
            return None  # not measured: the note says why
        return subject <= self.target if self.direction == "le" else subject >= self.target

    @property
    def target_text(self) -> str:
        if self.target is None or self.direction is None:
            return "-"
        op = "≤" if self.direction == "le" else "≥"
        if self.target == 0 and self.direction == "le" and not self.target_on_ratio:
            return "= 0"
        if self.target_on_ratio:
            return f"ratio {op} {self.target:g}×"
        return f"{op} {_num(self.target)} {self.unit}".rstrip()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(ratio=self.ratio, met=self.met, target_text=self.target_text)
        return out


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cells(row: Row) -> list[str]:
    unit = f" {row.unit}" if row.unit else ""
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    return [row.bench, row.measurement, f"{_num(row.value)}{unit}",
            f"{_num(row.floor)}{unit}" if row.floor is not None else "-",
            f"{row.ratio:.2f}×" if row.ratio is not None else "-", row.target_text, met]


HEADER = ["bench", "measurement", "value", "floor (same run)", "ratio", "target", "met"]


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(row)) + " |")
    notes = [f"- {row.bench} / {row.measurement}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tgflow benchmarks", show_lines=False)
    for name in HEADER:
        table.add_column(name, justify="right" if name in ("value", "floor (same run)", "ratio") else "left")
    for row in rows:
        c = cells(row)
        c[-1] = {"yes": "[green]yes[/]", "NO": "[red]NO[/]"}.get(c[-1], c[-1])
        table.add_row(*c)
    console = Console(width=200)
    console.print(table)
    for row in rows:
        if row.note:
            console.print(f"  {row.bench} / {row.measurement}: {row.note}", highlight=False, soft_wrap=True)
