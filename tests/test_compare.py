"""``--compare``: the content of the comparison, not only its exit code.

Two real runs on tiny synthetic data that differ in one setting (learning rate); the tables must
name that key with both values, and every number must be the one in the runs' reports, on the
terminal, in the Markdown export and in the CSV export.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from helpers import SHARED_SMOKE, SMOKE, markdown_tables

from core.compare import Comparison, RunRow, collect, differing_keys
from core.errors import EXIT_USAGE, RunDirError
from core.profiles import load_profile
from core.status import RunStatus
from core.storage.rundir import RunRecord, load_run
from core.training.engine import Run
from tui.cli.compare import compare


@pytest.fixture(scope="module")
def runs(tmp_path_factory, completed_run) -> list[Path]:
    """Two completed runs, learning rate 0.001 and 0.002, everything else the same: the
    session's shared run (conftest.py; the smoke profile's 0.001) and one trained here."""
    profile = load_profile(SMOKE, overrides=[*SHARED_SMOKE, "train.learning_rate=0.002"])
    run = Run(profile, tmp_path_factory.mktemp("runs"))
    assert run.execute() == "completed"
    assert run.run_dir is not None
    return [completed_run.run_dir, run.run_dir]


def numbers(record: RunRecord) -> dict[str, str]:
    """A run's metrics as the tables must print them, from its own report."""
    assert None not in (record.seconds_per_epoch, record.best_val_accuracy, record.test_accuracy)
    return {
        "s/epoch": f"{record.seconds_per_epoch:.2f}",
        "best val acc": f"{record.best_val_accuracy * 100:.1f}%",
        "test acc": f"{record.test_accuracy * 100:.1f}%",
        "input-bound %": f"{record.input_bound_percent:.1f}",
        "params": f"{record.params:,}",
    }


@pytest.mark.slow
def test_two_runs_plain_names_the_differing_key_and_the_reports_numbers(runs, cli):
    a, b = (load_run(p) for p in runs)
    proc = cli("--compare", *map(str, runs), "--plain")
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out
    header = next(line for line in out.splitlines() if line.startswith("run "))
    assert header.split()[:2] == ["run", "train.learning_rate"]  # differing settings first
    assert "train.batch_size" not in out  # same in both: not shown
    for record, lr in ((a, "0.001"), (b, "0.002")):
        row = next(line for line in out.splitlines() if line.startswith(record.path.name))
        cells = row.split()
        assert cells[1] == lr
        per_class = record.report["test"]["per_class"]
        worst = min(per_class, key=per_class.get)  # the worst class and its accuracy
        assert cells[2:7] == list(numbers(record).values())
        assert cells[7:] == [worst, f"{per_class[worst] * 100:.1f}%", "completed"]
    # the side-by-side table: each metric with both values and b - a
    side = out[out.index("side by side") :].splitlines()
    lr_row = next(line for line in side if line.startswith("train.learning_rate"))
    assert lr_row.split()[1:] == ["0.001", "0.002"]
    test_row = next(line for line in side if line.startswith("test acc"))
    diff = f"{(b.test_accuracy - a.test_accuracy) * 100:+.1f} pts"
    assert test_row.split()[2:] == [numbers(a)["test acc"], numbers(b)["test acc"], *diff.split()]
    params_row = next(line for line in side if line.startswith("params"))
    assert params_row.split()[1:] == [numbers(a)["params"], numbers(b)["params"], "+0"]


@pytest.mark.slow
def test_markdown_and_csv_exports_parse_back_to_the_reports(runs, tmp_path, cli):
    a, b = (load_run(p) for p in runs)
    md, table = tmp_path / "cmp.md", tmp_path / "cmp.csv"
    proc = cli("--compare", *map(str, runs), "--markdown", str(md), "--csv", str(table))
    assert proc.returncode == 0, proc.stderr

    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [r["run"] for r in rows] == [a.path.name, b.path.name]
    assert [r["train.learning_rate"] for r in rows] == ["0.001", "0.002"]
    for row, record in zip(rows, (a, b), strict=True):
        assert float(row["seconds_per_epoch"]) == record.seconds_per_epoch
        assert float(row["best_val_accuracy"]) == record.best_val_accuracy
        assert float(row["test_accuracy"]) == record.test_accuracy
        assert float(row["input_bound_percent"]) == record.input_bound_percent
        assert int(row["params"]) == record.params
        assert row["status"] == "completed"
        assert row["run_dir"] == str(record.path)

    text = md.read_text()
    assert text.startswith("# Comparison of 2 runs")
    assert "Settings that differ: `train.learning_rate`" in text
    main, side, classes = markdown_tables(text)
    # the third table: each class's test accuracy side by side (two runs with per-class data)
    assert [row["class"] for row in classes] == list(a.report["test"]["per_class"])
    for row, record, lr in zip(main, (a, b), ("0.001", "0.002"), strict=True):
        assert row["run"] == record.path.name and row["train.learning_rate"] == lr
        assert {k: row[k] for k in numbers(record)} == numbers(record)
        assert row["status"] == "completed"
    by_item = {row[""]: row for row in side}
    assert by_item["train.learning_rate"][a.path.name] == "0.001"
    assert by_item["train.learning_rate"][b.path.name] == "0.002"
    best = by_item["best val acc"]
    assert best[a.path.name] == numbers(a)["best val acc"]
    best_diff = (b.best_val_accuracy - a.best_val_accuracy) * 100
    assert best["difference (b - a)"] == f"{best_diff:+.1f} pts"


@pytest.mark.slow
def test_a_sweep_directory_stands_for_its_runs(runs, tmp_path):
    sweep_dir = tmp_path / "runs" / "sweeps" / "lr-12345678"
    sweep_dir.mkdir(parents=True)
    entries: list[dict] = [
        {"label": f"lr{i}", "run_dir": str(p), "status": "completed"} for i, p in enumerate(runs)
    ]
    entries.append({"label": "pending", "run_dir": None, "status": "pending"})
    (sweep_dir / "sweep.json").write_text(json.dumps({"runs": entries}))
    rows = collect([sweep_dir, runs[0]])  # a run named twice is compared once
    assert [r.path for r in rows] == runs
    assert Comparison.of(rows).keys == ["train.learning_rate"]


@pytest.mark.slow
def test_three_runs_one_table_with_missing_values_and_statuses(runs, tmp_path):
    third = tmp_path / "20261126-000000-smoke-stopped"
    shutil.copytree(runs[0], third)
    report = json.loads((third / "report.json").read_text())
    report.update(status="stopped", test=None)
    report["profile"]["train"]["batch_size"] = 25
    (third / "report.json").write_text(json.dumps(report))
    comparison = Comparison.of(collect([*runs, third]))
    assert comparison.keys == ["train.learning_rate", "train.batch_size"]
    assert comparison.pair_table() is None
    args = argparse.Namespace(compare=[*map(str, runs), str(third)], plain=True, markdown=None)
    out = io.StringIO()
    assert compare(args, out) == 0
    text = out.getvalue()
    assert "side by side" not in text
    row = next(line for line in text.splitlines() if line.startswith(third.name)).split()
    assert row[1:3] == ["0.001", "25"] and row[5] == "-" and row[-1] == "stopped"


@pytest.mark.slow
def test_rich_table_on_a_terminal(runs, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for var in ("NO_COLOR", "CI"):
        monkeypatch.delenv(var, raising=False)
    out = Tty()
    args = argparse.Namespace(compare=list(map(str, runs)), plain=False, markdown=None, csv=None)
    assert compare(args, out) == 0
    text = out.getvalue()
    assert "\x1b[" in text  # a Rich table (a styled header), not the plain one
    assert "0.002" in text and numbers(load_run(runs[1]))["test acc"] in text


def test_not_a_run_directory_exits_2(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    for target, message in (
        (empty, "is not a run directory (no report.json or history.csv) nor a sweep directory"),
        (tmp_path / "missing", "no such run or sweep directory"),
    ):
        proc = cli("--compare", str(target))
        assert proc.returncode == EXIT_USAGE
        assert proc.stderr.startswith(f"cifar-tui: error: {target}")
        assert message in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(RunDirError, match="no started runs yet"):
        (tmp_path / "sweep").mkdir()
        (tmp_path / "sweep" / "sweep.json").write_text(json.dumps({"runs": []}))
        collect([tmp_path / "sweep"])


def test_differing_keys_ignore_names_and_count_missing_keys():
    a = {"name": "a", "description": "x", "train.epochs": 2, "train.seed": 0}
    b = {"name": "b", "description": "y", "train.epochs": 2, "train.seed": 1, "data.limit": 5}
    assert differing_keys([a, b]) == ["train.seed", "data.limit"]
    assert differing_keys([a, dict(a)]) == []


def test_a_rows_status_is_a_run_status_or_what_a_damaged_report_says(tmp_path):
    done = RunRow.from_record(RunRecord(tmp_path, {"status": "completed"}))
    assert done.status is RunStatus.COMPLETED
    damaged = RunRow.from_record(RunRecord(tmp_path, {"status": "half-written"}))
    assert damaged.status == "half-written"
    table = Comparison.of([done, damaged]).table()
    assert [row[-2] for row in table.rows] == ["completed", "half-written"]
    assert table.to_csv().splitlines()[1].split(",")[-2] == "completed"
