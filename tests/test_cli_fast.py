"""``--help`` and ``--check`` of a bad profile answer at once: they never import TensorFlow.

Wall times are printed (see them with ``pytest -s``), not asserted: CI machines vary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from core.errors import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]
BAD = "tests/broken_profiles/unknown_key.toml"
HEAVY = ("tensorflow", "keras", "jax", "textual")


def run(args: list[str], label: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return proc


def imported_modules(importtime_stderr: str) -> list[str]:
    """Module names from ``python -X importtime`` lines: 'import time: self | cumulative | name'."""
    names = []
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def heavy(names: list[str]) -> list[str]:
    return [n for n in names if n.split(".")[0] in HEAVY]


def test_help_exits_0_without_tensorflow() -> None:
    proc = run([sys.executable, "-X", "importtime", "-m", "tui.cli.main", "--help"], "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: cifar-tui")
    assert "--check PROFILE" in proc.stdout
    assert "exit codes" in proc.stdout
    names = imported_modules(proc.stderr)
    assert "tui.cli.main" in names or "argparse" in names  # the importtime lines were read
    assert heavy(names) == []


def test_check_of_a_bad_profile_exits_2_without_tensorflow() -> None:
    proc = run(
        [sys.executable, "-X", "importtime", "-m", "tui.cli.main", "--check", BAD], "--check (bad)"
    )
    assert proc.returncode == EXIT_USAGE
    assert "cifar-tui: error: " in proc.stderr
    assert 'did you mean "learning_rate"' in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    names = imported_modules(proc.stderr)
    assert "core.profiles" in names
    assert heavy(names) == []


MAIN_SCRIPT = f"""
import sys
from tui.cli.main import main

try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
assert main(["--check", {BAD!r}]) == {EXIT_USAGE}
assert main(["--check", "tests/broken_profiles/valid_base.toml",
             "--hparams", "tests/broken_profiles/hparams/sets_model.toml"]) == {EXIT_USAGE}
assert main(["--check", "tests/broken_profiles/valid_base.toml", "--set", "train.epochs"]) == 2
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
assert not heavy, heavy
print("ok")
"""


def test_main_in_process_leaves_tensorflow_unimported() -> None:
    proc = run([sys.executable, "-c", MAIN_SCRIPT], "main(--help) + 3 bad --check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("ok")


def test_installed_script_help(installed_cli: Path) -> None:
    """The ``cifar-tui`` entry point that ``pip install`` writes beside this Python works; no
    fallback to ``python -m`` (the fixture fails when the script is missing)."""
    proc = run([str(installed_cli), "--help"], "cifar-tui --help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: cifar-tui" in proc.stdout


def usage_error(args: list[str], label: str) -> subprocess.CompletedProcess[str]:
    """A refused combination of options: exit 2 from argparse, before any module is loaded."""
    proc = run([sys.executable, "-X", "importtime", "-m", "tui.cli.main", *args], label)
    assert proc.returncode == EXIT_USAGE
    assert "Traceback" not in proc.stdout + proc.stderr
    assert heavy(imported_modules(proc.stderr)) == []
    return proc


def test_hparams_with_sweep_is_a_usage_error(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = usage_error(
        [
            "--sweep",
            "profiles/sweeps/smoke-lr.toml",
            "--hparams",
            "profiles/hparams/sgd.toml",
            "--runs-dir",
            str(runs),
        ],
        "--sweep --hparams",
    )
    assert "usage: cifar-tui" in proc.stderr
    assert (
        "cifar-tui: error: --hparams goes with --check or --run: a sweep names its "
        'hyperparameter profile in the sweep file (hparams = "...")'
    ) in proc.stderr
    assert not runs.exists()


def test_markdown_or_csv_without_compare_is_a_usage_error(tmp_path: Path) -> None:
    for option in ("--markdown", "--csv"):
        target = tmp_path / f"out{option.replace('-', '.')}"
        proc = usage_error(["--run", "profiles/smoke.toml", option, str(target)], option)
        assert (
            "cifar-tui: error: --markdown and --csv go with --compare: they export its table"
        ) in proc.stderr
        assert not target.exists()
    proc = usage_error(["--markdown", str(tmp_path / "cmp.md")], "--markdown alone")
    assert "go with --compare" in proc.stderr
