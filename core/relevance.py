"""Which profile keys a run actually uses, given its other settings.

Every profile holds every key, but some only matter beside others: ``data.synthetic_*`` for
synthetic data, ``data.path`` for a folder, ``train.momentum`` for SGD, ``train.reduce_lr.*``
when it is enabled. A comparison does not list a key as "differing" where it changes nothing,
and a study samples such a key only where it applies (core/sweeps/search.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A key (or a prefix of keys, ending in "." or "_") -> (its switch, the values where it applies)
CONDITIONS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "data.synthetic_": ("data.source", ("synthetic",)),
    "data.path": ("data.source", ("folder",)),
    "train.momentum": ("train.optimizer", ("sgd",)),
    "train.reduce_lr.": ("train.reduce_lr.enabled", (True,)),
}


def condition_of(key: str) -> tuple[str, tuple[Any, ...]] | None:
    """(the key ``key`` depends on, where it applies), or None when it always applies."""
    for pattern, condition in CONDITIONS.items():
        if key == condition[0]:
            continue  # the switch itself always applies
        if key == pattern or (pattern[-1] in "._" and key.startswith(pattern)):
            return condition
    return None


def applies(key: str, flat: Mapping[str, Any]) -> bool:
    """Whether ``key`` changes anything in a run whose flat dotted settings are ``flat`` (a key
    whose switch is missing from ``flat`` counts as applying)."""
    condition = condition_of(key)
    if condition is None:
        return True
    switch, values = condition
    return switch not in flat or flat[switch] in values
