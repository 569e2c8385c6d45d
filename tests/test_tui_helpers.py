"""Fixed data for the console tests: profile folders and fabricated run directories.

Fabricated runs have fixed report.json / history.csv contents, so the runs screen and the
report view are deterministic (snapshots) and need no training. No tests live here.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HPARAMS = ("adam.toml", "lr-0.002.toml", "sgd.toml")

EPOCHS = [
    {
        "epoch": 1,
        "seconds": 18.1254,
        "loss": 1.5501418,
        "accuracy": 0.50400001,
        "val_loss": 7.421895,
        "val_accuracy": 0.059999999,
        "lr": 0.001,
    },
    {
        "epoch": 2,
        "seconds": 2.9837,
        "loss": 0.28019261,
        "accuracy": 0.89399999,
        "val_loss": 6.3929338,
        "val_accuracy": 0.18000001,
        "lr": 0.001,
    },
    {
        "epoch": 3,
        "seconds": 5.7924,
        "loss": 0.11755769,
        "accuracy": 0.96799999,
        "val_loss": 4.1124587,
        "val_accuracy": 0.31,
        "lr": 0.001,
    },
]

PROFILE = {
    "name": "smoke",
    "description": "Small VGG on 600 synthetic 32x32 images, 3 epochs",
    "model": {"architecture": "vgg_small", "input_size": 32},
    "augment": {"flip": "horizontal", "rotation": 0.0},
    "data": {
        "source": "synthetic",
        "path": "",
        "validation_size": 100,
        "limit": 0,
        "synthetic_train": 600,
        "synthetic_test": 100,
    },
    "pipeline": {
        "preprocess": "device",
        "num_parallel_calls": "autotune",
        "shuffle_buffer": 1000,
        "prefetch": "autotune",
        "cache": False,
    },
    "train": {
        "optimizer": "adam",
        "learning_rate": 0.001,
        "momentum": 0.0,
        "batch_size": 50,
        "epochs": 3,
        "seed": 0,
        "precision": "float32",
        "jit_compile": "auto",
        "steps_per_execution": 1,
        "reduce_lr": {
            "enabled": True,
            "monitor": "val_accuracy",
            "factor": 0.01,
            "patience": 3,
            "min_lr": 1e-05,
        },
    },
    "profiler": {"enabled": True, "batches": [3, 8], "trace": True},
}


def copy_profiles(target: Path, extra: dict[str, str] | None = None) -> Path:
    """A profiles folder with smoke.toml, a few hyperparameter profiles and ``extra`` files."""
    (target / "hparams").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "profiles" / "smoke.toml", target / "smoke.toml")
    for name in HPARAMS:
        shutil.copy(REPO / "profiles" / "hparams" / name, target / "hparams" / name)
    for name, text in (extra or {}).items():
        (target / name).write_text(text, encoding="utf-8")
    return target


def fake_report(
    status: str = "completed",
    epochs: int = 3,
    name: str = "smoke",
    test_accuracy: float | None = 0.29,
) -> dict[str, Any]:
    """A report.json as the engine writes it, with fixed numbers."""
    profile = copy.deepcopy(PROFILE)
    profile["name"] = name
    done = EPOCHS[:epochs]
    return {
        "schema": "cifar-tui/run-report/1",
        "status": status,
        "profile": profile,
        "command": f"cifar-tui --run profiles/{name}.toml",
        "environment": {
            "python": "3.11.7",
            "keras": "3.15.1",
            "backend": "tensorflow",
            "backend_version": "2.21.0",
            "devices": ["CPU:CPU:0"],
            "gpu": False,
            "cpu_count": 2,
        },
        "model": {
            "name": "vgg_small",
            "params_total": 552874,
            "params_trainable": 551722,
            "params_non_trainable": 1152,
        },
        "epochs": done,
        "test": (
            {"loss": 4.5539813, "accuracy": test_accuracy} if test_accuracy is not None else None
        ),
        "input_pipeline": {
            "input_bound_percent": 0.83,
            "verdict": "not",
            "method": "consumer-side wait",
            "window": [3, 8],
            "batches_measured": 6,
            "complete": True,
            "advice": ["No change needed: the input pipeline keeps up with training."],
            "details": {},
        },
        "timing": {
            "total_seconds": 34.249,
            "first_epoch_seconds": 18.125,
            "median_epoch_seconds": 4.388,
        },
        "warnings": [
            {
                "code": "no_gpu",
                "message": "No GPU found; training on the CPU (CPU:CPU:0). It works, slowly.",
            }
        ],
        "resumed": [],
        "started": "2026-01-01T12:00:00+0000",
    }


def write_run(runs_dir: Path, dirname: str, report: dict[str, Any]) -> Path:
    """A run directory with report.json, history.csv and profile.toml (no lock held)."""
    import tomli_w

    run_dir = runs_dir / dirname
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (run_dir / "profile.toml").write_text(tomli_w.dumps(report["profile"]), encoding="utf-8")
    with open(run_dir / "history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(EPOCHS[0]))
        writer.writeheader()
        writer.writerows(report["epochs"])
    return run_dir


def killed_copy(finished: Path, dirname: str) -> Path:
    """A copy of a finished run whose report still says "running" and whose lock is free:
    what a run killed mid-training leaves behind."""
    target = finished.parent / dirname
    shutil.copytree(finished, target)
    report = json.loads((target / "report.json").read_text(encoding="utf-8"))
    report["status"] = "running"
    report["test"] = None
    (target / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (target / ".lock").write_text("12345", encoding="utf-8")  # a lock file nobody holds
    return target


def standard_runs(runs_dir: Path) -> dict[str, Path]:
    """Three runs: completed, stopped after 2 epochs, and killed (interrupted)."""
    completed = write_run(runs_dir, "20260101-120000-smoke", fake_report())
    stopped = write_run(
        runs_dir, "20260102-090000-smoke", fake_report("stopped", epochs=2, test_accuracy=None)
    )
    killed = killed_copy(completed, "20260103-180000-smoke")
    return {"completed": completed, "stopped": stopped, "killed": killed}


def standard_console(tmp_path: Path, monkeypatch: Any) -> Any:
    """The snapshots' console over fixed profiles and :func:`standard_runs`, by relative paths
    (cwd is ``tmp_path``), so what it shows reads the same on every machine."""
    from tui.console.app import create_app

    monkeypatch.chdir(tmp_path)
    copy_profiles(tmp_path / "profiles")
    standard_runs(tmp_path / "runs")
    return create_app(Path("profiles"), Path("runs"))


def lr_run(
    runs_dir: Path, dirname: str, learning_rate: float, gain: float, test_accuracy: float
) -> Path:
    """A completed run like ``fake_report``'s at another learning rate, its validation accuracy
    raised and its loss lowered by ``gain``: two such runs differ in one setting, for compare."""
    report = fake_report(test_accuracy=test_accuracy)
    report["profile"]["train"]["learning_rate"] = learning_rate
    report["epochs"] = [
        dict(
            row,
            val_accuracy=round(row["val_accuracy"] + gain, 6),
            loss=round(row["loss"] * (1 - gain), 6),
        )
        for row in report["epochs"]
    ]
    return write_run(runs_dir, dirname, report)


def test_launch_settings_say_when_augmentation_comes_first() -> None:
    from core.profiles import load_profile
    from tui.console.catalog import settings_rows

    alexnet = REPO / "profiles" / "alexnet.toml"
    first = REPO / "profiles" / "hparams" / "augment-first.toml"
    notebook = dict(settings_rows(load_profile(alexnet)))["augment"]
    assert notebook == "flip horizontal_and_vertical, rotation 0.2"
    cheap = dict(settings_rows(load_profile(alexnet, hparams=first)))["augment"]
    assert cheap == "flip horizontal_and_vertical, rotation 0.2, before the resize"
