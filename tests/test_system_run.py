"""A real run's system records (core/system_metrics.py), against psutil's own reading of the
training process: the test reads the child's resident memory and CPU time while it trains, and
the run's files must agree with them. One short smoke run; slow."""

from __future__ import annotations

import csv
import json
import time

import psutil
import pytest
from helpers import SMOKE, start_cli

from core.storage.rundir import CSV_FIELDS

MB = 1024 * 1024


@pytest.mark.slow
def test_a_runs_records_hold_cpu_and_memory_figures_that_agree_with_psutil(tmp_path):
    runs = tmp_path / "runs"
    proc = start_cli(
        "--run", str(SMOKE), "--set", "train.epochs=2", "--runs-dir", str(runs), "--plain",
        env={"CIFAR_TUI_SAMPLE_SECONDS": "0.2", "CIFAR_TUI_CACHE": str(tmp_path / "cache")},
    )  # fmt: skip
    child = psutil.Process(proc.pid)
    rss: list[float] = []
    cpu_seconds = 0.0
    while proc.poll() is None:  # psutil's reading of the process, as long as it lives
        try:
            rss.append(child.memory_info().rss / MB)
            times = child.cpu_times()
            cpu_seconds = times.user + times.system
        except psutil.Error:
            break
        time.sleep(0.2)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    [run_dir] = runs.iterdir()

    readings = [json.loads(line) for line in (run_dir / "system.jsonl").read_text().splitlines()]
    assert len(readings) >= 5 and all(r["type"] == "system_sampled" for r in readings)
    ours = [r["rss_mb"] for r in readings]
    # Both read the same process over the same time: ours lie within psutil's range (slack for
    # the moments one saw and the other did not).
    assert min(rss) * 0.8 <= min(ours) and max(ours) <= max(rss) * 1.2 + 50, (min(rss), max(rss))
    # The CPU % integrated over the readings is CPU time the process spent (start-up before the
    # first reading, which imports TensorFlow, not counted).
    spent = sum(r["cpu_percent"] for r in readings) / 100 * 0.2
    assert 0 < spent <= cpu_seconds * 1.25 + 2, (spent, cpu_seconds)
    assert all(0 <= r["host_cpu_percent"] <= 100 for r in readings)

    with open(run_dir / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_FIELDS) and len(rows) == 2
    for row in rows:
        assert float(row["cpu_peak"]) >= float(row["cpu_mean"]) >= 0
        assert min(rss) * 0.8 <= float(row["rss_mb_peak"]) <= max(rss) * 1.2 + 50
        assert row["gpu_util_mean"] == ""  # no GPU here
    report = json.loads((run_dir / "report.json").read_text())
    assert report["epochs"][1]["system"]["rss_mb_mean"] == float(rows[1]["rss_mb_mean"])
    assert report["system"]["unavailable"] == ["GPU metrics: no NVIDIA GPU"]
    assert "## System" in (run_dir / "report.md").read_text()
    lines = out.splitlines()
    assert "system metrics: not measured: GPU metrics: no NVIDIA GPU" in lines
    assert [line.split(":")[0] for line in lines if line.startswith("system ")][-2:] == [
        "system 1", "system 2"]  # fmt: skip
    assert any((run_dir / "tensorboard" / "system").glob("events.out.tfevents.*"))
