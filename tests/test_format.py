"""``core.format`` (the words every front shows) and ``core.dispatch`` (how fronts take events).

No training, no Textual app: plain functions and small consumers, fed fixed events.
"""

from __future__ import annotations

import io

import pytest
from test_tui_helpers import EPOCHS

from core import format as f
from core.dispatch import EventConsumer, dispatch, unknown_handlers
from core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    ProfilerSummary,
    RunFinished,
    RunOpened,
    RunStarted,
    RunWarning,
    Status,
)
from core.sweeps.sweepdir import Eta
from tui.cli.render import LiveRenderer, PlainRenderer
from tui.console.state import RunState


def started(**changes: object) -> RunStarted:
    values: dict = {
        "run_dir": "runs/20260101-120000-smoke",
        "name": "smoke",
        "epochs": 3,
        "initial_epoch": 0,
        "steps_per_epoch": 10,
        "batch_size": 50,
        "params_total": 552874,
        "params_trainable": 551722,
        "backend": "tensorflow",
        "devices": ["CPU:CPU:0"],
        "train_images": 500,
        "val_images": 100,
        "test_images": 100,
        "time": 0,
    }
    return RunStarted(**(values | changes))


def profiled(**details: str) -> ProfilerSummary:
    return ProfilerSummary(
        input_bound_percent=23.456,
        verdict="highly",
        method="wait",
        window=[3, 8],
        batches_measured=6,
        complete=True,
        advice=["Cache the dataset.", "Prefetch more."],
        details=dict(details),
        time=0,
    )


def finished(status: str = "completed", message: str = "", accuracy: float | None = 0.29):
    loss = None if accuracy is None else 4.5539813
    return RunFinished(status, message, loss, accuracy, 65.4, time=0)


# -- numbers -----------------------------------------------------------------------------------


def test_numbers() -> None:
    assert (f.fmt(None), f.fmt(0.123456), f.fmt(0.001, ".2e")) == ("-", "0.1235", "1.00e-03")
    assert (f.percent(None), f.percent(0.29), f.percent(0.2345, 0)) == ("-", "29.0%", "23%")
    assert (f.percent_points(None), f.percent_points(0.83), f.percent_points(23.5, 0)) == (
        "-",
        "0.8%",
        "24%",
    )
    assert (f.params_text(None), f.params_text(552874)) == ("-", "552,874")
    assert [f.short_count(n) for n in (None, 999, 552874, 48_900_000)] == [
        "-",
        "999",
        "553k",
        "48.9M",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (-3, "0:00"), (0.4, "0:00"), (42, "0:42"), (59.6, "1:00"), (65, "1:05"),
     (3599, "59:59"), (7384, "2:03:04")],
)  # fmt: skip
def test_duration_is_a_clock(seconds: float | None, text: str) -> None:
    assert f.duration(seconds) == text


def test_eta_text() -> None:
    assert f.eta_text(Eta(None, 3, None)) == "ETA unknown until an epoch is measured"
    assert f.eta_text(Eta(65.2, 3, 4.41)) == "ETA 1:05 (3 epoch(s) left at 4.4 s/epoch)"


# -- epochs --------------------------------------------------------------------------------------


def test_epoch_row_cells_and_line() -> None:
    event = EpochEnded(**EPOCHS[0], time=0)
    row = f.epoch_row(event)
    assert row == EPOCHS[0] and list(row) == list(f.EPOCH_COLUMNS)
    cells = ["1/3", "18.13", "1.5501", "50.4%", "7.4219", "6.0%", "1.00e-03"]
    assert f.epoch_cells(row, 3) == cells
    assert f.epoch_cells(row)[0] == "1"
    assert f.epoch_cells({"epoch": 2})[1:] == ["-"] * 6  # a row with no figures yet
    assert f.epoch_line(row, 3) == (
        "epoch 1/3  18.13s  loss 1.5501  accuracy 50.4%  val_loss 7.4219  "
        "val_accuracy 6.0%  lr 1.00e-03"
    )


# -- a run's start, its input pipeline, its end --------------------------------------------------


def test_start_lines() -> None:
    assert (
        f.device_text(started(devices=["gpu:H200", "gpu:H200"]))
        == "tensorflow on gpu:H200, gpu:H200"
    )
    assert f.device_line(started()) == (
        "tensorflow on CPU:0 · 552,874 params · batch 50 · 500 train images"
    )
    assert f.device_line(started(initial_epoch=2)).endswith(" · resumed after epoch 2")
    assert f.run_started_line(started(backend="jax", devices=["cpu:cpu"])) == (
        "run smoke -> runs/20260101-120000-smoke: 552,874 parameters, 500 train / 100 val / "
        "100 test images, 10 steps per epoch, jax on CPU"
    )
    assert f.run_started_line(started(initial_epoch=2)).endswith(", resuming after epoch 2")


def test_profiler_line() -> None:
    assert f.profiler_line(profiled()) == (
        "input pipeline: 23.5% input-bound (highly input-bound) over 6 batches; "
        "Cache the dataset. Prefetch more."
    )
    assert f.verdict_text("unheard-of") == "unheard-of"


def test_finish_lines() -> None:
    where = "runs/x"
    assert f.finished_line(finished(), where) == (
        "run completed. test accuracy 29.0%, test loss 4.5540; 65.4 s in all. "
        "Report: runs/x/report.md"
    )
    assert f.finished_line(finished("diverged", "loss became nan.", None), where) == (
        "run diverged: loss became nan. 65.4 s in all. Report: runs/x/report.md"
    )
    assert f.finish_text(finished(), 3) == "Completed in 1:05, test accuracy 29.0%."
    assert f.finish_text(finished(accuracy=None), 3) == "Completed in 1:05."
    assert f.finish_text(finished("stopped", "stopped by the user", None), 2) == (
        "Stopped by the user after 2 epoch(s)"
    )
    assert f.finish_text(finished("stopped", "", None), 2) == "Stopped after 2 epoch(s)"
    assert f.finish_text(finished("failed", "out of memory", None), 0) == (
        "Run failed: out of memory."
    )
    assert f.finish_text(finished("pruned", "pruned at epoch 2.", None), 2) == (
        "Run pruned: pruned at epoch 2."
    )


# -- dispatch ------------------------------------------------------------------------------------


class Counter(EventConsumer):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.seen.append(f"epoch {event.epoch}")

    def on_run_finished(self, event: RunFinished) -> None:
        self.seen.append(event.status)


def test_dispatch_calls_the_handler_named_after_the_event_type() -> None:
    counter = Counter()
    for event in (Status("loading", time=0), EpochEnded(**EPOCHS[0]), finished("stopped")):
        counter(event)
    assert counter.seen == ["epoch 1", "stopped"]  # Status has no handler: it passes by
    assert dispatch(counter, EpochEnded(**EPOCHS[1])) is True
    assert dispatch(counter, RunOpened("runs/x", "smoke", False)) is False
    assert dispatch(counter, finished(), prefix="show_") is False
    assert counter.seen == ["epoch 1", "stopped", "epoch 2"]


def test_a_handler_for_no_event_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="Typo handles no such event: on_epoch_end"):

        class Typo(EventConsumer):
            def on_epoch_end(self, event: Event) -> None: ...


def test_every_consumer_names_real_events() -> None:
    """The fronts' handlers, whatever their prefix, each name an event the engine sends."""
    from tui.console.app import CifarTuiApp
    from tui.console.screens.watch import WatchScreen

    for cls, prefix in (
        (PlainRenderer, "on_"),
        (LiveRenderer, "on_"),
        (RunState, "on_"),
        (WatchScreen, "show_"),
        (CifarTuiApp, "notify_"),
    ):
        handlers = [n for n in vars(cls) if n.startswith(prefix)]
        assert handlers, cls  # the prefix is the one the class uses
        assert unknown_handlers(cls, prefix) == [], cls


def test_plain_renderer_lines() -> None:
    """What ``--run --plain`` prints for a whole run: one line each, nothing per batch."""
    out = io.StringIO()
    render = PlainRenderer(out)
    progress = BatchProgress(1, 5, 10, 1.0, 0.5, 1.0, 1.0, time=0)
    no_gpu = RunWarning("no_gpu", "No GPU found.", time=0)
    for event in (Status("loading", time=0), started(), no_gpu, progress):
        render(event)
    for row in EPOCHS:
        render(EpochEnded(**row, time=0))
    render(profiled())
    render(profiled(xprof="trace read"))  # sent again at the end: only xprof's line
    render(finished())
    # Each epoch but the last says the run's time left: the epochs not begun x the median
    # epoch (the first, which compiles, left out once there are others).
    run_etas = ["  run ETA 0:36", "  run ETA 0:03", ""]
    assert out.getvalue().splitlines() == [
        f.run_started_line(started()),
        "warning: No GPU found.",
        *[f.epoch_line(row, 3) + eta for row, eta in zip(EPOCHS, run_etas, strict=True)],
        f.profiler_line(profiled()),
        "xprof: trace read",
        f.finished_line(finished(), "runs/20260101-120000-smoke"),
    ]


def test_run_state_takes_events_in() -> None:
    state = RunState(label="smoke", active=True)
    state.apply(Status("building the model", time=0))
    assert state.status == "building the model"
    state.apply(started(initial_epoch=2, history=EPOCHS))  # epoch 3 is run again
    assert [e["epoch"] for e in state.epochs] == [1, 2] and state.status == "training"
    state.apply(EpochEnded(**EPOCHS[2], time=0))
    state.apply(EpochEnded(**{**EPOCHS[1], "loss": 0.5}, time=0))  # a redone epoch replaces
    assert [(e["epoch"], e["loss"]) for e in state.epochs] == [(1, EPOCHS[0]["loss"]), (2, 0.5)]
    for _ in range(2):
        state.apply(RunWarning("no_gpu", "No GPU found.", time=0))
    assert len(state.warnings) == 1
    state.apply(finished("stopped", "", None))
    assert state.status == "stopped" and state.finished is not None
