"""core.table.Table on a terminal: a Rich table, or aligned plain text when piped or --plain."""

from __future__ import annotations

from typing import Any

from core.table import Table


def plain_text(table: Table, title: str | None = None) -> str:
    """Columns padded with spaces, numbers right-aligned; no colour, no box characters."""
    headers = table.headers()
    cells = table.cells()
    numeric = table.numeric()
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def rich_table(table: Table, title: str | None = None) -> Any:
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(title=title, title_justify="left")
    for header, numeric in zip(table.headers(), table.numeric(), strict=True):
        # fold, not truncate: a cut-off "complet…" or "train.l…" would hide what the row says
        out.add_column(Text(header), justify="right" if numeric else "left", overflow="fold")
    for row in table.cells():
        out.add_row(*(Text(cell) for cell in row))  # "[3, 8]" is a value, not Rich markup
    return out
