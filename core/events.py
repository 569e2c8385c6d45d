"""What the engine tells its fronts while a run goes on.

The engine prints nothing: it calls its listeners with these objects, from its own thread. The
headless CLI renders them with Rich, the console posts them as Textual messages, and the run's
recorder (core/storage/recorder.py) keeps the run directory from them alone, appending each one to
``events.jsonl``. Fields added later have defaults, so older ``events.jsonl`` files still read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Event:
    time: float = field(default_factory=time.time, kw_only=True)

    @property
    def type(self) -> str:
        return TYPE_OF[type(self)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass
class Status(Event):
    """A stage of the run before training starts ("loading data", "building model"...)."""

    message: str


@dataclass
class RunOpened(Event):
    """The run's directory exists and this process holds its lock: sent once, before anything
    slow, so a sweep or a watcher knows where the run lives without polling."""

    run_dir: str
    name: str
    resumed: bool
    #: What the run runs on (core.environment.describe) and which data it loaded.
    environment: dict[str, Any] = field(default_factory=dict)
    data: str = ""


@dataclass
class ModelBuilt(Event):
    """The model is built: its parameter counts and its layer table as text."""

    name: str
    params_total: int
    params_trainable: int
    params_non_trainable: int
    summary: str = ""


@dataclass
class RunStarted(Event):
    run_dir: str
    name: str
    epochs: int
    initial_epoch: int
    steps_per_epoch: int
    batch_size: int
    params_total: int
    params_trainable: int
    backend: str
    devices: list[str]
    train_images: int
    val_images: int
    test_images: int
    #: A resumed run's finished epochs (history rows), so no front reads history.csv itself.
    history: list[dict[str, Any]] = field(default_factory=list)
    #: A resumed run's input-pipeline measurement from an earlier session (the report's
    #: ``input_pipeline``: ProfilerSummary's fields), so its figure is not lost on resume.
    input_pipeline: dict[str, Any] | None = None
    #: What the system sampler cannot read here ("no NVIDIA GPU"...), said once on the device
    #: line (core/system_metrics.py); empty when every metric is read.
    system_unavailable: list[str] = field(default_factory=list)


#: Seconds between two BatchProgress events: bounded, whatever the step rate.
PROGRESS_INTERVAL = 0.25


@dataclass
class BatchProgress(Event):
    """Sent at a bounded rate (every PROGRESS_INTERVAL), not for every batch."""

    epoch: int
    step: int
    steps: int
    loss: float
    accuracy: float
    epoch_seconds: float
    eta_seconds: float


@dataclass
class EpochEnded(Event):
    epoch: int  # numbered from 1
    seconds: float
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    #: The epoch's host and GPU figures, mean and peak (core/system_metrics.SYSTEM_FIELDS);
    #: None where no sampler ran (older runs, sampling off).
    system: dict[str, float | None] | None = None


@dataclass
class ProfilerSummary(Event):
    input_bound_percent: float
    verdict: str
    method: str
    window: list[int]
    batches_measured: int
    complete: bool
    advice: list[str]
    details: dict[str, Any]
    #: The profile's window [first, last]; ``window`` is the batches the figure is about, which
    #: are others when the run ended before the window (older files: empty, ``window`` it is).
    planned_window: list[int] = field(default_factory=list)


@dataclass
class RunWarning(Event):
    code: str  # "no_gpu", "not_learning", "window_incomplete", ...
    message: str


@dataclass
class RunFinished(Event):
    status: str  # completed, stopped, failed, diverged
    message: str
    test_loss: float | None
    test_accuracy: float | None
    total_seconds: float
    #: A crash's exception class and traceback (status "failed"); empty otherwise.
    error_type: str = ""
    traceback: str = ""
    #: What stopped a "stopped" run: "user" (Ctrl+C, the console's stop key) or the signal's
    #: name ("SIGTERM", "SIGHUP", "SIGUSR1" from ``cifar-tui --stop``); it sets the exit code.
    stopped_by: str = ""


@dataclass
class Evaluated(Event):
    """The test set's prediction pass (a completed run, before RunFinished): the figures of
    core/evaluation.py, all from the same predictions, and what the pass and the per-class work
    cost. ``mistakes``: the most confident wrong predictions as class indices."""

    loss: float | None
    accuracy: float | None
    images: int
    classes: list[str]
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    mistakes: list[dict[str, Any]] = field(default_factory=list)
    predict_seconds: float = 0.0
    analysis_seconds: float = 0.0


@dataclass
class SystemSampled(Event):
    """One reading of the host and the GPUs, about once a second (core/system_metrics.py).
    Kept in ``system.jsonl``, not in ``events.jsonl``: a run sends thousands. ``elapsed``:
    seconds since sampling began; ``epoch``: the epoch training then (0 before the first).
    Host figures: this process's CPU % (100 = one core) and resident memory, the machine's CPU
    % (of all cores) and available memory; each GPU's: index, util %, mem_mb, mem_total_mb,
    power_w, temp_c. None where it cannot be read."""

    elapsed: float
    epoch: int
    cpu_percent: float | None
    rss_mb: float | None
    host_cpu_percent: float | None
    available_mb: float | None
    gpus: list[dict[str, Any]] = field(default_factory=list)


TYPE_OF: dict[type, str] = {
    Status: "status",
    RunOpened: "run_opened",
    ModelBuilt: "model_built",
    RunStarted: "run_started",
    BatchProgress: "batch_progress",
    EpochEnded: "epoch_ended",
    ProfilerSummary: "profiler_summary",
    RunWarning: "warning",
    Evaluated: "evaluated",
    RunFinished: "run_finished",
    SystemSampled: "system_sampled",
}
CLASS_OF = {name: cls for cls, name in TYPE_OF.items()}


def from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event read back from ``events.jsonl``: KeyError for a type this version does
    not know, TypeError for a field missing, unknown or of the wrong type (every reader drops
    such a line, as it does a torn one: a hand-edited file must not crash --watch)."""
    data = dict(data)
    kind = data.pop("type")
    if not isinstance(kind, str):
        raise TypeError(f"event type {kind!r}")
    cls = CLASS_OF[kind]
    hints = _hints(cls)
    for name, value in data.items():
        if name in hints and not _fits(value, hints[name]):
            raise TypeError(f"{kind}.{name} = {value!r:.60}")
    return cls(**data)


def _hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _fits(value: Any, hint: Any, depth: int = 0) -> bool:
    """Whether a JSON value has the type a field is annotated with (the annotations here use
    only JSON's types: numbers, strings, booleans, None, lists and string-keyed dicts)."""
    import types
    import typing

    if hint is Any or depth > 8:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a, depth + 1) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**63
    if hint is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return abs(value) <= 2**63  # a larger one is an OverflowError as a float
        return isinstance(value, float)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, list) and all(
            _fits(v, args[0] if args else Any, depth + 1) for v in value
        )
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _fits(v, args[1] if args else Any, depth + 1)
            for k, v in value.items()
        )
    return True
