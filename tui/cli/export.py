"""``cifar-tui --export RUN_DIR [--format onnx|saved_model|keras] [--output PATH]``.

Writes the run's inference model (core/export.py) and prints one short block: what it wrote,
the input and output it expects, and how to load it. ONNX and SavedModel are made on Keras's
TensorFlow backend whatever KERAS_BACKEND says (a JAX run's model.keras loads there too), so
the backend is set before Keras is first imported.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from core.errors import EXIT_FAILED, EXIT_OK, CifarTuiError, RunDirError

DEFAULT_FORMAT = "onnx"


def export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from core.export import TITLES, export_run, require, why
    from core.storage.rundir import is_live, looks_like_run

    out = out or sys.stdout
    run_dir, fmt = Path(args.export), args.format or DEFAULT_FORMAT
    require(fmt)  # a missing exporter: one line, before anything is loaded
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not looks_like_run(run_dir):
        raise RunDirError(f"{run_dir}: not a run directory (no report.json or profile.toml)")
    if args.output is None and is_live(run_dir):
        raise RunDirError(
            f"{run_dir} is still running: its own files are its recorder's until it ends; "
            "--output PATH exports its last checkpoint elsewhere"
        )
    if fmt != "keras" and "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        done = export_run(run_dir, fmt, args.output)
    except CifarTuiError:
        raise
    except Exception as exc:  # the exporter's own failure: one line, exit 1
        print(f"cifar-tui: error: the {TITLES[fmt]} export failed: {why(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if done.note:
        print(f"note: {done.note}", file=sys.stderr, flush=True)
    print(
        f"exported {done.path} ({TITLES[fmt]}, {done.bytes / 1e6:.1f} MB) "
        f"from {run_dir / done.source}\n"
        f"  input:  {done.input}\n"
        f"  output: {done.output}\n"
        f"  load:   {done.load}\n"
        f"  needs:  {done.needs}",
        file=out,
        flush=True,
    )
    return EXIT_OK
