"""What a run ran on: versions and devices, recorded in every report."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any


def describe() -> dict[str, Any]:
    """Python, TensorFlow, Keras and backend versions, device names and CPU count."""
    import keras

    backend = keras.backend.backend()
    devices: list[str] = []
    gpu = False
    tf = None
    try:  # the version only: importing TensorFlow under another backend costs seconds
        tf_version: str | None = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        tf_version = None
    if backend == "tensorflow":
        import tensorflow as tf
    if backend == "jax":
        import jax

        devices = [_jax_device_name(d) for d in jax.devices()]
        gpu = any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices())
        backend_version = jax.__version__
    elif backend == "tensorflow" and tf is not None:
        physical = tf.config.list_physical_devices()
        # "/physical_device:CPU:0" -> "CPU:0" (the name already holds the type)
        devices = [d.name.rsplit("physical_device:", 1)[-1] for d in physical]
        gpu = any(d.device_type == "GPU" for d in physical)
        backend_version = tf.__version__
    else:
        backend_version = "unknown"
        devices = ["CPU"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": tf_version,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "devices": devices or ["CPU"],
        "gpu": gpu,
        "cpu_count": os.cpu_count(),
        "argv": sys.argv[:],
    }


def _jax_device_name(device: Any) -> str:
    """ "CPU:0", or "GPU:0 (NVIDIA H100 80GB HBM3)": the kind only where it says more."""
    name = f"{device.platform.upper()}:{device.id}"
    kind = str(getattr(device, "device_kind", "") or "")
    return name if kind.lower() in ("", device.platform.lower()) else f"{name} ({kind})"
