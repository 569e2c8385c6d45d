"""``cifar-tui --predict RUN_DIR IMAGE...``: a saved run's model on image files or folders.

Each image gets one line on stdout: its path and the three likeliest classes with their
probabilities, in the run's class names. An image that cannot be read gets one line on stderr
and the exit code is 2, after the others are printed. Which model answered (``model.keras``, or
the checkpoint a run without one was rebuilt from, and why) is said first, on stderr, so stdout
holds the predictions alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from core.errors import EXIT_OK, EXIT_USAGE, RunDirError
from core.format import percent

TOP = 3


def predict(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from core.predict import ImageError, image_paths, read_image

    out, err = out or sys.stdout, err or sys.stderr
    run_dir, names = Path(args.predict[0]), args.predict[1:]
    if not run_dir.is_dir() and not (run_dir.suffix == ".onnx" and run_dir.is_file()):
        raise RunDirError(f"{run_dir}: no such run directory (or exported .onnx file)")
    paths, problems = image_paths(names)
    images: list[np.ndarray] = []
    readable: list[Path] = []
    for path in paths:
        try:
            images.append(read_image(path))
            readable.append(path)
        except ImageError as exc:
            problems.append((str(path), str(exc)))
    if readable:
        _print_predictions(run_dir, readable, np.stack(images), out, err, args)
    for name, problem in problems:
        print(f"cifar-tui: {name}: {problem}", file=err, flush=True)
    return EXIT_USAGE if problems else EXIT_OK


def _print_predictions(
    run_dir: Path,
    paths: list[Path],
    images: np.ndarray,
    out: TextIO,
    err: TextIO,
    args: argparse.Namespace,
) -> None:
    from core.predict import load_onnx_model, load_run_model, top_classes
    from core.predict import predict as run_predict
    from core.quiet import quiet_native_stderr

    if run_dir.is_file():  # an exported .onnx: ONNX Runtime, no Keras
        model = load_onnx_model(run_dir)
        print(f"model: {run_dir}", file=err, flush=True)
    else:
        with quiet_native_stderr():
            import keras  # noqa: F401 - TensorFlow's start-up chatter silenced
        model = load_run_model(run_dir)
        if model.note:
            print(f"note: {model.note}", file=err, flush=True)
        print(f"model: {run_dir / model.source}", file=err, flush=True)
    probabilities = run_predict(model, images)
    if getattr(args, "probabilities", None):
        _write_probabilities(Path(args.probabilities), paths, probabilities, model.class_names)
    for path, row in zip(paths, probabilities, strict=True):
        best = top_classes(row, model.class_names, TOP)
        text = ", ".join(f"{name} {percent(p)}" for name, p in best)
        print(f"{path}: {text}", file=out, flush=True)


def _write_probabilities(
    target: Path, paths: list[Path], probabilities: np.ndarray, names: tuple[str, ...]
) -> None:
    """Every image's class probabilities as CSV (full precision), one row per image."""
    import csv
    import io

    from core.storage.rundir import atomic_write

    lines: list[list[str]] = [["image", *names]]
    lines += [
        [str(path), *(repr(float(p)) for p in row)]
        for path, row in zip(paths, probabilities, strict=True)
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    atomic_write(target, buffer.getvalue())
