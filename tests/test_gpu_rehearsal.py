"""benchmarks/gpu.sh rehearsed on this machine (benchmarks/rehearsal.sh): every step of the one
GPU call a session gets runs in miniature, with TensorFlow unimportable and only the packages
the GPU machine will have, and leaves its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MINI, NO_MINI, REPO

WHEELS_SH = REPO.parent / "shared" / "device" / "wheels.sh"
GPU_MACHINE = REPO / "benchmarks" / "gpu_machine"
#: What each step of gpu.sh writes to $OUT.
STEP_FILES = (
    "device.txt",
    "story.json",
    "vgg_small.json",
    "vgg_small_spe8.json",
    "augment.json",
    "alexnet.json",
    "vgg16.json",
)


def gpu_machine_python(code: str, packages: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{GPU_MACHINE}{os.pathsep}{REPO}"}
    env |= {"GPU_MACHINE_PACKAGES": packages, "KERAS_BACKEND": "jax"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )


def test_the_gpu_machine_python_has_no_tensorflow_and_only_carried_wheels():
    """The rehearsal's interpreter: TensorFlow is absent (not merely broken), a carried wheel
    imports, a package installed here but carried by no call does not."""
    pytest.importorskip("yaml")  # installed here, and neither on the GPU machine nor carried
    code = (
        "import importlib.util, json\n"
        "found = {n: importlib.util.find_spec(n) is not None\n"
        "         for n in ('tensorflow', 'numpy', 'tomli_w', 'yaml', 'core')}\n"
        "print(json.dumps(found))"
    )
    proc = gpu_machine_python(code, "tomli-w")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {
        "tensorflow": False,
        "numpy": True,
        "tomli_w": True,
        "yaml": False,
        "core": True,
    }
    proc = gpu_machine_python("import tensorflow", "")  # not strict: TensorFlow alone goes
    assert proc.returncode != 0 and "No module named 'tensorflow'" in proc.stderr


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run benchmarks/rehearsal.sh once (a few minutes): its OUT folder and its output."""
    if not WHEELS_SH.is_file():
        pytest.skip(f"no {WHEELS_SH}: the list of wheels a call carries")
    if not MINI.is_dir():
        pytest.skip(NO_MINI)
    pytest.importorskip("jax")
    root = tmp_path_factory.mktemp("rehearsal")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "GPU_SH_DATA": str(MINI),
        "WHEELS_SH": str(WHEELS_SH),
        "CIFAR_TUI_CACHE": str(root / "cache"),
    }
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "rehearsal.sh"), str(root / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=2400,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return root / "out", output


@pytest.mark.slow
def test_every_step_of_gpu_sh_leaves_its_json(rehearsal):
    out, output = rehearsal
    assert "preflight failed" not in output and "skipped" not in output, output[-4000:]
    missing = [name for name in STEP_FILES if not (out / name).is_file()]
    assert not missing, (missing, output[-6000:])
    assert "jax" in (out / "device.txt").read_text()
    for name in STEP_FILES[2:]:
        rows = json.loads((out / name).read_text())
        assert rows and all(r.get("s_per_epoch") or r.get("steady_s_per_epoch") for r in rows), (
            name,
            rows,
        )
    # The system sampler's section for RESULTS.md, from the models' runs (benchmarks/system_series).
    assert "| vgg_small | 1 |" in (out / "system.md").read_text(), output[-4000:]
    story = {row["profile"]: row for row in json.loads((out / "story.json").read_text())}
    assert set(story) == {"alexnet-host", "alexnet"}
    device = story["alexnet"]
    assert device["status"] == "completed" and device["backend"] == "jax", device
    assert device["input_bound_percent"] is not None and device["epoch_seconds"], device


@pytest.mark.slow
def test_the_story_step_runs_alexnet_host_on_jax(rehearsal):
    """The host pipeline's half of the story: as shipped, alexnet-host on JAX."""
    out, _ = rehearsal
    host = next(
        r for r in json.loads((out / "story.json").read_text()) if r["profile"] == "alexnet-host"
    )
    if host["status"] == "refused" and "host" in (host.get("error") or "").lower():
        pytest.skip(
            'the profile check still refuses pipeline.preprocess = "host" outside TensorFlow '
            f"(its message: {host['error']}); this passes once the engine runs the host "
            "pipeline on JAX and the check lets it"
        )
    assert host["status"] == "completed", host
    assert host["preprocess"] == "host" and host["backend"] == "jax", host
    assert host["input_bound_percent"] is not None and host["verdict"], host
