"""The same profile on Keras's JAX backend (what the lent GPU machine runs), as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_profile_runs_on_jax(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "--run",
            str(ROOT / "profiles" / "smoke.toml"),
            "--runs-dir",
            str(tmp_path),
            "--set",
            "train.epochs=1",
            "--set",
            "data.synthetic_train=300",
            "--set",
            "data.synthetic_test=60",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = tmp_path.iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "completed"
    assert report["environment"]["backend"] == "jax"
    assert [e["epoch"] for e in report["epochs"]] == [1]
    # The profiler measures on JAX too (no TensorFlow trace there).
    assert report["input_pipeline"]["verdict"] in ("not", "moderately", "highly")
    assert not (run_dir / "tensorboard").exists()
