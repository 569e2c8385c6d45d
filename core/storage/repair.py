"""What a damaged ``report.json`` still says: each field checked against the shape readers use.

The recorder writes one shape of report, but a file can be cut short, edited by hand, or hold
JSON of another shape (a list, ``null``, a field of the wrong type). ``check_report`` keeps every
field of the expected shape, replaces the others with what a new run's report holds (or drops
them), and says in words what it replaced, so that every reader (``load_run``) shows the run with
the reason instead of a traceback, and ``--resume`` can rebuild the file.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from core.status import RunStatus

Check = Callable[[Any], bool]
#: A history row's fields, as report.json's "epochs" and history.csv hold them.
ROW_FIELDS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")


def is_str(value: Any) -> bool:
    return isinstance(value, str)


#: No figure a run records comes near this: a larger integer is damage (and 10**400 would be an
#: OverflowError wherever it became a float or an int64).
MAX_INT = 2**53


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT


def is_number(value: Any) -> bool:
    """A finite number within MAX_INT (JSON's NaN and Infinity, which Python reads, are not)."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= MAX_INT
    return is_int(value)


def is_count(value: Any) -> bool:
    return is_int(value) and value >= 0


def is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def dict_of(required: tuple[str, ...] = (), **checks: Check) -> Check:
    """An object holding ``required``, whose keys named in ``checks`` pass them where present."""

    def check(value: Any) -> bool:
        return (
            isinstance(value, dict)
            and all(key in value for key in required)
            and all(key not in value or ok(value[key]) for key, ok in checks.items())
        )

    return check


_NUMBER_OR_NONE = optional(is_number)
_PROFILE = dict_of(
    name=is_str,
    description=is_str,
    model=dict_of(architecture=is_str, input_size=is_int),
    data=is_dict,
    train=dict_of(epochs=is_int),
    augment=is_dict,
    pipeline=is_dict,
    profiler=is_dict,
)


def valid_profile(value: Any) -> bool:
    """A resolved profile as a run saves it, in the shape the readers use."""
    return _PROFILE(value)


_PIPELINE = dict_of(
    window=lambda w: list_of(is_int)(w) and len(w) == 2,
    input_bound_percent=_NUMBER_OR_NONE,
    verdict=is_str,
    batches_measured=is_int,
    method=is_str,
    advice=list_of(is_str),
    details=is_dict,
)
#: What report.md shows of a measurement that does not say (an older or hand-made report).
PIPELINE_DEFAULTS: dict[str, Any] = {
    "input_bound_percent": None,
    "verdict": "unknown",
    "method": "unknown",
    "window": [0, 0],
    "batches_measured": 0,
    "advice": [],
    "details": {},
}
_MODEL = dict_of(
    name=is_str, params_total=is_int, params_trainable=is_int, params_non_trainable=is_int
)
_WARNING = dict_of(required=("message",), code=is_str, message=is_str)

#: Each field a reader uses: its check, and what replaces it when absent or of the wrong shape
#: (None: the field is dropped, as a report without it is valid).
FIELDS: dict[str, tuple[Check, Callable[[], Any] | None]] = {
    "schema": (is_str, None),
    "status": (lambda v: RunStatus.parse(v) is not None, lambda: RunStatus.RUNNING),
    "profile": (_PROFILE, dict),
    "command": (is_str, str),
    "environment": (dict_of(devices=list_of(is_str)), dict),
    "model": (_MODEL, dict),
    "epochs": (lambda v: isinstance(v, list), list),
    "test": (
        optional(
            dict_of(
                loss=_NUMBER_OR_NONE,
                accuracy=_NUMBER_OR_NONE,
                classes=list_of(is_str),
                confusion=list_of(list_of(is_count)),
                per_class=lambda v: isinstance(v, dict) and all(map(_NUMBER_OR_NONE, v.values())),
            )
        ),
        lambda: None,
    ),
    "input_pipeline": (optional(_PIPELINE), lambda: None),
    "timing": (dict_of(total_seconds=_NUMBER_OR_NONE), dict),
    "warnings": (lambda v: isinstance(v, list), list),
    "resumed": (list_of(is_dict), list),
    "started": (is_str, None),
    "data": (optional(is_str), lambda: None),
    "error": (dict_of(message=is_str, type=is_str, traceback=is_str), None),
}


def kind(value: Any) -> str:
    """A JSON value's kind in words: "a list", "null", "a string"..."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object"})
    return names.get(type(value), type(value).__name__)


def check_report(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """The report ``raw`` (report.json's content) as readers can use it, and what was wrong."""
    if not isinstance(raw, dict):
        return check_report({})[0], [f"report.json holds {kind(raw)}, not a run report"]
    report, problems = dict(raw), []
    for key, (check, default) in FIELDS.items():
        if key not in report:
            if default is not None:
                report[key] = default()
            continue
        value = report[key]
        if check(value):
            continue
        shown = repr(value) if isinstance(value, str) else kind(value)
        problems.append(f"report.json's {key} is {shown}, which no report holds")
        if default is None:
            del report[key]
        else:
            report[key] = default()
    if report["input_pipeline"] is not None:
        report["input_pipeline"] = {**copy.deepcopy(PIPELINE_DEFAULTS), **report["input_pipeline"]}
    report["warnings"], dropped = _keep(report["warnings"], _WARNING)
    if dropped:
        problems.append(f"report.json: {dropped} unreadable warning(s) left out")
    report["epochs"], dropped = check_rows(report["epochs"])
    if dropped:
        problems.append(f"report.json: {dropped} unreadable epoch row(s) left out")
    return report, problems


def _keep(items: list[Any], check: Check) -> tuple[list[Any], int]:
    kept = [item for item in items if check(item)]
    return kept, len(items) - len(kept)


def valid_row(row: Any) -> bool:
    """A history row: every field present, the epoch a whole number from 1, the rest numbers or
    null (a non-finite value is written as null)."""
    return (
        isinstance(row, dict)
        and all(key in row for key in ROW_FIELDS)
        and is_int(row["epoch"])
        and row["epoch"] >= 1
        and all(_NUMBER_OR_NONE(row[key]) for key in ROW_FIELDS[1:])
    )


def check_rows(rows: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """The valid rows in rising epoch order (a repeated or out-of-order epoch is garbage), and
    how many were left out."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        if valid_row(row) and (not kept or row["epoch"] > kept[-1]["epoch"]):
            kept.append({key: row[key] for key in ROW_FIELDS})
            if _valid_system(row.get("system")):  # the epoch's system figures, where it has them
                kept[-1]["system"] = dict(row["system"])
    return kept, len(rows) - len(kept)


def _valid_system(value: Any) -> bool:
    """A row's "system": figure names (core/system_metrics.SYSTEM_FIELDS) to numbers or null."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(is_str(k) and _NUMBER_OR_NONE(v) for k, v in value.items())
    )
