"""Words shared by every front and report: how a profiler verdict reads.

They live here, not beside what measures them (core/training/profiler.py), so that the
formatter and report.md use them without importing the training side.
"""

from __future__ import annotations

#: The input profiler's verdict ("not", "moderately", "highly") as a person reads it.
VERDICT_TEXT = {
    "not": "not input-bound",
    "moderately": "moderately input-bound",
    "highly": "highly input-bound",
}
