"""Snapshots with real content (issue 25): a study in progress, a long data path on the pick
screen, a comparison of runs with long names, at 80x24, 100x30 and 160x45.

Deterministic as tests/test_tui_snapshots.py is (fixed runs under relative paths, fed events,
no clock, no training). Update with
``pytest tests/test_tui_snapshots_content.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_tui_helpers import lr_run, standard_console
from test_tui_snapshots import THREE_SIZES, compare_four, feed_mid_sweep, settle, sweep_state
from textual.widgets import Select

from tui.console.app import CifarTuiApp
from tui.console.study_view import StudyInfo

#: Absolute, so the form's error ("no such folder") reads the same on every machine.
LONG_PATH = "/srv/shared/data/some/deeply/nested/folder/of/image/archives/cifar10-mini"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    return standard_console(tmp_path, monkeypatch)


async def feed_study(pilot) -> None:
    """A study's second trial training: trial 1 completed (0.63), its curve, the best line."""
    state = sweep_state()
    snap = state.snapshot
    assert snap is not None
    done = replace(
        snap.runs[0],
        label="trial 1",
        status="completed",
        objective=0.63,
        curve=(0.41, 0.55, 0.63),
        settings=(("train.learning_rate", 0.00123), ("train.optimizer", "sgd")),
    )
    live = replace(snap.runs[1], label="trial 2", settings=(("train.learning_rate", 0.004),))
    state.snapshot = replace(
        snap,
        runs=(done, live, replace(snap.runs[2], label="trial 3")),
        study=StudyInfo("val_accuracy", True, "3 trials, tpe, val_accuracy, median pruner"),
    )
    await feed_mid_sweep(pilot)
    pilot.app.sweep_state = state
    pilot.app.screen.draw_sweep()
    await settle(pilot)


async def long_path(pilot) -> None:
    screen = pilot.app.screen
    screen.query_one("#field-source", Select).value = "folder"
    await pilot.pause()
    screen._path_chosen(Path(LONG_PATH))
    await settle(pilot)


async def compare_long_names(pilot) -> None:
    lr_run(Path("runs"), "20261205-130052-smoke-with-a-long-name", 0.002, 0.1, 0.41)
    lr_run(Path("runs"), "20261205-130152-smoke-with-a-long-name", 0.004, 0.2, 0.5)
    await compare_four(pilot)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_watch_a_study(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=feed_study)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_pick_with_a_long_path(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=long_path)


@pytest.mark.parametrize("size", THREE_SIZES)
def test_compare_long_names(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=compare_long_names)
