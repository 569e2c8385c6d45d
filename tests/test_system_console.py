"""The system figures in the console, through Textual's pilot: the runs screen's busy column for
a live run (its lock held here, its readings in system.jsonl) and the watch screen's line, fed
recorded events. No training."""

from __future__ import annotations

import json
from pathlib import Path

from test_tui import in_event_loop

from core import events as ev
from core.storage.recorder import RunRecorder
from tui.console.app import create_app
from tui.console.messages import EngineEvent
from tui.console.state import RunState

ROOT = Path(__file__).resolve().parents[1]


def reading(util: float, elapsed: float) -> ev.SystemSampled:
    gpu = {"index": 0, "util": util, "mem_mb": 9_000.0, "mem_total_mb": 81_559.0,
           "power_w": 300.0, "temp_c": 61.0}  # fmt: skip
    return ev.SystemSampled(elapsed, 1, 98.0, 2_150.0, 40.0, 20_000.0, [gpu])


@in_event_loop
async def test_the_runs_screen_shows_how_busy_a_live_run_keeps_its_gpu(tmp_path):
    from test_recorder import profile

    runs_dir = tmp_path / "runs"
    recorder = RunRecorder.create(runs_dir, profile())  # holds the lock: the run is live
    try:
        with open(recorder.run_dir / "system.jsonl", "w") as fh:
            for i, util in enumerate((20.0, 87.0)):
                fh.write(json.dumps(reading(util, float(i)).to_dict()) + "\n")
        app = create_app(ROOT / "profiles", runs_dir)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("b")
            await pilot.pause()
            table = pilot.app.screen.query_one("#runs")
            assert "busy" in [str(c.label).split()[0] for c in table.columns.values()]
            row = table.get_row(str(recorder.run_dir))
            assert "GPU 87%" in [str(cell) for cell in row]
    finally:
        recorder.close()


@in_event_loop
async def test_the_runs_screen_leaves_the_busy_column_out_without_a_live_run(tmp_path):
    from test_recorder import profile

    runs_dir = tmp_path / "runs"
    RunRecorder.create(runs_dir, profile()).close()  # not live
    app = create_app(ROOT / "profiles", runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        table = pilot.app.screen.query_one("#runs")
        assert "busy" not in [str(c.label).split()[0] for c in table.columns.values()]


@in_event_loop
async def test_the_watch_screen_line_follows_the_readings(tmp_path):
    app = create_app(ROOT / "profiles", tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.run_state = RunState(label="smoke", active=True)
        await pilot.press("w")
        await pilot.pause()
        line = pilot.app.screen.query_one("#system")
        assert "first reading" in str(line.render())
        for i, util in enumerate((10.0, 50.0, 90.0)):
            app.post_message(EngineEvent(reading(util, float(i))))
        await pilot.pause()
        text = str(line.render())
        assert text.startswith("GPU ▁▅█ GPU 90% · 8.8/79.6 GB · 300 W · 61°C · CPU 98%"), text
