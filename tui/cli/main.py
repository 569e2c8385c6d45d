"""The ``cifar-tui`` command: the console with no arguments, headless modes with flags.

Only argparse and ``core`` (which imports no TensorFlow at import time) load before the mode is
known, so ``--help`` and ``--check`` of a bad profile answer at once, and the console paints
before TensorFlow is imported.

Exit codes: 0 completed, 1 failed or diverged, 2 bad profile / usage / missing data / a run
that is not live, 129 stopped by SIGHUP (the terminal went away), 130 stopped by the user (Ctrl+C,
``--stop``), 143 stopped by SIGTERM. ``--watch`` ends with the watched run's code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.config import EXPORT_FORMATS
from core.errors import EXIT_OK, CifarTuiError

EPILOG = """\
exit codes: 0 completed, 1 failed or diverged, 2 bad profile, usage, data or not live,
  130 stopped (Ctrl+C or --stop), 129 stopped by SIGHUP, 143 stopped by SIGTERM.
examples:
  cifar-tui                                   open the console
  cifar-tui --check profiles/alexnet.toml     validate, print the profile and model summary
  cifar-tui --run profiles/smoke.toml --set train.epochs=5
  cifar-tui --resume runs/20261126-101500-smoke
  cifar-tui --run profiles/alexnet.toml --detach   train on after this terminal closes
  cifar-tui --watch runs/20261126-101500-alexnet   follow it live from any terminal
  cifar-tui --stop runs/20261126-101500-alexnet    stop it after its current batch, saved
  cifar-tui --predict runs/20261126-101500-alexnet cat.png photos/   its model's top 3 classes
  cifar-tui --export runs/20261126-101500-alexnet --format onnx   a model to use without cifar-tui
"""

#: A sweep file names its own hyperparameter profile; said before anything is read or written.
SWEEP_HPARAMS = (
    "--hparams goes with --check or --run: a sweep names its hyperparameter profile "
    'in the sweep file (hparams = "..."), and --set applies to every run'
)


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter is noise in a console or a log file: its logging is
    turned down, and its import (whoever makes it, in whichever thread) writes nothing to fd 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from core.quiet import quiet_imports, silence_retracing_warning

    quiet_imports()
    silence_retracing_warning()  # a sweep's runs retrace by design: not the user's to fix


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cifar-tui",
        description="Run, watch and understand CNN training experiments on CIFAR-10.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", metavar="PROFILE", help="validate a profile and show its model")
    mode.add_argument("--run", metavar="PROFILE", help="train headless and save a run report")
    mode.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed run")
    mode.add_argument("--sweep", metavar="SWEEP", help="run a sweep profile's runs in turn")
    mode.add_argument("--compare", metavar="RUN_DIR", nargs="+", help="compare saved runs")
    mode.add_argument(
        "--predict",
        metavar=("RUN_DIR", "IMAGE"),
        nargs="+",
        help="a saved run's model (or an exported .onnx file) on image files or folders: "
        "the top 3 classes of each",
    )
    mode.add_argument("--watch", metavar="RUN_DIR", help="follow a run live from its files")
    mode.add_argument(
        "--export",
        metavar="RUN_DIR",
        help="a run's inference model for use without cifar-tui (RUN_DIR/export/ by default)",
    )
    mode.add_argument(
        "--stop", metavar="RUN_DIR", help="stop a live run (or sweep) after its current batch"
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="--run, --resume, --sweep: train on in the background, tied to no terminal",
    )
    _add_scale_flags(p)
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="--stop: how long to wait for the run to save (default 300)",
    )
    p.add_argument("--hparams", metavar="FILE", help="hyperparameter profile laid over PROFILE")
    p.add_argument(
        "--set",
        metavar="TABLE.KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one key (repeatable), e.g. train.epochs=5; with --resume only "
        "train.learning_rate (a diverged run needs a new one)",
    )
    p.add_argument("--runs-dir", metavar="DIR", default="runs", help="where runs are saved")
    p.add_argument(
        "--plain",
        action="store_true",
        help="one plain line per epoch (automatic when piped or NO_COLOR is set)",
    )
    p.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="--export: onnx (ONNX Runtime), saved_model (TensorFlow) or keras (default onnx)",
    )
    p.add_argument("--output", metavar="PATH", help="--export: where to write it")
    p.add_argument(
        "--probabilities",
        metavar="FILE",
        help="--predict: also write every image's class probabilities as CSV",
    )
    p.add_argument("--markdown", metavar="FILE", help="--compare: also write a Markdown table")
    p.add_argument("--csv", metavar="FILE", help="--compare: also write a CSV table")
    p.add_argument(
        "--profiles-dir",
        metavar="DIR",
        default="profiles",
        help="console: where model and hyperparameter profiles are listed from",
    )
    return p


#: --slurm's settings; each overrides the sweep file's [slurm] key of the same name.
SLURM_FLAGS = (
    ("--partition", str, "--slurm: the partition to submit to"),
    ("--gpus-per-run", int, "--slurm: GPUs each run's job asks for (default 1)"),
    ("--time-limit", int, "--slurm: minutes per job; a run past it is requeued (default 60)"),
    ("--array-parallelism", int, "--slurm: array tasks running at once (default: all)"),
)


def _add_scale_flags(p: argparse.ArgumentParser) -> None:
    """How a sweep spreads over the machine (core/sweeps/parallel.py)."""
    p.add_argument(
        "--parallel",
        metavar="N",
        type=int,
        help="--sweep: up to N runs at once, each a process of its own on its own GPUs "
        "(on a machine without GPUs they share the CPU cores)",
    )
    p.add_argument(
        "--slurm",
        action="store_true",
        help="--sweep: submit the runs as one Slurm job array through submitit "
        '(pip install -e ".[slurm]"); the sweep file\'s [slurm] table or these flags say where',
    )
    for flag, kind, text in SLURM_FLAGS:
        p.add_argument(flag, type=kind, metavar=flag.strip("-").split("-")[0].upper(), help=text)


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags that go only with some modes, said before anything is read or written."""
    if args.hparams and not (args.check or args.run or args.sweep):
        parser.error("--hparams goes with --check, --run or --sweep")
    if args.overrides and not (args.check or args.run or args.sweep or args.resume):
        parser.error("--set goes with --check, --run, --sweep or --resume")
    if args.hparams and args.sweep:
        parser.error(SWEEP_HPARAMS)
    if (args.markdown or args.csv) and not args.compare:
        parser.error("--markdown and --csv go with --compare: they export its table")
    if args.detach and not (args.run or args.resume or args.sweep):
        parser.error("--detach goes with --run, --resume or --sweep")
    if args.timeout is not None and not args.stop:
        parser.error("--timeout goes with --stop")
    if args.parallel is not None and not args.sweep:
        parser.error("--parallel goes with --sweep")
    if args.parallel is not None and args.parallel < 1:
        parser.error("--parallel takes a number of runs at once, 1 or more")
    if args.slurm and (not args.sweep or args.parallel is not None):
        parser.error("--slurm goes with --sweep (and not with --parallel: Slurm places the runs)")
    if (args.format or args.output) and not args.export:
        parser.error("--format and --output go with --export")
    if args.probabilities and not args.predict:
        parser.error("--probabilities goes with --predict")
    if args.predict is not None and len(args.predict) < 2:
        parser.error("--predict takes a run directory and at least one image file or folder")
    given = [flag for flag, _, _ in SLURM_FLAGS if getattr(args, _dest(flag)) is not None]
    if given and not args.slurm:
        parser.error(f"{given[0]} goes with --slurm")


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def main(argv: list[str] | None = None) -> int:
    from tui.cli.early import early_signals

    with early_signals():  # first: a Ctrl+C while the run starts up is no traceback
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    from tui.cli.pipes import guard_pipes

    guard_pipes()  # "| head": a closed pipe drops the output, never a traceback
    quiet_tensorflow()
    _check_args(parser, args)
    try:
        from tui.cli.early import check_before_keras

        check_before_keras(args)
        if args.check:
            return _check(args)
        return _mode(args, raw)
    except CifarTuiError as exc:
        from core.following.protocol import ERROR_PREFIX  # what a parent reads back

        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return exc.exit_code


def _mode(args: argparse.Namespace, raw: list[str]) -> int:
    """Every mode but --check, each imported only when asked for."""
    if args.detach:
        from tui.cli.detach import detach

        return detach(args, raw)
    if args.watch:
        from tui.cli.watch import watch

        return watch(args)
    if args.stop:
        from tui.cli.stop import stop

        return stop(args)
    if args.run or args.resume:
        from tui.cli.headless import run_headless

        return run_headless(args)
    if args.sweep:
        from tui.cli.sweep import run_sweep

        return run_sweep(args)
    if args.predict:
        from tui.cli.predict import predict

        return predict(args)
    if args.export:
        from tui.cli.export import export

        return export(args)
    if args.compare:
        from tui.cli.compare import compare

        return compare(args)
    from tui.console.terminal import run_console

    return run_console(profiles_dir=Path(args.profiles_dir), runs_dir=Path(args.runs_dir))


def _check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from core.models import build_model, summarize
    from core.profiles import dump_profile, load_profile

    profile = load_profile(args.check, args.hparams, args.overrides)
    console = Console(highlight=False)
    console.print(f"[bold]{args.check}[/]: valid. Resolved profile:\n")
    console.print(dump_profile(profile), markup=False)
    from core.quiet import quiet_native_stderr

    with quiet_native_stderr():
        import keras  # noqa: F401 - loads TensorFlow here, with its chatter silenced
    summary = summarize(build_model(profile))
    console.print(summary_table(summary))
    return EXIT_OK


def summary_table(summary):
    """The model summary as a Rich table: layer, output shape, parameters, then the totals."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Model: {summary.name}")
    table.add_column("Layer (type)")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in summary.rows:
        table.add_row(f"{row.name} ({row.kind})", row.output_shape, f"{row.params:,}")
    totals = Text(
        f"Total params: {summary.total:,}\nTrainable params: {summary.trainable:,}\n"
        f"Non-trainable params: {summary.non_trainable:,}"
    )
    return Group(table, totals)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
