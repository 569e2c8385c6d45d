"""Piped and scripted use (issue 25): a closed pipe (``| head``) is a normal end, never a
BrokenPipeError traceback; the command goes on to its own end and exit code."""

from __future__ import annotations

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
