"""How input-bound a run is, measured on any backend and any device, the CPU included.

Method: for every training batch the engine records how long the training loop *waited* for that
batch to be handed over (the consumer side of the input pipeline) and the full step cycle (end of
the previous step to end of this one). Input-bound % = total wait / total cycle over the profile
window. TensorFlow's profiler gets its "input-bound" figure from its step analysis, which needs a
GPU; this measurement does not, so the verdict is the same kind of number everywhere.
Thresholds follow TensorFlow's input-pipeline analyzer: < 5% not, 5-20% moderately, >= 20% highly.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from core.config import Profile
from core.events import ProfilerSummary

METHOD = (
    "consumer-side wait: time the training loop waited for each batch to be handed over, "
    "divided by the whole step cycle, summed over the profile window"
)


def verdict_for(percent: float) -> str:
    if percent < 5.0:
        return "not"
    if percent < 20.0:
        return "moderately"
    return "highly"


@dataclass
class BatchTiming:
    batch: int  # global batch number, from 1, counted over the whole run
    wait: float
    cycle: float


@dataclass
class InputProfiler:
    """Collects per-batch timings; summarizes the window [first, last] (global batch numbers)."""

    first: int
    last: int
    timings: list[BatchTiming] = field(default_factory=list)

    def record(self, batch: int, wait: float, cycle: float) -> None:
        self.timings.append(BatchTiming(batch, max(0.0, wait), max(cycle, 1e-9)))

    @property
    def window_complete(self) -> bool:
        return bool(self.timings) and self.timings[-1].batch >= self.last

    def summary(self, profile: Profile) -> ProfilerSummary | None:
        """Summary over the window, or over the batches there were if the run ended early."""
        inside = [t for t in self.timings if self.first <= t.batch <= self.last]
        complete = self.window_complete
        note = ""
        if not inside:
            # The run ended before the window: use what it had, minus the compiling first steps.
            inside = self.timings[2:] if len(self.timings) > 4 else self.timings
            note = (
                f"the run ended before batch {self.first}: measured over batches "
                f"{inside[0].batch}-{inside[-1].batch} instead"
                if inside
                else ""
            )
        elif not complete:
            note = (
                f"the run ended at batch {inside[-1].batch}, inside the window "
                f"{self.first}-{self.last}: measured over the batches it had"
            )
        if not inside:
            return None
        wait = sum(t.wait for t in inside)
        cycle = sum(t.cycle for t in inside)
        percent = 100.0 * min(1.0, wait / cycle)
        verdict = verdict_for(percent)
        details: dict[str, Any] = {
            "wait_seconds": round(wait, 6),
            "step_seconds": round(cycle, 6),
            "median_wait_ms": round(1000 * statistics.median(t.wait for t in inside), 3),
            "median_step_ms": round(1000 * statistics.median(t.cycle for t in inside), 3),
            "measured_batches": [inside[0].batch, inside[-1].batch],
        }
        if note:
            details["note"] = note
        planned = [self.first, self.last]
        # Before the window: the batches measured instead are the figure's window (so the
        # report and the fronts do not name batches that never ran); the plan is kept beside.
        reached = inside[-1].batch >= self.first
        return ProfilerSummary(
            input_bound_percent=round(percent, 2),
            verdict=verdict,
            method=METHOD,
            window=planned if reached else [inside[0].batch, inside[-1].batch],
            batches_measured=len(inside),
            complete=complete,
            advice=advice(profile, verdict),
            details=details,
            planned_window=planned,
        )


def advice(profile: Profile, verdict: str) -> list[str]:
    """What to change, in the profile's own keys."""
    if verdict == "not":
        return ["No change needed: the input pipeline keeps up with training."]
    p = profile.pipeline
    tips: list[str] = []
    if p.preprocess == "host":
        tips.append(
            'Set pipeline.preprocess = "device": standardize, resize and augment as model '
            "layers on the accelerator, and send raw uint8 32x32 batches (48x less data "
            "per image at 224x224)."
        )
        if p.num_parallel_calls != "autotune":
            tips.append(
                f"Raise pipeline.num_parallel_calls (now {p.num_parallel_calls}) or set it "
                'to "autotune".'
            )
        if not p.cache:
            tips.append(
                "Set pipeline.cache = true to keep mapped images after the first epoch "
                "(needs memory: float32 images at the input size)."
            )
    if p.prefetch != "autotune":
        tips.append(f'Set pipeline.prefetch = "autotune" (now {p.prefetch}).')
    if p.preprocess == "device":
        tips.append(
            "The host is slow to hand over batches even without per-pixel work: raise "
            "train.steps_per_execution, or train.batch_size, to cut per-step overhead."
        )
    return tips
