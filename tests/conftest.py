"""Fixtures shared by every test module. Use these instead of writing your own.

Fixtures (request them by name):

- ``repo_root``: the repository root (a Path); subprocesses run from here.
- ``cifar10_mini``: ``../shared/data/cifar10-mini``, the real CIFAR-10 sample (1,200 JPEGs),
  resolved; the test is skipped where the sample is absent.
- ``cifar10_archive``: ``../shared/data/cifar10-jpeg.tar.gz``, all of CIFAR-10 as JPEGs,
  resolved; skipped where absent.
- ``private_cache``: points $CIFAR_TUI_CACHE at a fresh folder under tmp_path (returned), so
  decoded arrays never land in the user's ~/.cache. Use it in any test that loads image data.
- ``cli``: runs ``cifar-tui ARGS`` as a subprocess to completion from the repository root and
  returns the CompletedProcess (text, stdout and stderr captured):
  ``cli("--check", path, env={"KERAS_BACKEND": None}, timeout=60)``. ``env`` changes the
  subprocess's environment (os.environ without NO_COLOR); None removes a variable.
- ``installed_cli``: the installed ``cifar-tui`` script beside this interpreter; the test fails
  (it does not fall back to ``python -m``) when the package is not installed.
- ``completed_run``: ONE completed smoke run, trained once per session (once for all
  pytest-xdist workers too) by the engine in-process on tiny synthetic data
  (``helpers.SHARED_SMOKE``: 2 epochs of batch 50 on 300 training and 60 test images). A
  ``TrainedRun``: ``status``, ``run_dir``, ``events`` (every event its listener got, in
  order). Read-only: a test that changes the run asks for ``completed_run_copy`` instead, a
  copy of its directory under tmp_path (a Path). Use it wherever a test needs "a completed
  run" and not a run of its own: it costs nothing after the first test that asks.
- ``jax_cli_run``: ``cifar-tui --run profiles/smoke.toml --plain`` on Keras's JAX backend
  (``helpers.JAX_SMOKE``: one epoch on 300 training and 60 test images), run once per session
  as a subprocess; a ``CliRun``: ``proc`` (its CompletedProcess: returncode, stdout, stderr)
  and ``run_dir``. Read-only, as ``completed_run``. Skipped where JAX is not installed.
- ``lasting_toasts``: the console's notifications (Textual's toasts) do not expire during the
  test, so a test that reads ``app._notifications`` finds every one however long the loaded
  machine took to get there (they expire after 3 to 8 s otherwise).
- ``fake_run``: the stand-in engine (``tests/fakes.py``'s FakeRun, returned) reset before and
  after the test, and the sweep loop's "free the finished run's models" made a no-op: FakeRun
  builds no model, and that step's ``gc.collect()`` costs about a second a run once TensorFlow
  is loaded in the test process. Every test that runs sweeps or studies on FakeRun asks for it
  (``pytestmark = pytest.mark.usefixtures("fake_run")``).

Plain constants and functions (paths such as REPO, SMOKE, MINI, and ``cli_command``,
``cli_env``, ``run_cli``, ``start_cli`` for subprocesses a fixture cannot express, such as
one left running) live in ``tests/helpers.py``, importable with ``from helpers import ...``:
module-level ``skipif`` marks and ``parametrize`` lists need them at collection time.

The garbage collector: after collection, and once more after the first test that loaded
TensorFlow, what is alive is frozen (``gc.freeze``) and full collections come ten times less
often. The test process holds Textual, Optuna and TensorFlow, and each full collection walked
all of them: about a quarter of the console tests' CPU time. Young objects are still collected
as usual, and the engine's own ``gc.collect()`` between real runs still runs.

Workers: CI and the README run the suite on two pytest-xdist workers (``-n 2 --dist
loadfile``): a file's tests stay on one worker, so module-scoped fixtures are made once; the
session-scoped shared runs above are made once for both workers (under a file lock in the
session's temporary folder). A test never relies on another file's tests, or on the machine
being idle: it waits on a condition (a line, an event, a barrier), never on a race.

Markers: ``@pytest.mark.slow`` on every test that trains a model or otherwise takes more than a
few seconds (see pyproject.toml). ``pytest -m "not slow"`` is the fast lane for daily work;
CI runs everything. ``@pytest.mark.cluster``: needs a Slurm cluster (tests/test_slurm_cluster.py;
``bash benchmarks/slurm/up.sh`` brings one up, and the tests skip, saying so, without one); CI
runs the main suite with ``-m "not cluster"``, then ``-m cluster``.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRun
from helpers import (
    JAX_SMOKE,
    JPEG_ARCHIVE,
    MINI,
    NO_ARCHIVE,
    NO_MINI,
    REPO,
    SHARED_SMOKE,
    SMOKE,
    run_cli,
)

#: gc.set_threshold's third figure: full collections after 100 young ones, not 10.
FULL_COLLECTION_EVERY = 100
_frozen_with_tensorflow = False


def _freeze_what_is_alive() -> None:
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_what_is_alive()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _frozen_with_tensorflow
    if not _frozen_with_tensorflow and "tensorflow" in sys.modules:
        _frozen_with_tensorflow = True
        _freeze_what_is_alive()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def cifar10_mini() -> Path:
    if not MINI.is_dir():
        pytest.skip(NO_MINI)
    return MINI


@pytest.fixture(scope="session")
def cifar10_archive() -> Path:
    if not JPEG_ARCHIVE.is_file():
        pytest.skip(NO_ARCHIVE)
    return JPEG_ARCHIVE


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CIFAR_TUI_CACHE", str(cache))
    return cache


class CliRunner:
    """``cifar-tui ARGS`` to completion; each call's command and wall time are printed, so a
    failing test's captured output says what ran and for how long."""

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 300,
        cwd: Path = REPO,
    ) -> subprocess.CompletedProcess[str]:
        start = time.perf_counter()
        proc = run_cli(*args, env=env, timeout=timeout, cwd=cwd)
        took = time.perf_counter() - start
        print(f"cifar-tui {shlex.join(args)}: exit {proc.returncode} in {took:.2f} s")
        return proc


@pytest.fixture(scope="session")
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def installed_cli() -> Path:
    script = Path(sys.executable).with_name("cifar-tui")
    if not script.is_file():
        pytest.fail(f"no cifar-tui script beside {sys.executable}: run pip install -e .[dev]")
    return script


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeRun]]:
    monkeypatch.setattr("core.sweeps.loop._release_models", lambda: None)
    FakeRun.reset()
    yield FakeRun
    FakeRun.reset()


# --- trained runs shared by the whole session -----------------------------------------------------


@dataclass(frozen=True)
class TrainedRun:
    """A run trained once per session: how it ended, its directory, the events it sent."""

    status: str
    run_dir: Path
    events: tuple


def _session_dir(factory: pytest.TempPathFactory) -> Path:
    """One folder for the session: under pytest-xdist each worker has a basetemp of its own
    inside the session's, so the workers share its parent."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _made_once(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """``make(folder)`` run by the first test (of any pytest-xdist worker) that asks, under a
    file lock; it returns plain JSON, which that test and every later one read back."""
    shared = _session_dir(factory) / "shared-runs"
    shared.mkdir(exist_ok=True)
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / f"{name}.json"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that died half-way
            folder.mkdir()
            done.write_text(json.dumps(make(folder)))
        return json.loads(done.read_text())


def _train_smoke(folder: Path) -> dict[str, Any]:
    from core.profiles import load_profile
    from core.training.engine import Run

    seen: list = []
    run = Run(load_profile(SMOKE, overrides=list(SHARED_SMOKE)), folder / "runs", seen.append)
    status = run.execute()
    assert run.run_dir is not None
    events = [e.to_dict() for e in seen]
    return {"status": status, "run_dir": str(run.run_dir), "events": events}


@pytest.fixture(scope="session")
def completed_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    from core import events as ev

    made = _made_once(tmp_path_factory, "completed", _train_smoke)
    assert made["status"] == "completed", made["status"]
    events = tuple(ev.from_dict(e) for e in made["events"])
    return TrainedRun(made["status"], Path(made["run_dir"]), events)


@pytest.fixture
def completed_run_copy(completed_run: TrainedRun, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / completed_run.run_dir.name
    shutil.copytree(completed_run.run_dir, copy)
    return copy


@dataclass(frozen=True)
class CliRun:
    """``cifar-tui --run`` as a subprocess, once per session: its output and its one run."""

    proc: subprocess.CompletedProcess[str]
    run_dir: Path


def _jax_smoke_by_cli(folder: Path) -> dict[str, Any]:
    runs = folder / "runs"
    sets = [a for item in JAX_SMOKE for a in ("--set", item)]
    args = ["--run", str(SMOKE), *sets, "--runs-dir", str(runs), "--plain"]
    proc = run_cli(*args, env={"KERAS_BACKEND": "jax"}, timeout=600)
    run_dirs = [str(p) for p in runs.iterdir()] if runs.is_dir() else []
    return {"args": args, "returncode": proc.returncode, "stdout": proc.stdout,
            "stderr": proc.stderr, "run_dirs": run_dirs}  # fmt: skip


@pytest.fixture(scope="session")
def jax_cli_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    pytest.importorskip("jax")
    made = _made_once(tmp_path_factory, "jax-cli", _jax_smoke_by_cli)
    proc = subprocess.CompletedProcess(
        made["args"], made["returncode"], made["stdout"], made["stderr"]
    )
    assert len(made["run_dirs"]) == 1, proc.stdout + proc.stderr  # one run, wherever it ended
    return CliRun(proc, Path(made["run_dirs"][0]))


@pytest.fixture
def lasting_toasts(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.notifications import Notification

    monkeypatch.setattr(Notification, "time_left", property(lambda self: 3600.0))
    monkeypatch.setattr(Notification, "has_expired", property(lambda self: False))
