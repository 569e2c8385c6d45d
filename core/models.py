"""The notebook's three networks, built with Keras 3's public API.

With ``pipeline.preprocess = "device"`` the model takes raw uint8 32x32 batches and does the
per-image standardization, the resize and the augmentation itself, as weightless front layers, so
the host does no per-pixel work and the parameter counts stay those of the notebook's summaries.
Keras is imported inside the functions: building a model is the moment TensorFlow loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import Profile

#: Parameter counts printed by the notebook's model.summary() calls: (total, non-trainable).
NOTEBOOK_PARAMS = {
    "alexnet": (48_930_210, 21_136),
    "vgg16": (33_638_218, 0),
    "vgg_small": (552_874, 1_152),
}


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int


@dataclass
class ModelSummary:
    name: str
    rows: list[LayerRow]
    total: int
    trainable: int

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    def to_text(self) -> str:
        width = max([len(r.name) + len(r.kind) + 3 for r in self.rows] + [20])
        lines = [
            f'Model: "{self.name}"',
            f"{'Layer (type)':<{width}}  {'Output Shape':<24}  Param #",
        ]
        lines.append("=" * (width + 36))
        for r in self.rows:
            lines.append(
                f"{f'{r.name} ({r.kind})':<{width}}  {r.output_shape:<24}  {r.params:>10,}"
            )
        lines.append("=" * (width + 36))
        lines.append(f"Total params: {self.total:,}")
        lines.append(f"Trainable params: {self.trainable:,}")
        lines.append(f"Non-trainable params: {self.non_trainable:,}")
        return "\n".join(lines)


def _layers():
    import keras

    @keras.saving.register_keras_serializable(package="cifar_tui")
    class Standardize(keras.layers.Layer):
        """Per-image standardization, as ``tf.image.per_image_standardization`` computes it."""

        def call(self, x):
            from keras import ops

            x = ops.cast(x, "float32")
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.std(x, axis=(1, 2, 3), keepdims=True)
            n = x.shape[1] * x.shape[2] * x.shape[3]
            return (x - mean) / ops.maximum(std, 1.0 / float(n) ** 0.5)

        def compute_output_shape(self, input_shape):
            return input_shape

    @keras.saving.register_keras_serializable(package="cifar_tui")
    class JitRandomRotation(keras.layers.RandomRotation):
        """RandomRotation that does not switch XLA off for the whole model outside TensorFlow.

        Keras marks RandomRotation ``supports_jit = False`` for TensorFlow's sake; one such layer
        makes ``jit_compile="auto"`` compile nothing, and on JAX every step then runs many times
        slower. Its JAX and PyTorch paths trace fine.
        """

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if keras.backend.backend() != "tensorflow":
                self.supports_jit = True

    return Standardize, JitRandomRotation


def build_model(profile: Profile, num_classes: int = 10, *, steps_per_call: int = 1):
    """Build (not compile) the profile's network under its precision policy. With
    ``steps_per_call`` > 1 (JAX) its train step scans over blocks of that many batches."""
    import keras
    from keras import layers

    Standardize, JitRandomRotation = _layers()
    arch = profile.model.architecture
    size = profile.model.input_size
    seed = profile.train.seed
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(profile.train.precision)
    try:

        def augment(x):
            if profile.augment.flip != "none":
                x = layers.RandomFlip(
                    profile.augment.flip, seed=seed, name="random_flip", dtype="float32"
                )(x)
            if profile.augment.rotation > 0:
                x = JitRandomRotation(
                    profile.augment.rotation, seed=seed, name="random_rotation", dtype="float32"
                )(x)
            return x

        if profile.pipeline.preprocess == "device":
            inputs = keras.Input(shape=(32, 32, 3), dtype="uint8", name="images")
            x = Standardize(name="standardize", dtype="float32")(inputs)
            first = profile.augment.order == "augment_first"
            if first:
                x = augment(x)
            if size != 32:
                x = layers.Resizing(size, size, name="resize", dtype="float32")(x)
            if not first:
                x = augment(x)
        else:
            inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="images")
            x = augment(inputs)
        body = {"alexnet": _alexnet, "vgg16": _vgg16, "vgg_small": _vgg_small}[arch]
        from core.training.distribute import replica_layers

        x = body(x, replica_layers(layers))  # BatchNormalization over the global batch
        outputs = layers.Dense(
            num_classes, activation="softmax", dtype="float32", name="predictions"
        )(x)
        if steps_per_call > 1:
            from core.training.scan_steps import scan_model_class

            model = scan_model_class()(inputs, outputs, name=arch)
            model.micro_batch = profile.train.batch_size
            return model
        return keras.Model(inputs, outputs, name=arch)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _alexnet(x, layers):
    """As the notebook's summary shows: 5x5 and 3x3 convs 'same', 1x1 convs, BN everywhere."""
    x = layers.Conv2D(96, 11, strides=4, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(384, 1, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(256, 1, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Flatten()(x)
    for units in (4096, 4096, 1000):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Dropout(0.5)(x)
    return x


def _vgg16(x, layers):
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2, 2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    for _ in range(2):
        x = layers.Dense(4096, activation="relu")(x)
        x = layers.Dropout(0.5)(x)
    return x


def _vgg_small(x, layers):
    for filters, drop in ((32, 0.2), (64, 0.3), (128, 0.4)):
        for _ in range(2):
            x = layers.Conv2D(
                filters, 3, padding="same", activation="relu", kernel_initializer="he_uniform"
            )(x)
            x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(drop)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer="he_uniform")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.5)(x)
    return x


def summarize(model: Any) -> ModelSummary:
    """Layer, output shape and parameters of every layer, with Keras's own counts."""
    import numpy as np

    rows = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        shape = tuple(layer.output.shape)
        rows.append(
            LayerRow(
                layer.name,
                layer.__class__.__name__,
                str(shape).replace(",)", ")"),
                layer.count_params(),
            )
        )
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return ModelSummary(model.name, rows, model.count_params(), trainable)


def supports_jit(model: Any) -> bool:
    """Whether Keras's ``jit_compile="auto"`` would compile this model (every layer allows it)."""
    return all(getattr(layer, "supports_jit", True) for layer in _all_layers(model))


def _all_layers(model: Any):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
