"""Piped and scripted use (issue 25): a closed pipe (``| head``) is a normal end, never a
BrokenPipeError traceback; the command goes on to its own end and exit code."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, cli_command, cli_env

TINY = ["--set", "data.synthetic_train=300", "--set", "data.synthetic_test=60",
        "--set", "train.epochs=1", "--set", "profiler.trace=false"]  # fmt: skip


def first_line_then_close(argv: list[str], timeout: float = 600) -> tuple[str, int, str]:
    """What ``argv | head -1`` does: read one line, close the pipe, wait for the command."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=cli_env())  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    try:
        err = proc.stderr.read()
        code = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return line, code, err


def test_the_guard_drops_writes_to_a_closed_pipe() -> None:
    script = (
        "from tui.cli.pipes import guard_pipes\n"
        "guard_pipes()\n"
        "for i in range(200000):\n"
        "    print(i, flush=i % 1000 == 0)\n"
    )
    line, code, err = first_line_then_close([sys.executable, "-c", script])
    assert (line, code) == ("0\n", 0), err
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.slow
def test_a_sweep_piped_into_head_ends_normally(tmp_path: Path) -> None:
    argv = cli_command("--sweep", "profiles/sweeps/smoke-lr.toml", "--runs-dir",
                       str(tmp_path / "runs"), *TINY)  # fmt: skip
    line, code, err = first_line_then_close(argv)
    assert line.strip(), err
    assert code == 0, err  # the sweep went on to its end, saved
    assert "Traceback" not in err and "BrokenPipe" not in err


def stop_detached(runs: Path) -> list[Path]:
    """Every run detached into ``runs``, stopped with ``--stop`` (saved), its child killed if
    it will not stop: the test leaves nothing training."""
    from helpers import run_cli

    from core.storage.control import lock_holder

    run_dirs = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    for run_dir in run_dirs:
        pid = lock_holder(run_dir)
        if pid is None:
            continue
        run_cli("--stop", str(run_dir), timeout=240)
        if lock_holder(run_dir) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return run_dirs


@pytest.mark.slow
def test_detach_piped_into_head_exits_0_with_nothing_on_stderr(tmp_path: Path) -> None:
    """``cifar-tui --run ... --detach | head -1`` as a shell runs it (pipefail: cifar-tui's own
    code): the first line, exit 0, an empty stderr. Then a reader gone before the first line,
    so every line meets a closed pipe whatever the timing (after ``head -1`` the other three
    lines may still fit the pipe before head exits): the same end, and each run is started."""
    runs = tmp_path / "runs"
    argv = cli_command("--run", "profiles/smoke.toml", "--runs-dir", str(runs), *TINY,
                       "--set", "train.epochs=50", "--detach")  # fmt: skip
    try:
        proc = subprocess.run(["bash", "-c", 'set -o pipefail; "$@" | head -1', "bash", *argv],
                              capture_output=True, text=True, cwd=REPO, env=cli_env(),
                              timeout=300)  # fmt: skip
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
        assert proc.stdout.startswith("started ") and proc.stdout.count("\n") == 1, proc.stdout
        assert len(stop_detached(runs)) == 1

        read, write = os.pipe()
        os.close(read)  # the reader is gone before cifar-tui writes anything
        try:
            proc = subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True,
                                  cwd=REPO, env=cli_env(), timeout=300)  # fmt: skip
        finally:
            os.close(write)
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    finally:
        run_dirs = stop_detached(runs)
    assert len(run_dirs) == 2  # the second run started too, its lines dropped


def test_tensorflows_retracing_warning_is_silenced(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from tui.cli.main import quiet_tensorflow

    quiet_tensorflow()
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING):
        logger.warning(
            "5 out of the last 12 calls to <function f at 0x7f> triggered tf.function "
            "retracing. Tracing is expensive and the excessive number of tracings could be due"
        )
        logger.warning("another warning stays")
    assert [r.getMessage() for r in caplog.records] == ["another warning stays"]
