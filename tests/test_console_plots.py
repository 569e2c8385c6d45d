"""Plots that can be read (issue 25): study plots and the watch plots keep their rows at
80x24, the key is never drawn over the data, a lone accuracy gets a sane axis, and a
comparison of many runs names every curve. Pilot tests on fed events: nothing trains."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from test_tui_helpers import lr_run, standard_console
from test_tui_snapshots import compare_four, feed_mid_sweep, settle, sweep_state
from test_tui_snapshots_content import compare_long_names
from textual.widgets import DataTable, Static

from tui.console.app import CifarTuiApp
from tui.console.study_view import StudyInfo
from tui.console.widgets.plots import MARKERS, MetricPlot


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    return standard_console(tmp_path, monkeypatch)


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
    """Long run names (issue 25): every column of the table reads whole at 80x24, with no
    sideways scrolling; what it leaves out is said under it, and a wider terminal shows all."""

    def whole_table() -> tuple[list[str], list[list[str]]]:
        table = app.screen.query_one("#compare-table", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            table.virtual_size,
            table.scrollable_content_region,
        )  # nothing cut off
        headers = [str(column.label) for column in table.columns.values()]
        return headers, [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await compare_long_names(pilot)
            headers, rows = whole_table()
            assert [row[0] for row in rows] == [
                "130152-smoke-with-a-long-name",
                "130052-smoke-with-a-long-name",
                "180000-smoke",
                "090000-smoke",
            ]
            assert headers == ["run", "lr", "s/ep", "best val", "test", "status"]
            assert [row[-1] for row in rows] == [
                "✔ completed", "✔ completed", "◆ interrupted", "■ stopped"
            ]  # fmt: skip
            note = app.screen.query_one("#compare-note", Static)
            assert note.display and str(note.render()) == "input 0.8% for every run"
            await pilot.resize_terminal(160, 45)
            await pilot.pause()
            headers, _ = whole_table()
            assert "input" in headers and not note.display

    asyncio.run(scenario())


def test_a_narrow_compare_table_gives_up_its_least_columns_first() -> None:
    """Past the same-for-every-run metrics, the status keeps its mark (the line under the table
    says what each means), then s/ep and input go; the names, settings and accuracies stay."""
    from tui.console.screens.compare import MainColumn, fit_columns, table_width

    columns = [
        MainColumn("run", ("a-run-with-quite-a-long-name", "another-run-of-a-long-name"), True),
        MainColumn("lr", ("0.001", "0.002"), True),
        MainColumn("optimizer", ("adam", "sgd"), True),
        MainColumn("s/ep", ("4.39", "2.98"), attr="seconds_per_epoch"),
        MainColumn("best val", ("51.0%", "41.0%"), attr="best_val_accuracy"),
        MainColumn("test", ("50.0%", "-"), attr="test_accuracy"),
        MainColumn("input", ("0.8%", "1.2%"), attr="input_bound_percent"),
        MainColumn("status", ("✔ completed", "◆ interrupted"), attr="status"),
    ]
    assert table_width(columns) == 93
    assert fit_columns(columns, 93) == (columns, [])
    shown, notes = fit_columns(columns, 85)
    assert [c.header for c in shown] == [
        "run", "", "lr", "optimizer", "s/ep", "best val", "test", "input"
    ]  # fmt: skip
    assert shown[1].cells == ("✔", "◆") and notes == ["✔ completed  ◆ interrupted"]
    shown, notes = fit_columns(columns, 72)
    assert [c.header for c in shown] == ["run", "", "lr", "optimizer", "best val", "test"]
    assert table_width(shown) <= 72
    assert notes[-1] == "input, s/ep: left out at this width (e exports every column)"


def test_the_compare_key_breaks_between_runs_only() -> None:
    from tui.console.screens.compare import key_text

    drawn = [(f"run-{n}-with-a-long-name", None) for n in range(4)]
    lines = key_text(drawn, 4, width=60).splitlines()  # type: ignore[arg-type]
    assert lines == [
        "key: • run-0-with-a-long-name  + run-1-with-a-long-name",
        "x run-2-with-a-long-name  o run-3-with-a-long-name",
    ]
