"""Small helpers for profile values seen as flat dotted keys: sweeps and comparisons share them,
and the two words every TOML reader (profiles, sweeps, search, slurm) uses in its errors.

A sweep's labels, its summary table and ``--compare`` all talk about settings as
``train.learning_rate = 0.002``; writing values one way everywhere keeps a label and the table
column it explains identical.
"""

from __future__ import annotations

import difflib
from typing import Any


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 2}}`` -> ``{"train.epochs": 2}``, keeping the tree's key order."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten`; a key that is both a value and a table raises ValueError."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(dotted)
            node = child
        if parts[-1] in node and isinstance(node[parts[-1]], dict):
            raise ValueError(dotted)
        node[parts[-1]] = value
    return tree


def show_value(value: Any) -> str:
    """A setting as a person reads it: 0.002, 1e-05, sgd, true, [3, 8]; None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest exact form: 0.002, 1e-05, 0.2
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


#: Characters of a bad value an error line quotes: a hostile file's may be 100,000 of them.
SHOWN = 80


def show(value: Any) -> str:
    """A TOML value as an error message quotes it: strings in quotes, a table as "a table"; one
    line (a newline is shown as \\n), at most SHOWN characters."""
    text = _shown(value, 0)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _shown(value: Any, depth: int) -> str:
    if isinstance(value, str):
        return f'"{one_line(value)}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if depth > 3:  # nested thousands deep in a hostile file: no recursion through it
            return f"a list of {len(value)}"
        more = ", ...]" if len(value) > 20 else "]"
        return "[" + ", ".join(_shown(v, depth + 1) for v in value[:20]) + more
    return show_value(value)


def one_line(text: str) -> str:
    """``text`` on one line: unprintable characters (a newline, an escape) written as escapes."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def cut(text: str, most: int = 60) -> str:
    """A label as an error line names it: one line, at most ``most`` characters."""
    text = one_line(text)
    return text if len(text) <= most else text[: most - 3] + "..."


def suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    """' (did you mean "x"?)' for the closest of ``options``, or "" when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
