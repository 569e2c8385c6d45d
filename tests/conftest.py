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
- ``fake_run``: the stand-in engine (``tests/fakes.py``'s FakeRun, returned) reset before and
  after the test, and the sweep loop's "free the finished run's models" made a no-op: FakeRun
  builds no model, and that step's ``gc.collect()`` costs about a second a run once TensorFlow
  is loaded in the test process. Every test that runs sweeps or studies on FakeRun asks for it
  (``pytestmark = pytest.mark.usefixtures("fake_run")``).

Plain constants and functions (paths such as REPO, SMOKE, MINI, and ``cli_command``,
``cli_env``, ``run_cli``, ``start_cli`` for subprocesses a fixture cannot express, such as
one left running) live in ``tests/helpers.py``, importable with ``from helpers import ...``:
module-level ``skipif`` marks and ``parametrize`` lists need them at collection time.

Markers: ``@pytest.mark.slow`` on every test that trains a model or otherwise takes more than a
few seconds (see pyproject.toml). ``pytest -m "not slow"`` is the fast lane for daily work;
CI runs everything.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fakes import FakeRun
from helpers import JPEG_ARCHIVE, MINI, NO_ARCHIVE, NO_MINI, REPO, run_cli


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
