"""core.table.Table on a terminal: a Rich table, or aligned plain text when piped or --plain."""

from __future__ import annotations

from typing import Any

from core.table import Table
from tui.fit import break_name


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


#: Settings whose short names read alike side by side ("batch" next to "batches [500, 520]"),
#: said unalike where both are shown; words, so a narrow terminal wraps them between words.
CLEAR_NAMES = {"train.batch_size": "batch size", "profiler.batches": "profiled batches"}


def _alike(a: str, b: str) -> bool:
    """ "batch" and "batches": one a stem of the other, easy to take for the same thing."""
    return a != b and (a.startswith(b) or b.startswith(a))


def short_headers(table: Table) -> dict[str, str]:
    """The settings' headers a terminal table shows: a dotted key's last part ("lr" for
    train.learning_rate, as labels say it), the whole key where two would read alike, so a
    study's table fits 100 columns without breaking a key mid-word. Names where one is a stem
    of another ("batch", "batches") take their clear names (CLEAR_NAMES) or the whole key."""
    from core.sweeps.spec import SHORT_NAMES

    settings = [c.title for c in table.columns if c.kind == "setting" and "." in c.title]
    short = {k: SHORT_NAMES.get(k.rsplit(".", 1)[-1], k.rsplit(".", 1)[-1]) for k in settings}
    others = {c.title for c in table.columns} - set(settings)
    names = list(short.values())
    chosen: dict[str, str] = {}
    for key, name in short.items():
        if names.count(name) > 1 or name in others:
            continue  # the whole key
        if any(_alike(name, other) for other in [*names, *others]):
            name = CLEAR_NAMES.get(key, key)
        if name != key:
            chosen[key] = name
    return chosen


def _broken_names(headers: list[str], rows: list[list[str]], width: int) -> list[list[str]]:
    """The rows with their longest text column's cells (a run's name) broken after separators
    to what the other columns leave of ``width``, so a terminal table never folds
    ``...-0.001-adam`` into ``...-0.`` / ``001-adam``; the other columns as Rich will need them
    (Rich keeps a header whole while it can)."""
    if not rows:
        return rows

    def need(i: int) -> int:
        return max(len(headers[i]), *(len(r[i]) for r in rows))

    widest = max(range(len(headers)), key=lambda i: max(len(r[i]) for r in rows))
    others = sum(need(i) + 1 for i in range(len(headers)) if i != widest)
    room = max(16, width - others)
    if max(len(r[widest]) for r in rows) <= room:
        return rows
    # not after "." as a path may break: in a name it is a number's point ("0.001")
    return [
        [break_name(c, room, "-_/") if i == widest else c for i, c in enumerate(r)] for r in rows
    ]


def rich_table(table: Table, title: str | None = None, width: int | None = None) -> Any:
    """``table`` for a Rich console; given the console's ``width``, a long name column is
    broken after its separators rather than folded mid-word."""
    from rich.table import Table as RichTable
    from rich.text import Text

    short = short_headers(table)
    caption = ", ".join(f"{s} = {k}" for k, s in short.items()) or None
    out = RichTable(
        title=title, title_justify="left", caption=caption, caption_justify="left",
        box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold underline",
    )  # fmt: skip
    for header, numeric in zip(table.headers(), table.numeric(), strict=True):
        # fold, not truncate: a cut-off "complet…" or "train.l…" would hide what the row says
        out.add_column(
            Text(short.get(header, header)), justify="right" if numeric else "left", overflow="fold"
        )
    headers = [short.get(h, h) for h in table.headers()]
    rows = [list(row) for row in table.cells()]
    if width:
        rows = _broken_names(headers, rows, width)
    for row in rows:
        out.add_row(*(Text(cell) for cell in row))  # "[3, 8]" is a value, not Rich markup
    return out
