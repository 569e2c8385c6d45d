"""Small helpers for profile values seen as flat dotted keys: sweeps and comparisons share them.

A sweep's labels, its summary table and ``--compare`` all talk about settings as
``train.learning_rate = 0.002``; writing values one way everywhere keeps a label and the table
column it explains identical.
"""

from __future__ import annotations

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
