"""train.devices: one run data-parallel over several devices (core/training/distribute.py).

The profile checks run in-process. Training runs as subprocesses on virtual CPU devices: JAX
with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``, TensorFlow with two logical CPU
devices made before anything else touches it (:data:`TF_TWO_CPUS` does that, then runs the
command line). The same profile on 1 and on 2 devices must give the same per-epoch losses
within a tolerance: JAX's DataParallel computes over the global batch (the first step agrees to
1e-6; float sums in another order then drift, measured ~1e-4 after 8 steps at this learning
rate); on TensorFlow BatchNormalization is synchronized over the replicas, but Keras 3 draws the
same dropout masks (and flips) on every replica, unlike one device's over the whole batch, so
its tolerance is wider and its flips are off.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, SMOKE, cli_command, cli_env, start_cli

from core.errors import ProfileError
from core.profiles import load_profile
from core.storage import rundir
from core.training.distribute import Placement, requested_count, split_problem

JAX_TWO = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
#: A profile whose losses are well conditioned: a small learning rate, 4 steps of 50 per epoch.
SAME_MATH = (
    "train.batch_size=50",
    "train.learning_rate=0.0001",
    "data.synthetic_train=300",
    "data.synthetic_test=100",
    "train.epochs=2",
    "profiler.trace=false",
)
TF_TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tui.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


# --- the split: what each count asks of the batches ------------------------------------------


def test_split_problem_names_what_would_split() -> None:
    assert split_problem(1, 15, {"validation": 7}) is None
    assert split_problem(2, 16, {"validation": 100, "test": 100}) is None
    key, message = split_problem(3, 16, {"validation": 100, "test": 100}) or ("", "")
    assert key == "train.batch_size"
    assert "batch_size 16 does not split evenly over 3 devices" in message
    assert "use a multiple of 3 (15 or 18); or train.devices = 2 or 4" in message
    key, message = split_problem(2, 16, {"validation": 101}) or ("", "")
    assert key == "data.validation_size"
    assert "its last batch of 5 images cannot be shared" in message
    assert message.endswith("use validation_size 100 or 102")
    key, message = split_problem(4, 16, {"validation": 100, "test": 41}, test_key="data.limit")
    assert key == "data.limit" and "use limit 200 or 220" in message  # a test set of 40 or 44


def test_requested_count_and_the_recorded_placement() -> None:
    assert requested_count("all", 8) == 8 and requested_count(2, 8) == 2
    placement = Placement("DataParallel", ("cpu:0", "cpu:1"))
    assert placement.describe() == {
        "strategy": "DataParallel",
        "devices": ["cpu:0", "cpu:1"],
        "count": 2,
    }
    with placement.scope():  # the default scope is a plain context
        pass


def test_devices_key_takes_a_count_or_all() -> None:
    assert load_profile(SMOKE).train.devices == 1
    assert load_profile(SMOKE, overrides=['train.devices="all"']).train.devices == "all"
    assert load_profile(SMOKE, overrides=["train.devices=4"]).train.devices == 4
    with pytest.raises(ProfileError, match=r'must be an integer or "all" >= 1'):
        load_profile(SMOKE, overrides=['train.devices="every"'])


def test_the_error_points_at_what_was_written_last(monkeypatch: pytest.MonkeyPatch) -> None:
    """--set train.devices=3 over a profile's batch 16: the --set is what to change."""
    with pytest.raises(ProfileError) as caught:
        load_profile(SMOKE, overrides=["train.devices=3"])
    assert (caught.value.file, caught.value.key) == ("--set", "train.devices")
    with pytest.raises(ProfileError) as caught:
        load_profile(SMOKE, overrides=["train.devices=2", "train.batch_size=15"])
    assert caught.value.key == "train.batch_size"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(ProfileError, match="use steps_per_execution = 1"):
        load_profile(SMOKE, overrides=["train.devices=2", "train.steps_per_execution=4"])


# --- training on virtual devices -------------------------------------------------------------


def run_jax(runs: Path, *items: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    args = ["--run", str(SMOKE), *sets(*items), "--runs-dir", str(runs), "--plain"]
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(JAX_TWO),
        timeout=timeout,
        cwd=REPO,
    )


def run_tf(runs: Path, *items: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    args = ["--run", str(SMOKE), *sets(*items), "--runs-dir", str(runs), "--plain"]
    return subprocess.run(
        [sys.executable, "-c", TF_TWO_CPUS, *args],
        capture_output=True,
        text=True,
        env=cli_env({"KERAS_BACKEND": "tensorflow"}),
        timeout=timeout,
        cwd=REPO,
    )


def only_run(runs: Path) -> dict[str, Any]:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return json.loads((run_dir / "report.json").read_text())


def assert_same_losses(one: dict[str, Any], two: dict[str, Any], rtol: float) -> None:
    print("1 device: ", [(e["loss"], e["val_loss"], e["seconds"]) for e in one["epochs"]])
    print("2 devices:", [(e["loss"], e["val_loss"], e["seconds"]) for e in two["epochs"]])
    assert len(one["epochs"]) == len(two["epochs"]) == 2
    for a, b in zip(one["epochs"], two["epochs"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=rtol)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=rtol)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "runner", "strategy", "rtol", "extra"),
    [
        ("jax", run_jax, "DataParallel", 0.01, ()),
        # Keras 3 on TensorFlow draws the same random numbers on every replica: the flips
        # would differ from one device's wholesale (dropout's masks still do: epoch 2's
        # val_loss 3.0172 on two against 2.9291 on one, 3.0%, so 4% leaves room for CPU
        # round-off between runs; a wrong split of the batch is far more than that).
        ("tensorflow", run_tf, "MirroredStrategy", 0.04, ('augment.flip="none"',)),
    ],
)
def test_two_devices_train_as_one(
    backend: str,
    runner: Any,
    strategy: str,
    rtol: float,
    extra: tuple[str, ...],
    tmp_path: Path,
    private_cache: Path,
) -> None:
    reports = {}
    for count in (1, 2):
        proc = runner(tmp_path / str(count), *SAME_MATH, *extra, f"train.devices={count}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        reports[count] = only_run(tmp_path / str(count))
    one, two = reports[1], reports[2]
    assert one["environment"]["distribution"]["strategy"] == "none"
    placed = two["environment"]["distribution"]
    assert placed["strategy"] == strategy and placed["count"] == 2
    assert len(set(placed["devices"])) == 2
    assert two["environment"]["backend"] == backend
    assert_same_losses(one, two, rtol)
    assert two["status"] == "completed" and two["test"]["accuracy"] is not None


@pytest.mark.slow
def test_all_devices_stop_and_resume_on_two(tmp_path: Path, private_cache: Path) -> None:
    """devices = "all" takes both; Ctrl+C after epoch 1 saves, and --resume (on the same two
    devices) trains epoch 2 only, from the checkpoint saved under the distribution."""
    runs = tmp_path / "runs"
    args = ["--run", str(SMOKE), *sets(*SAME_MATH, 'train.devices="all"')]
    proc = start_cli(*args, "--runs-dir", str(runs), "--plain", env=JAX_TWO)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("epoch 1/2"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen) + out + err
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    resumed = subprocess.run(
        cli_command("--resume", str(run_dir), "--plain"),
        capture_output=True,
        text=True,
        env=cli_env(JAX_TWO),
        timeout=600,
        cwd=REPO,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    record = rundir.load_run(run_dir)
    assert [row["epoch"] for row in record.epochs] == [1, 2]
    assert record.report["environment"]["distribution"]["count"] == 2


@pytest.mark.slow
def test_more_devices_than_the_machine_has_is_refused(tmp_path: Path) -> None:
    proc = run_jax(tmp_path / "runs", *SAME_MATH, "train.batch_size=40", "train.devices=4")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "train.devices: devices = 4, but this machine shows 2 (cpu:0, cpu:1)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
