"""Results that read right to a first-time user.

The smoke profile, as shipped, shows learning (validation and test accuracy of 90% or more after
its default epochs); a run too short to learn says so in one line, the same rule in report.md,
the console and the CLI; TensorFlow's start-up chatter never reaches the terminal; report.md's
plots tell train and validation apart without colour.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, SMOKE
from test_tui_helpers import fake_report

from core.hints import FEW_STEPS, hint_for_report, too_short_hint
from core.storage.report import render_markdown

#: What TensorFlow's native libraries print while they load, when nothing silences them.
CHATTER = ("oneDNN custom operations", "cudart_stub", "absl::InitializeLog", "cpu_feature_guard")


def assert_no_chatter(stderr: str) -> None:
    leaked = [line for line in stderr.splitlines() if any(word in line for word in CHATTER)]
    assert not leaked, leaked


@pytest.mark.slow
def test_the_smoke_profile_learns_in_its_default_epochs(cli, tmp_path: Path) -> None:
    start = time.perf_counter()
    proc = cli("--run", str(SMOKE), "--runs-dir", str(tmp_path), "--plain", timeout=300)
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = tmp_path.iterdir()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    epochs = report["epochs"]
    assert len(epochs) == report["profile"]["train"]["epochs"] == 3
    print(f"smoke: {took:.1f} s, " + ", ".join(f"val {e['val_accuracy']:.3f}" for e in epochs))
    assert epochs[-1]["val_accuracy"] >= 0.9, epochs
    assert report["test"]["accuracy"] >= 0.9, report["test"]
    assert "hint:" not in proc.stdout  # it learned: nothing to hint
    assert_no_chatter(proc.stderr)


@pytest.mark.slow
def test_jax_runs_keep_tensorflow_quiet_and_hint_like_the_report(jax_cli_run) -> None:
    """On JAX, Keras imports TensorFlow in the engine's thread to seed it: still no chatter.
    The CLI's hint line follows the same rule as report.md's, on the same run (the session's
    one-epoch smoke run by the command on JAX, conftest.py's jax_cli_run)."""
    proc, run_dir = jax_cli_run.proc, jax_cli_run.run_dir
    assert proc.returncode == 0, proc.stderr
    assert_no_chatter(proc.stderr)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    hint = hint_for_report(report)
    hinted = [line for line in proc.stdout.splitlines() if line.startswith("hint: ")]
    assert hinted == ([f"hint: {hint}"] if hint else [])
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    assert (f"- hint: {hint}" in markdown) if hint else ("- hint:" not in markdown)


def test_quiet_imports_silence_a_chatty_module_imported_in_a_thread(tmp_path: Path) -> None:
    """A module that writes to fd 2 while it loads (as TensorFlow's C++ does), first imported
    in another thread: nothing of it reaches stderr; what is written after still does."""
    (tmp_path / "chatty.py").write_text(
        "import os\nos.write(2, b'native chatter\\n')\nVALUE = 42\n", encoding="utf-8"
    )
    code = (
        "import os, sys, threading\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from core.quiet import quiet_imports\n"
        "quiet_imports(['chatty'])\n"
        "def load():\n"
        "    import chatty\n"
        "    assert chatty.VALUE == 42\n"
        "t = threading.Thread(target=load); t.start(); t.join()\n"
        "os.write(2, b'said after\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "said after\n"


def test_a_run_too_short_to_learn_gets_a_hint() -> None:
    hint = too_short_hint(2, 12, 0.10)
    assert hint is not None and hint.startswith("Too short to learn (2 epoch(s), 12 steps): ")
    assert "10.0% is near chance (10%)" in hint and "more epochs" in hint
    assert too_short_hint(2, 12, 0.45) is None  # it learned something
    assert too_short_hint(50, FEW_STEPS * 10, 0.10) is None  # long and stuck: another problem
    assert too_short_hint(2, None, 0.10) is not None  # steps unknown: few epochs count
    assert too_short_hint(0, None, None) is None


def test_report_md_hints_and_marks_its_series_apart() -> None:
    short = fake_report(epochs=2, test_accuracy=0.1)  # synthetic 600 (100 val), batch 50
    short["epochs"] = [dict(row, val_accuracy=0.1) for row in short["epochs"]]
    markdown = render_markdown(short)
    assert "- hint: Too short to learn (2 epoch(s), 20 steps): 10.0% is near" in markdown
    assert "- hint:" not in render_markdown(fake_report(test_accuracy=0.95))
    stopped = fake_report("stopped", epochs=2, test_accuracy=None)
    assert hint_for_report(stopped) is None  # only a completed run is judged
    # Each series has its own marker, named in the title's key (issue 25: never drawn inside
    # the plot, over the data): no colour needed.
    plots = markdown.split("## Plots")[1].split("## Result")[0]
    assert "(• train  + validation)" in plots and "•• train" not in plots
    assert plots.count("+") > 4 and plots.count("•") > 4
