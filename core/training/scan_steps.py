"""Several training steps in one compiled call on JAX, as Keras already does on TensorFlow.

With ``train.steps_per_execution = N`` Keras's TensorFlow trainer traces N steps into one
``tf.function``; its JAX trainer only loops over them in Python, one dispatch per step, which is
the overhead that bounds a small model on a fast GPU. Here the model's ``train_step`` receives a
block of up to N batches and runs Keras's own step over them with ``jax.lax.scan``: the same step
function, the same order of batches, the same random streams (the seed generators' state is part
of the carried state), so the losses come out as they do step by step (tests/test_backends.py
compares them). The scan is unrolled: rolled, XLA runs the body as a while loop, which on the CPU
was 20x slower (69 against 3.4 s per smoke epoch) and rounded differently (loss 1.72000 against
1.71965); unrolled it is N copies of the one-step program, the same numbers at the same speed
there, dispatched once. The input pipeline hands over the blocks (core/training/pipeline.py), the
last one short when N does not divide the epoch, so no batch is dropped.
"""

from __future__ import annotations

from typing import Any


def scan_model_class() -> Any:
    """The ``keras.Model`` subclass (built lazily: it needs Keras and JAX)."""
    import jax
    import keras

    class ScanSteps(keras.Model):
        """A functional model whose ``train_step`` scans Keras's step over a block of batches."""

        micro_batch: int = 0  # images per step; a block holds up to N of them

        def train_step(self, state, data):
            x, y = data[0], data[1]
            steps = x.shape[0] // self.micro_batch  # static: a short last block traces once more
            xs = x.reshape((steps, self.micro_batch, *x.shape[1:]))
            ys = y.reshape((steps, self.micro_batch, *y.shape[1:]))
            one_step = super().train_step

            def body(carry, batch):
                logs, carry = one_step(carry, batch)
                return carry, logs

            state, logs = jax.lax.scan(body, state, (xs, ys), unroll=True)
            # Keras's logs are running means over the epoch: the last step's are the block's.
            return jax.tree_util.tree_map(lambda v: v[-1], logs), state

    return ScanSteps


def uses_scan(profile: Any) -> bool:
    """Whether this run fuses its steps with ``scan`` (JAX, more than one step per call)."""
    import keras

    return keras.backend.backend() == "jax" and profile.train.steps_per_execution > 1
