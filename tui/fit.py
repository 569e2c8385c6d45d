"""Text made to fit a width without a word cut short: a long name broken after its separators
(over lines, whole), a description or a label shortened at a word or a separator, with "…"."""

from __future__ import annotations

import textwrap

#: Where a name or a path may break: after these.
SEPARATORS = "-_./"


def _break_at(text: str, width: int, marks: str) -> int:
    """Where ``text`` breaks to keep at most ``width`` characters: after the last of ``marks``
    in them, or at ``width`` where there is none."""
    cut = max(text.rfind(mark, 0, width) for mark in marks) + 1
    return cut if cut > 0 else width


def break_name(name: str, width: int, marks: str = SEPARATORS) -> str:
    """``name`` in lines of at most ``width``, each broken after a separator where it has one
    ("smoke-learning-rates-" / "from-...")."""
    if width < 1:
        return name
    lines: list[str] = []
    rest = name
    while len(rest) > width:
        cut = _break_at(rest, width, marks)
        lines.append(rest[:cut])
        rest = rest[cut:]
    return "\n".join([*lines, rest])


def shorten(text: str, width: int) -> str:
    """``text`` in ``width`` columns: whole, or its first words and "…"."""
    if len(text) <= width:
        return text
    if width < 2:
        return "…"[:width]
    return textwrap.shorten(text, width, placeholder="…") or text[: width - 1] + "…"


def shorten_name(name: str, width: int, marks: str = SEPARATORS) -> str:
    """``name`` in ``width`` columns: whole, or up to a separator and "…"."""
    if len(name) <= width:
        return name
    if width < 2:
        return "…"[:width]
    return name[: _break_at(name, width - 1, marks)] + "…"
