"""Make this Python import like the lent GPU machine's (../shared/device/README.md).

Put this folder first on PYTHONPATH and every Python started there loads it at start-up:

- TensorFlow cannot be imported (``import tensorflow`` raises ModuleNotFoundError and
  ``importlib.util.find_spec("tensorflow")`` is None, as where it is not installed), so code
  that would reach for it on the GPU machine fails here first.
- With $GPU_MACHINE_PACKAGES set (distribution names, space-separated: the wheels a call
  carries), a module installed in site-packages imports only when its distribution is one of
  those or one of the machine's own (MACHINE below): a wheel missing from the call's list
  fails here rather than on the one device call a session gets. Modules outside site-packages
  (the standard library, the project) are not affected.

benchmarks/rehearsal.sh sets both; tests set the first alone with PYTHONPATH.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import sys

#: What the GPU machine has without any wheel: Python 3.12 with JAX (CUDA), PyTorch, numpy,
#: rich, h5py, ml-dtypes, pillow and pytest, and what those depend on.
MACHINE = (
    "jax jaxlib jax-cuda12-plugin jax-cuda12-pjrt numpy scipy opt-einsum ml-dtypes "
    "torch triton filelock typing-extensions sympy mpmath networkx jinja2 markupsafe fsspec "
    "rich markdown-it-py mdurl pygments h5py pillow pytest pluggy iniconfig packaging "
    "pip setuptools wheel"
)
CARRIED = os.environ.get("GPU_MACHINE_PACKAGES", "")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_tensorflow(top: str) -> bool:
    return top == "tensorflow" or top.startswith("tensorflow_") or top == "tf_keras"


STRICT = bool(CARRIED.split())
ALLOWED = frozenset(_normal(name) for name in (MACHINE + " " + CARRIED).split())
_owners: dict[str, list[str]] = {}


def _installed(top: str) -> bool:
    """Whether the top-level module ``top`` comes with a distribution the machine has."""
    if not _owners:
        import importlib.metadata

        _owners.update(importlib.metadata.packages_distributions())
    owners = [_normal(o) for o in _owners.get(top, ())]
    if not owners:
        return True  # no distribution claims it: nothing to judge by
    return any(o in ALLOWED or o.startswith("nvidia-") for o in owners)


def _in_site_packages(spec) -> bool:
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    return any("site-packages" in p or "dist-packages" in p for p in places)


class GpuMachinePathFinder(importlib.machinery.PathFinder):
    """The path finder, blind to what the GPU machine does not have."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if _is_tensorflow(top):
            return None
        spec = super().find_spec(fullname, path, target)
        if spec is None or path is not None or not STRICT:
            return spec  # a submodule: its package was already let through
        if _in_site_packages(spec) and not _installed(top):
            return None
        return spec


sys.meta_path[:] = [
    GpuMachinePathFinder if f is importlib.machinery.PathFinder else f for f in sys.meta_path
]
for _name in [m for m in sys.modules if _is_tensorflow(m.partition(".")[0])]:
    del sys.modules[_name]  # a .pth file may have loaded it already
