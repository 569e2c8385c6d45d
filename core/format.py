"""How numbers and events read, once for every front: the report, the command line, the console.

Plain strings only (no Rich, no Textual), so ``core`` can use them for ``report.md`` and each
front can style them as it likes (the console adds marks and colours around the same words).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.status import RunStatus
from core.words import VERDICT_TEXT

if TYPE_CHECKING:
    from core.eta import Eta
    from core.events import BatchProgress, EpochEnded, ProfilerSummary, RunFinished, RunStarted

#: A history row's columns, in the order every epoch table shows them.
EPOCH_COLUMNS = ("epoch", "seconds", "loss", "accuracy", "val_loss", "val_accuracy", "lr")


# -- numbers -----------------------------------------------------------------------------------


def fmt(value: Any, spec: str = ".4f") -> str:
    """A number, or "-" when there is none."""
    return "-" if value is None else format(value, spec)


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.25 -> "25.0%"."""
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def metric_text(name: str, value: float | None) -> str:
    """A metric for people: an accuracy as a percentage ("41.0%"), a loss as a number."""
    if value is None:
        return "-"
    return percent(value) if "accuracy" in name else f"{value:.4f}"


def percent_points(value: float | None, digits: int = 1) -> str:
    """A figure that is already a percentage: 0.83 -> "0.8%" (the input-bound share)."""
    return "-" if value is None else f"{value:.{digits}f}%"


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
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_text(eta: Eta) -> str:
    """A sweep's time left: "ETA 1:05 (3 epoch(s) left at 4.4 s/epoch)"."""
    if eta.seconds is None or eta.median_epoch_seconds is None:
        return "ETA unknown until an epoch is measured"
    return (
        f"ETA {duration(eta.seconds)} ({eta.epochs_left} epoch(s) left at "
        f"{eta.median_epoch_seconds:.1f} s/epoch{compile_text(eta)})"
    )


def compile_text(eta: Eta) -> str:
    """ ", + 6.2 s compiling for each of 2 runs": what starting the runs left costs."""
    if not eta.starts or not eta.compile_seconds:
        return ""
    return f", + {eta.compile_seconds:.1f} s compiling for each of {eta.starts} run(s)"


def epoch_eta_text(progress: BatchProgress) -> str:
    """The current epoch's time left, "ETA 0:42"; "" until the engine has measured enough
    steps to say (its eta_seconds is NaN then) and once the epoch's steps are done."""
    if progress.step >= progress.steps or not math.isfinite(progress.eta_seconds):
        return ""
    return f"ETA {duration(progress.eta_seconds)}"


def run_eta(
    epoch_seconds: Sequence[float], epochs: int, progress: BatchProgress | None = None
) -> float | None:
    """A single run's time left, from its measured epochs: the median epoch time (the first
    epoch, which compiles, left out once there are others) x the epochs not begun, plus what
    the current epoch (``progress``) has left. Without a finished epoch, the current one's
    projected length stands in; None when nothing is measured yet."""
    done = len(epoch_seconds)
    current = progress if progress is not None and progress.epoch > done else None
    current_left = None
    if current is not None and math.isfinite(current.eta_seconds):
        current_left = max(0.0, current.eta_seconds) if current.step < current.steps else 0.0
    steady = list(epoch_seconds[1:] or epoch_seconds)
    if steady:
        per_epoch = statistics.median(steady)
    elif current_left is not None:
        per_epoch = current.epoch_seconds + current_left  # type: ignore[union-attr]
    else:
        return None
    if current is None:
        return per_epoch * max(0, epochs - done)
    if current_left is None:  # the current epoch's own ETA is not known yet
        current_left = max(0.0, per_epoch - current.epoch_seconds)
    return current_left + per_epoch * max(0, epochs - current.epoch)


def run_eta_text(
    epoch_seconds: Sequence[float], epochs: int, progress: BatchProgress | None = None
) -> str:
    """ "run ETA 3:20", or "" when it cannot be said yet (see :func:`run_eta`)."""
    seconds = run_eta(epoch_seconds, epochs, progress)
    return "" if seconds is None else f"run ETA {duration(seconds)}"


# -- epochs ------------------------------------------------------------------------------------


def epoch_row(event: EpochEnded) -> dict[str, Any]:
    """An EpochEnded event as a history row (the form history.csv and the tables hold)."""
    return {key: getattr(event, key) for key in EPOCH_COLUMNS}


def epoch_cells(row: Mapping[str, Any], planned: int = 0) -> list[str]:
    """One history row as the epoch tables show it, in EPOCH_COLUMNS order."""
    return [
        f"{row['epoch']}/{planned}" if planned else str(row["epoch"]),
        fmt(row.get("seconds"), ".2f"),
        fmt(row.get("loss")),
        percent(row.get("accuracy")),
        fmt(row.get("val_loss")),
        percent(row.get("val_accuracy")),
        fmt(row.get("lr"), ".2e"),
    ]


def epoch_line(row: Mapping[str, Any], planned: int = 0) -> str:
    """One history row as one plain line: "epoch 1/3  18.13s  loss 1.5501  accuracy ..."."""
    epoch, seconds, *metrics = epoch_cells(row, planned)
    named = "  ".join(
        f"{name} {cell}" for name, cell in zip(EPOCH_COLUMNS[2:], metrics, strict=True)
    )
    return f"epoch {epoch}  {seconds}s  {named}"


# -- a run's start, its input pipeline, its end --------------------------------------------------


def device_name(name: str) -> str:
    """A device as people read it: "CPU:0". Runs recorded before the names were tidied say
    "CPU:CPU:0" (TensorFlow) or "cpu:cpu" (JAX); they read the same way now."""
    parts = name.split(":")
    if len(parts) == 3 and parts[0] == parts[1]:
        return f"{parts[1]}:{parts[2]}"
    if len(parts) == 2 and parts[0] == parts[1]:
        return parts[0].upper()
    return name


def device_text(event: RunStarted) -> str:
    """ "tensorflow on CPU:0": the backend and the devices it trains on."""
    return f"{event.backend} on {', '.join(device_name(d) for d in event.devices)}"


def device_line(event: RunStarted) -> str:
    """What a run trains with: backend, devices, size, batch, data, and where it resumed."""
    line = (
        f"{device_text(event)} · {event.params_total:,} params · batch {event.batch_size}"
        f" · {event.train_images} train images"
    )
    if event.initial_epoch:
        line += f" · resumed after epoch {event.initial_epoch}"
    if event.system_unavailable:  # said once, here (core/system_metrics.py)
        line += " · not measured: " + "; ".join(event.system_unavailable)
    return line


def run_started_line(event: RunStarted) -> str:
    """The run's first plain line: where it lives, what it trains, on what."""
    resumed = f", resuming after epoch {event.initial_epoch}" if event.initial_epoch else ""
    return (
        f"run {event.name} -> {event.run_dir}: {event.params_total:,} parameters, "
        f"{event.train_images} train / {event.val_images} val / {event.test_images} "
        f"test images, {event.steps_per_epoch} steps per epoch, {device_text(event)}{resumed}"
    )


def input_bound_text(value: float) -> str:
    return f"{percent_points(value)} input-bound"


def verdict_text(verdict: str) -> str:
    """ "not input-bound", "highly input-bound"... (the verdict itself when it is unknown)."""
    return VERDICT_TEXT.get(verdict, verdict)


def profiler_line(event: ProfilerSummary) -> str:
    """The input-pipeline measurement in one line, with its advice."""
    return (
        f"input pipeline: {input_bound_text(event.input_bound_percent)} "
        f"({verdict_text(event.verdict)}) over {event.batches_measured} batches"
        f"{measured_note(event)}; " + " ".join(event.advice)
    )


def measured_note(event: ProfilerSummary) -> str:
    """ " (batches 4-12; the run ended before its window 500-520)" when the window was not
    reached: which batches the figure is about. "" for a window measured as planned."""
    planned = event.planned_window or event.window
    measured = event.details.get("measured_batches") or event.window
    if event.complete or list(measured) == list(planned):
        return ""
    where = "before" if measured[-1] < planned[0] else "inside"
    return (
        f" (batches {measured[0]}-{measured[-1]}; the run ended {where} its window "
        f"{planned[0]}-{planned[-1]})"
    )


def report_hint(run_dir: str | None) -> str:
    """Where the report is; nothing before a run directory exists (never "None/report.md")."""
    return f"Report: {run_dir}/report.md" if run_dir else ""


def finished_line(event: RunFinished, run_dir: str | None) -> str:
    """The run's last plain line: status, why, test figures, time, where the report is."""
    test = (
        f"test accuracy {percent(event.test_accuracy)}, test loss {fmt(event.test_loss)}; "
        if event.test_accuracy is not None
        else ""
    )
    message = f": {event.message.rstrip('.')}" if event.message else ""
    return (
        f"run {event.status}{message}. {test}"
        f"{event.total_seconds:.1f} s in all. {report_hint(run_dir)}"
    ).rstrip()


def finish_text(event: RunFinished, epochs_done: int) -> str:
    """The run's end in a short sentence a front can mark and extend: "Completed in 0:34, test
    accuracy 29.0%.", "Stopped after 2 epoch(s)", "Run diverged: loss became nan"."""
    if event.status == RunStatus.STOPPED:  # "Stopped by SIGTERM (...) after 2 epoch(s)"
        why = event.message.rstrip(".") if event.message.startswith("stopped ") else "stopped"
        return f"{why[0].upper()}{why[1:]} after {epochs_done} epoch(s)"
    if event.status != RunStatus.COMPLETED:
        return f"Run {event.status}: {event.message.rstrip('.')}."
    test = (
        f", test accuracy {percent(event.test_accuracy)}" if event.test_accuracy is not None else ""
    )
    return f"Completed in {duration(event.total_seconds)}{test}."
