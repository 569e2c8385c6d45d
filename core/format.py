"""How numbers read, once for every front: the report, the command line and the console.

Plain strings only (no Rich, no Textual), so ``core`` can use them for ``report.md`` and each
front can style them as it likes.
"""

from __future__ import annotations

from typing import Any

#: A history row's columns, in the order every epoch table shows them.
EPOCH_COLUMNS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")


def fmt(value: Any, spec: str = ".4f") -> str:
    """A number, or "-" when there is none."""
    return "-" if value is None else format(value, spec)


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.25 -> "25.0%"."""
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def params_text(params: int | None) -> str:
    return "-" if params is None else f"{params:,}"


def short_count(count: int | None) -> str:
    """48.9M, 553k: parameter counts that fit a narrow list."""
    if count is None:
        return "-"
    if count >= 1_000_000:
        return f"{count / 1e6:.1f}M"
    if count >= 1_000:
        return f"{count / 1e3:.0f}k"
    return str(count)


def duration(seconds: float | None) -> str:
    """A clock reading, as Rich's progress bars show time: "0:42", "1:05", "2:03:04"."""
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def epoch_cells(row: dict[str, Any], planned: int = 0) -> list[str]:
    """One history row as the epoch tables show it, in EPOCH_COLUMNS order."""
    return [
        f"{row['epoch']}/{planned}" if planned else str(row["epoch"]),
        fmt(row.get("seconds"), ".2f"),
        fmt(row.get("loss")),
        fmt(row.get("accuracy")),
        fmt(row.get("val_loss")),
        fmt(row.get("val_accuracy")),
        fmt(row.get("lr"), ".2e"),
    ]
