"""The read sides the fronts share: ``sweep.json`` read back (core/sweeps/sweepfile.py) and the
RunRecord fields they used to dig out of ``report.json`` by hand. No training: files by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import RunDirError
from core.storage.rundir import RunRecord
from core.sweeps.sweepfile import (
    SWEEP_FILE,
    is_sweep_dir,
    read_sweep_file,
    sweep_run_dirs,
    try_read_sweep_file,
)


def sweep_dir(runs_dir: Path, data: object) -> Path:
    folder = runs_dir / "sweeps" / "grid-1234abcd"
    folder.mkdir(parents=True)
    (folder / SWEEP_FILE).write_text(json.dumps(data))
    return folder


def test_a_sweep_file_reads_typed_and_finds_runs_whose_runs_dir_moved(tmp_path: Path) -> None:
    here = tmp_path / "runs"
    (here / "run-a").mkdir(parents=True)
    folder = sweep_dir(
        here,
        {
            "name": "grid",
            "status": "stopped",
            "command": "cifar-tui --sweep grid.toml",
            "runs": [
                {"index": 1, "label": "a", "status": "completed", "run_dir": "/elsewhere/run-a",
                 "started": 12.5, "overrides": {"train.epochs": 2}},
                {"index": 2, "label": "b", "status": "pending", "run_dir": None},
                "not a run",
            ],
        },
    )  # fmt: skip
    data = read_sweep_file(folder)
    assert (data.name, data.status, data.command) == (
        "grid",
        "stopped",
        "cifar-tui --sweep grid.toml",
    )
    assert [(r.index, r.label, r.status) for r in data.runs] == [
        (1, "a", "completed"),
        (2, "b", "pending"),
    ]
    assert data.runs[0].started == 12.5 and data.runs[0].overrides == {"train.epochs": 2}
    assert data.runs[1].run_dir is None and data.search is None
    assert data.run_dirs == [here / "run-a"] == sweep_run_dirs(folder)  # found by its name
    assert is_sweep_dir(folder) and not is_sweep_dir(here)


def test_fields_of_the_wrong_type_read_as_missing(tmp_path: Path) -> None:
    folder = sweep_dir(
        tmp_path,
        {"runs": [{"index": "one", "started": "noon", "overrides": [1], "run_dir": 7}],
         "search": "tpe"},
    )  # fmt: skip
    data = read_sweep_file(folder)
    run = data.runs[0]
    assert (run.index, run.started, run.overrides, run.run_dir) == (0, None, {}, None)
    assert data.search is None and data.name == folder.name and data.status == "?"


@pytest.mark.parametrize("text", ["{torn", "[1, 2]"], ids=["torn", "not-an-object"])
def test_a_sweep_file_that_cannot_be_read_is_one_error(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / SWEEP_FILE).write_text(text)
    with pytest.raises(RunDirError, match=r"sweep\.json cannot be read"):
        read_sweep_file(folder)
    assert try_read_sweep_file(folder) is None


def test_a_records_planned_epochs_input_size_and_error(tmp_path: Path) -> None:
    report = {
        "profile": {"train": {"epochs": 12}, "model": {"input_size": 64}},
        "error": {"message": "the loss became nan"},
    }
    record = RunRecord(tmp_path, report)
    assert (record.planned_epochs, record.input_size) == (12, 64)
    assert record.error_message == "the loss became nan"
    torn = RunRecord(
        tmp_path, {"profile": {"train": "x", "model": {"input_size": True}}, "error": 3}
    )
    assert (torn.planned_epochs, torn.input_size, torn.error_message) == (None, None, "")
