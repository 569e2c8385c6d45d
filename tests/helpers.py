"""Plain constants and functions shared by the test modules (no tests, no fixtures here).

They are importable (``from helpers import MINI, cli_command``) because some are needed while a
module is collected: in ``skipif`` marks, ``parametrize`` lists and module-level paths. The
fixtures built on them live in ``conftest.py``; read its docstring first.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

#: The repository root: tests run their subprocesses from here.
REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
SMOKE = PROFILES / "smoke.toml"
#: The overrides of the session's shared completed run (conftest.py's ``completed_run``): two
#: epochs of 4 steps (batch 50 pinned, whatever the shipped profile says), 60 test images.
SHARED_SMOKE = (
    "train.epochs=2",
    "data.synthetic_train=300",
    "data.synthetic_test=60",
    "train.batch_size=50",
)
#: The overrides of the session's shared JAX run by the command (conftest.py's ``jax_cli_run``).
JAX_SMOKE = ("train.epochs=1", "data.synthetic_train=300", "data.synthetic_test=60")


def _shared_data() -> Path:
    """``../shared/data`` beside the repository (or ``shared/data`` inside it, where a copy of
    the tree carries it), resolved: shared/ may be a link, and the code reports data paths
    resolved, so tests compare against the resolved path."""
    for candidate in (REPO.parent / "shared" / "data", REPO / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return REPO.parent / "shared" / "data"


SHARED_DATA = _shared_data()
#: The real CIFAR-10 sample: 100 train and 20 test JPEGs per class (1,200 files).
MINI = SHARED_DATA / "cifar10-mini"
#: All 60,000 CIFAR-10 images as an image-folder tree in one archive (19 MB).
JPEG_ARCHIVE = SHARED_DATA / "cifar10-jpeg.tar.gz"
NO_MINI = f"real CIFAR-10 sample not found at {MINI} (../shared beside the repo)"
NO_ARCHIVE = f"CIFAR-10 archive not found at {JPEG_ARCHIVE} (../shared beside the repo)"


# --- the command line as a subprocess -----------------------------------------------------------


def cli_command(*args: str) -> list[str]:
    """argv for ``cifar-tui ARGS`` run by this interpreter, so it is this checkout's code
    whether or not the package is installed (the installed script has its own test)."""
    return [sys.executable, "-m", "tui.cli.main", *args]


def cli_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment a CLI subprocess gets: this one without NO_COLOR (output is checked as a
    pipe sees it, whatever the developer's shell sets), then ``changes``; None removes a name."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    for name, value in (changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 300,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``cifar-tui ARGS`` to completion from the repository root, output captured as text.
    ``env`` changes :func:`cli_env`'s environment (None removes a variable)."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd,
    )


def start_cli(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path = REPO
) -> subprocess.Popen[str]:
    """``cifar-tui ARGS`` started and left running, stdout and stderr piped as text: for tests
    that read its output as it comes, signal it, or overlap it with other work."""
    return subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
        cwd=cwd,
    )


# --- reading what the project writes -------------------------------------------------------------


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text`` as a list of rows keyed by header."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            header, _, *rows = block
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return tables


def assert_progress_shows_each_epoch_complete(progress: list, epochs: int) -> None:
    """Steps only move forward within an epoch, and each epoch's last progress event is
    steps/steps with that batch's (finite) loss."""
    for epoch in range(1, epochs + 1):
        mine = [p for p in progress if p.epoch == epoch]
        assert mine, f"no progress in epoch {epoch}"
        steps = [p.step for p in mine]
        assert steps == sorted(steps) and all(0 < s <= mine[0].steps for s in steps), steps
        assert mine[-1].step == mine[-1].steps and math.isfinite(mine[-1].loss), mine[-1]


def read_line(proc: subprocess.Popen[str], prefix: str, seen: list[str], timeout: float = 240):
    """Read ``proc``'s stdout until a line starts with ``prefix`` (every line kept in ``seen``);
    fail with what it printed if it never does (no fixed sleep: the line is the signal)."""
    import pytest

    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return
    proc.kill()
    pytest.fail(f"never printed {prefix!r}:\n{''.join(seen)}")


def read_pty_until(
    fd: int, into: bytearray, condition: Callable[[], bool], timeout: float, what: str
) -> None:
    """Read a pty into ``into`` until ``condition`` holds (an empty ``what``: until timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            assert not what, f"timed out after {timeout:.0f} s waiting for {what}"
            return
        if select.select([fd], [], [], min(left, 0.2))[0]:
            try:
                into += os.read(fd, 65536)
            except OSError:  # the other side closed
                return


@contextlib.contextmanager
def console_in_pty(argv: list[str]) -> Iterator[tuple[subprocess.Popen, int, bytearray]]:
    """``argv`` (a console) started in a pty of its own session, as a terminal would; yields
    the process, the pty's master end and the bytes read so far (see :func:`read_pty_until`),
    and kills what is left of it at the end."""
    import pty

    master, slave = pty.openpty()
    env = cli_env({"TERM": "xterm-256color", "COLUMNS": None, "LINES": None})
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, start_new_session=True
    )
    os.close(slave)
    try:
        yield proc, master, bytearray()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(master)
