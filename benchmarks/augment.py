"""What AlexNet's on-device front costs per batch, in the notebook's order and augmenting first.

The front is the model's weightless first layers: per-image standardization, the resize from
32x32 and the flip + rotation augmentation (``augment.order`` puts the augmentation after the
resize, as the notebook did, or before it, on 49x fewer pixels at 224). Each order is timed as
the training step of the front alone, with a pooling layer and a 10-way softmax behind it so
that ``fit`` has something to train: compiled as cifar-tui compiles, augmentation active,
uint8 batches from memory. Prints milliseconds per batch and seconds per 45,000-image epoch.

    python benchmarks/augment.py                                 # the CPU machine
    KERAS_BACKEND=jax python3 benchmarks/augment.py --batches 200  # the GPU machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCH_IMAGES = 45_000


def time_front(order: str, size: int, batch: int, batches: int, rounds: int) -> list[float]:
    """Seconds per batch of the front's training step, one figure per round after a warm-up."""
    import keras
    import numpy as np

    from core.models import build_model
    from core.profiles import load_profile

    profile = load_profile(
        ROOT / "profiles" / "alexnet.toml",
        overrides=[f"model.input_size={size}", f"augment.order={order}"],
    )
    model = build_model(profile)
    names = [layer.name for layer in model.layers]
    end = max(names.index("random_rotation"), names.index("resize"))
    x = model.layers[end].output
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10, activation="softmax")(x)
    front = keras.Model(model.input, out)
    front.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile="auto")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * batches, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=len(images))
    front.fit(images[: batch * 2], labels[: batch * 2], batch_size=batch, epochs=1, verbose=0)
    per_batch = []
    for _ in range(rounds):
        start = time.perf_counter()
        front.fit(images, labels, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        per_batch.append((time.perf_counter() - start) / batches)
    keras.backend.clear_session()
    return per_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10, help="batches per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    import keras

    rows = []
    for order in ("resize_first", "augment_first"):
        seconds = time_front(order, args.size, args.batch, args.batches, args.rounds)
        median = statistics.median(seconds)
        rows.append(
            {
                "order": order,
                "ms_per_batch": round(1000 * median, 2),
                "rounds_ms": [round(1000 * s, 2) for s in seconds],
                "s_per_epoch": round(median * EPOCH_IMAGES / args.batch, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{keras.backend.backend()}, front to {args.size}x{args.size}, batch {args.batch}, "
        f"{args.batches} batches x {args.rounds} rounds"
    )
    print("| order | ms per batch | s per 45k-image epoch |")
    for r in rows:
        print(f"| {r['order']} | {r['ms_per_batch']:.2f} | {r['s_per_epoch']:.2f} |")
    late, early = rows
    print(f"augment_first / resize_first: {early['ms_per_batch'] / late['ms_per_batch']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
