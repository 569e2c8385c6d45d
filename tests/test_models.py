"""The notebook's three networks: exact parameter counts, --check's summary, XLA on JAX, and the
per-image standardization layer. In-process tests use the TensorFlow backend (the default).

Slow: the full-size AlexNet and VGG16 builds, and the two subprocesses (``--check`` of AlexNet,
and AlexNet compiled on JAX, about 10 s each). The fast lane checks vgg_small and AlexNet's
front layers at a small input size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from helpers import PROFILES, REPO, cli_command, cli_env

from core.models import NOTEBOOK_PARAMS, build_model, summarize
from core.profiles import load_profile

#: (total, non-trainable) as printed by the notebook's model.summary() calls.
EXPECTED = {
    "alexnet": (48_930_210, 21_136),
    "vgg16": (33_638_218, 0),
    "vgg_small": (552_874, 1_152),
}


#: The layers after the input, up to the first convolution: AlexNet augments on the device.
FRONT = {
    "alexnet": ["standardize", "resize", "random_flip", "random_rotation"],
    "vgg16": ["standardize", "resize"],
    "vgg_small": ["standardize"],
}


#: Each network as a test parameter: the full-size AlexNet and VGG16 builds (tens of millions
#: of weights, seconds each) are slow; vgg_small keeps the same checks in the fast lane.
ARCHS = [
    pytest.param("alexnet", marks=pytest.mark.slow),
    pytest.param("vgg16", marks=pytest.mark.slow),
    "vgg_small",
]


@pytest.fixture(scope="module")
def model() -> Iterator[Callable[[str], Any]]:
    """``model(arch)``: the network as its shipped profile builds it, built once per module on
    first use (AlexNet and VGG16 hold tens of millions of weights)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("in-process model tests run on the TensorFlow backend")
    keras = pytest.importorskip("keras")
    built: dict[str, Any] = {}

    def get(arch: str):
        if arch not in built:
            start = time.perf_counter()
            built[arch] = build_model(load_profile(PROFILES / f"{arch}.toml"))
            print(f"built {arch} in {time.perf_counter() - start:.1f} s")
        return built[arch]

    yield get
    built.clear()
    keras.backend.clear_session()


def test_core_table_matches_the_notebook() -> None:
    assert NOTEBOOK_PARAMS == EXPECTED


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_match_the_notebook(model, arch: str) -> None:
    summary = summarize(model(arch))
    total, non_trainable = EXPECTED[arch]
    assert summary.name == arch
    assert summary.total == total
    assert summary.non_trainable == non_trainable
    assert summary.trainable == total - non_trainable
    assert sum(row.params for row in summary.rows) == total
    text = summary.to_text()
    assert f"Total params: {total:,}" in text
    assert f"Non-trainable params: {non_trainable:,}" in text


@pytest.mark.parametrize("arch", ARCHS)
def test_device_models_take_raw_uint8_images(model, arch: str) -> None:
    """Raw 32x32 uint8 images in, ten logits out; standardizing (and resizing and augmenting,
    where the network does) happens in the model, before its first convolution."""
    built = model(arch)
    assert tuple(built.input.shape) == (None, 32, 32, 3)
    assert built.input.dtype == "uint8"
    assert tuple(built.output.shape) == (None, 10)
    names = [layer.name for layer in built.layers]
    front = FRONT[arch]
    assert names[1 : 1 + len(front)] == front, names
    assert names[1 + len(front)].startswith("conv2d"), names


def test_standardize_matches_per_image_standardization(model) -> None:
    import keras
    import tensorflow as tf

    layer = model("vgg_small").get_layer("standardize")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    images[4] = 7  # a flat image: std 0, where the 1/sqrt(N) floor applies
    images[5] = rng.integers(100, 103, size=(32, 32, 3), dtype=np.uint8)  # a low-contrast one
    ours = keras.ops.convert_to_numpy(layer(images))
    theirs = tf.image.per_image_standardization(images).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def _front(order: str, rotation: float):
    """AlexNet's front layers (standardize, flips, rotation, resize to 67) in ``order``."""
    import keras

    profile = load_profile(
        PROFILES / "alexnet.toml",
        overrides=[
            "model.input_size=67",
            f"augment.order={order}",
            f"augment.rotation={rotation}",
        ],
    )
    model = build_model(profile)
    names = [layer.name for layer in model.layers]
    last = names.index("random_rotation" if rotation else "random_flip")
    end = max(last, names.index("resize"))
    front = keras.Model(model.input, model.layers[end].output)
    return front, names[1:5] if rotation else names[1:4]


def test_augment_first_flips_exactly_as_the_notebook_order() -> None:
    """Flipping commutes with the resize: augmenting at 32x32 first gives the same images."""
    import keras

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    late, late_names = _front("resize_first", 0.0)
    early, early_names = _front("augment_first", 0.0)
    assert late_names == ["standardize", "resize", "random_flip"]
    assert early_names == ["standardize", "random_flip", "resize"]
    a = keras.ops.convert_to_numpy(late(images, training=True))
    b = keras.ops.convert_to_numpy(early(images, training=True))
    assert a.shape == b.shape == (8, 67, 67, 3)
    # Some images were flipped (they differ from the unaugmented resize), in the same way.
    plain = keras.ops.convert_to_numpy(late(images, training=False))
    assert np.abs(a - plain).max() > 0.1
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_augment_first_rotates_at_the_input_size() -> None:
    _, names = _front("augment_first", 0.2)
    assert names == ["standardize", "random_flip", "random_rotation", "resize"]


def test_augment_first_needs_device_preprocessing() -> None:
    from core.errors import ProfileError

    needs = r'augment\.order.*needs pipeline\.preprocess = "device"'
    with pytest.raises(ProfileError, match=needs):
        load_profile(PROFILES / "alexnet-host.toml", overrides=["augment.order=augment_first"])


JAX_SCRIPT = """
import json
import keras
from core.models import build_model, supports_jit
from core.profiles import load_profile

profile = load_profile("profiles/alexnet.toml", overrides=["model.input_size=67"])
model = build_model(profile)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile="auto")
print(json.dumps({
    "backend": keras.backend.backend(),
    "jit_compile": model.jit_compile,
    "supports_jit": supports_jit(model),
    "rotation": type(model.get_layer("random_rotation")).__name__,
}))
"""


@dataclass
class Launched:
    """A subprocess started early, so it runs while the in-process models build."""

    label: str
    proc: subprocess.Popen
    start: float = field(default_factory=time.perf_counter)

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=300)
        print(f"{self.label}: {time.perf_counter() - self.start:.1f} s after its start")
        return self.proc.returncode, out, err


def _launch(label: str, args: list[str], env: dict[str, str]) -> Launched:
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Launched(label, proc)


@pytest.fixture(scope="module")
def launched() -> Iterator[dict[str, Launched]]:
    """The two slow subprocesses (about 10 s each), started together so that they overlap;
    only the slow tests ask for them, so the fast lane never starts them."""
    procs = {
        "check": _launch(
            "cifar-tui --check profiles/alexnet.toml",
            cli_command("--check", "profiles/alexnet.toml"),
            cli_env({"KERAS_BACKEND": None}),
        )
    }
    if importlib.util.find_spec("jax") is not None:
        jax_env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
        procs["jax"] = _launch("JAX build + compile", [sys.executable, "-c", JAX_SCRIPT], jax_env)
    yield procs
    for item in procs.values():
        if item.proc.poll() is None:
            item.proc.kill()
            item.proc.communicate()


@pytest.mark.slow
def test_check_alexnet_prints_the_notebook_counts(launched) -> None:
    returncode, out, err = launched["check"].finish()
    assert returncode == 0, out + err
    assert out.startswith("profiles/alexnet.toml: valid."), out[:200]
    assert "Total params: 48,930,210" in out
    assert "Non-trainable params: 21,136" in out
    assert "Traceback" not in out + err


@pytest.mark.slow
def test_alexnet_with_rotation_compiles_with_xla_on_jax(launched) -> None:
    if "jax" not in launched:
        pytest.skip("jax is not installed")
    returncode, out, err = launched["jax"].finish()
    assert returncode == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {
        "backend": "jax",
        "jit_compile": True,
        "supports_jit": True,
        "rotation": "JitRandomRotation",
    }
