"""``model.keras``: a completed run's final model, and what input it takes.

The recorder calls ``save_atomically`` (it owns the run's files): Keras writes the model to a
temporary name beside it, which is synced and then renamed over ``model.keras``, so a reader (or
a kill) never meets half a file. ``input_spec`` says in the report what the model expects, so a
user who loads it does not have to guess: with ``pipeline.preprocess = "device"`` the
standardization and resize are layers inside it and it takes raw uint8 32x32 RGB images; with
``"host"`` they happened outside and it takes standardized float32 images at its input size.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Profile

MODEL_FILE = "model.keras"
#: Keras picks its format from the name's suffix: the temporary name keeps ".keras".
TEMP_FILE = ".model.tmp.keras"


def input_spec(profile: Profile) -> dict[str, Any]:
    """What ``model.keras`` takes, for report.json's ``saved_model``."""
    size = profile.model.input_size or 32
    if profile.pipeline.preprocess == "device":
        return {
            "preprocessing_inside": True,
            "dtype": "uint8",
            "shape": [32, 32, 3],
            "text": "raw uint8 RGB images, shape (N, 32, 32, 3), pixel values 0-255: its "
            "preprocessing layers (per-image standardization"
            + (f", resize to {size}x{size}" if size != 32 else "")
            + ") are inside the model",
        }
    return {
        "preprocessing_inside": False,
        "dtype": "float32",
        "shape": [size, size, 3],
        "text": f"float32 RGB images, shape (N, {size}, {size}, 3), each standardized per image "
        "(tf.image.per_image_standardization)"
        + (f" after a bilinear resize from 32x32 to {size}x{size}" if size != 32 else "")
        + ": preprocessing ran outside the model (pipeline.preprocess = host)",
    }


def save_atomically(
    run_dir: Path, save: Callable[[Path], None], spec: dict[str, Any]
) -> dict[str, Any]:
    """Write ``model.keras`` with ``save(path)``; returns report.json's ``saved_model``."""
    target, temp = run_dir / MODEL_FILE, run_dir / TEMP_FILE
    start = time.perf_counter()
    try:
        temp.unlink(missing_ok=True)  # a killed save's leftover
        save(temp)
        with open(temp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return {
        "file": MODEL_FILE,
        "bytes": target.stat().st_size,
        "seconds": round(time.perf_counter() - start, 3),
        "input": spec,
    }
