"""Plots that can be read (issue 25): study plots and the watch plots keep their rows at
80x24, the key is never drawn over the data, a lone accuracy gets a sane axis, and a
comparison of many runs names every curve. Pilot tests on fed events: nothing trains."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from test_tui_helpers import copy_profiles, lr_run, standard_runs
from test_tui_snapshots import compare_four, feed_mid_sweep, settle, sweep_state
from textual.widgets import Static

from tui.console.app import CifarTuiApp, create_app
from tui.console.study_view import StudyInfo
from tui.console.widgets.plots import MARKERS, MetricPlot


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    """The snapshots' console: fixed profiles and runs under relative paths."""
    monkeypatch.chdir(tmp_path)
    copy_profiles(tmp_path / "profiles")
    standard_runs(tmp_path / "runs")
    return create_app(Path("profiles"), Path("runs"))


def shown_plots(app: CifarTuiApp) -> list[MetricPlot]:
    return [p for p in app.screen.query(MetricPlot) if p.display]


def test_watch_plots_keep_their_rows_at_80x24_with_warnings(app: CifarTuiApp) -> None:
    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await feed_mid_sweep(pilot)  # a sweep line and two warnings
            heights = [p.size.height for p in shown_plots(app)]
            assert heights and min(heights) >= 8, heights

    asyncio.run(scenario())


def test_study_plots_are_readable_at_80x24(app: CifarTuiApp) -> None:
    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            state = sweep_state()
            snap = state.snapshot
            assert snap is not None
            done = replace(snap.runs[0], status="completed", objective=0.63, curve=(0.5, 0.63))
            state.snapshot = replace(
                snap,
                runs=(done, *snap.runs[1:]),
                study=StudyInfo("val_accuracy", True, "3 trials, tpe, val_accuracy"),
            )
            await feed_mid_sweep(pilot)
            app.sweep_state = state
            app.screen.draw_sweep()
            await settle(pilot)
            trials = app.screen.query_one("#plot-trials", MetricPlot)
            assert trials.display and trials.size.height >= 8
            # one trial done: an accuracy axis around it, inside 0-1
            assert trials.y_range is not None
            low, high = trials.y_range
            assert 0.0 <= low < 0.63 < high <= 1.0
            assert trials.keys == ["•done"]  # the key in the title, not over the data

    asyncio.run(scenario())


def test_comparing_four_runs_names_every_curve(app: CifarTuiApp) -> None:
    lr_run(Path("runs"), "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)
    lr_run(Path("runs"), "20260105-100000-smoke", 0.004, gain=0.2, test_accuracy=0.5)

    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await compare_four(pilot)
            screen = app.screen
            key = str(screen.query_one("#compare-key", Static).render())
            assert key.startswith("key: ")
            assert len(screen.labels) == 4
            for label, marker in zip(screen.labels, MARKERS, strict=False):
                assert f"{marker} {label}" in key

    asyncio.run(scenario())


def test_report_md_plots_keep_the_key_out_of_the_data() -> None:
    from core.storage.report import text_plot

    text = text_plot("Model loss", {"train": [6.5, 3.0, 2.0], "validation": [6.53, 4.0, 3.0]})
    title, *canvas = text.splitlines()
    assert "• train" in title and "+ validation" in title
    assert not any("validation" in line or "train" in line for line in canvas)


def test_compare_at_80x24_shows_whole_run_names(app: CifarTuiApp) -> None:
    from textual.widgets import DataTable

    lr_run(Path("runs"), "20260104-100000-smoke", 0.002, gain=0.1, test_accuracy=0.41)
    lr_run(Path("runs"), "20260105-100000-smoke", 0.004, gain=0.2, test_accuracy=0.5)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await compare_four(pilot)
            table = app.screen.query_one("#compare-table", DataTable)
            names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            assert names == ["0105-100000-smoke", "0104-100000-smoke", "0103-180000-smoke",
                             "0102-090000-smoke"]  # fmt: skip
            assert table.virtual_size.width <= 80, table.virtual_size  # nothing cut off

    asyncio.run(scenario())
