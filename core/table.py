"""A small table of raw values with typed columns, exported as Markdown and CSV.

The sweep summary and ``--compare`` keep raw numbers (CSV gets them unrounded, for scripts) and
format them in one place (Markdown and the terminal get the same rounding everywhere).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from core.values import show_value

#: How each kind of number is written for people.
FORMATS = {"seconds": ".2f", "accuracy": ".4f", "loss": ".4f", "percent": ".1f", "count": ","}
# Accuracy reads as a percentage for people everywhere ("29.0%", differences in points); CSV
# and JSON keep the raw fraction.
NUMERIC_KINDS = (*FORMATS, "number")


def metric_kind(name: str) -> str:
    """A metric column's kind by its name: only an accuracy reads as a percentage (a study's
    objective may be val_loss, which must not print as "123.4%")."""
    return "accuracy" if "accuracy" in name else "loss"


@dataclass(frozen=True)
class Column:
    title: str  # what a person reads: Markdown and terminal headers
    key: str  # the CSV header
    kind: str = "text"  # text | setting | number | seconds | accuracy | loss | percent | count
    csv_only: bool = False  # long machine columns (paths) stay out of the readable tables

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


def format_cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and kind == "accuracy":
        return f"{value * 100:.1f}%"
    if number and kind in FORMATS:
        return format(value, FORMATS[kind])
    if kind in ("setting", "number"):
        return show_value(value)
    return str(value)


def format_delta(a: Any, b: Any, kind: str) -> str:
    """``b - a`` with its sign, in the column's format; "" when either is not a number."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numbers:
        return ""
    if kind == "accuracy":
        return f"{(b - a) * 100:+.1f} pts"
    spec = FORMATS.get(kind, "g")
    return format(b - a, "+" + spec)


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def shown_columns(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if not c.csv_only]

    def headers(self) -> list[str]:
        return [self.columns[i].title for i in self.shown_columns]

    def cells(self) -> list[list[str]]:
        """Every row formatted for people, machine-only columns left out."""
        return [
            [format_cell(row[i], self.columns[i].kind) for i in self.shown_columns]
            for row in self.rows
        ]

    def numeric(self) -> list[bool]:
        return [self.columns[i].numeric for i in self.shown_columns]

    def to_markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [
            "| " + " | ".join(cell(h) for h in self.headers()) + " |",
            "| " + " | ".join("---:" if n else "---" for n in self.numeric()) + " |",
        ]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.cells()]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """Raw values: numbers unrounded, missing values empty, settings as people write them."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            out = []
            for value, column in zip(row, self.columns, strict=True):
                if value is None:
                    out.append("")
                elif column.kind == "setting":
                    out.append(show_value(value))
                elif isinstance(value, float):
                    out.append(repr(value))
                else:
                    out.append(str(value))
            writer.writerow(out)
        return buf.getvalue()
