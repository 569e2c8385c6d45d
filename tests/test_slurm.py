"""``--sweep FILE --slurm``: the [slurm] table and the flags, and what the command says
without submitit (core/sweeps/slurm.py). What jobs do on a cluster: tests/test_slurm_cluster.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, SMOKE, cli_env, run_cli

from core.errors import EXIT_USAGE, ProfileError
from core.sweeps.slurm import INSTALL, SlurmSettings, read_settings
from core.sweeps.spec import load_sweep

TINY = ("data.synthetic_train=300", "data.synthetic_test=60", "profiler.trace=false")


def sweep_file(tmp_path: Path, slurm: str = 'executor = "local"\n', rates: str = "0.001") -> Path:
    path = tmp_path / "array.toml"
    path.write_text(
        f'name = "array"\nbase = "{SMOKE}"\n\n[grid]\n"train.learning_rate" = [{rates}]\n\n'
        f"[slurm]\n{slurm}"
    )
    return path


# --- settings ------------------------------------------------------------------------------------


def test_the_slurm_table_and_the_flags_over_it(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, 'partition = "gpu"\ngpus_per_run = 2\ntime_limit = 120\n')
    assert read_settings(path) == SlurmSettings(partition="gpu", gpus_per_run=2, time_limit=120)
    flags = {"partition": None, "gpus_per_run": 4, "array_parallelism": 3}
    settings = read_settings(path, flags)
    assert (settings.partition, settings.gpus_per_run, settings.array_parallelism) == ("gpu", 4, 3)
    assert load_sweep(path).name == "array"  # the table belongs to the sweep file


@pytest.mark.parametrize(
    ("table", "key", "line", "message"),
    [
        (
            "partiton = 1\n",
            "slurm.partiton",
            8,
            'unknown key in [slurm] (did you mean "partition"?)',
        ),
        ("time_limit = 0\n", "slurm.time_limit", 8, "must be an integer >= 1, got 0"),
        ('executor = "cloud"\n', "slurm.executor", 8, 'must be "slurm" or "local", got "cloud"'),
        ("gpus_per_run = true\n", "slurm.gpus_per_run", 8, "must be an integer >= 0, got True"),
    ],
)
def test_a_broken_slurm_table_is_a_located_error(
    tmp_path: Path, table: str, key: str, line: int, message: str
) -> None:
    path = sweep_file(tmp_path, table)
    with pytest.raises(ProfileError) as caught:
        load_sweep(path)  # checked with the rest of the sweep, --slurm or not
    assert (caught.value.key, caught.value.line) == (key, line)
    assert caught.value.message.startswith(message)
    assert str(caught.value).startswith(f"{path}:{line}: {key}: ")


# --- the command line ----------------------------------------------------------------------------


def test_without_submitit_slurm_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['submitit'] = None; from tui.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ["--sweep", str(sweep_file(tmp_path)), "--slurm", "--runs-dir", str(tmp_path / "r")]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert proc.stderr == f"cifar-tui: error: {INSTALL}\n"
    assert 'pip install -e ".[slurm]"' in proc.stderr
    assert not (tmp_path / "r" / "sweeps").exists()


def test_the_core_does_not_import_submitit() -> None:
    code = (
        "import sys, core.sweeps.slurm, core.sweeps.loop, tui.cli.sweep; "
        "print('submitit' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert proc.stdout.strip() == "False", proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slurm"], "--slurm goes with --sweep"),
        (["--sweep", "s.toml", "--partition", "gpu"], "--partition goes with --slurm"),
        (["--sweep", "s.toml", "--slurm", "--parallel", "2"], "not with --parallel"),
    ],
)
def test_slurm_flags_go_with_slurm(args: list[str], message: str) -> None:
    proc = run_cli(*args, timeout=60)
    assert proc.returncode == EXIT_USAGE and message in proc.stderr


# The array's jobs themselves (a preemption, scancel, the time limit, Ctrl+C and the same
# command) run on a real cluster: tests/test_slurm_cluster.py, the `cluster` lane. A study's
# trial requeued on the local executor: tests/test_slurm_study.py.
