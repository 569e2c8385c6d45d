"""What the per-class figures cost at a run's end: the old test pass against the new one.

Before, the finish stage called ``model.evaluate`` (loss and accuracy). Now it calls
``model.predict`` once and computes the accuracy, the loss, the per-class accuracies, the
confusion matrix and the most confident mistakes from the probabilities in numpy
(core/evaluation.py). This times both on a finished run's model and test set, a few times each,
and sets them against the run's total time::

    python benchmarks/evaluation_cost.py RUN_DIR [--repeat 3]

It prints one JSON object: seconds for evaluate, predict and the numpy work (medians), the
difference, and each as a share of the run's ``timing.total_seconds``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def measure(run_dir: Path, repeat: int) -> dict:
    from core.data import load_dataset
    from core.evaluation import evaluate
    from core.predict import load_run_model, model_input
    from core.storage.rundir import load_run

    record = load_run(run_dir)
    from core.profiles import profile_from_dict

    data = load_dataset(profile_from_dict(record.report["profile"]).data)
    loaded = load_run_model(run_dir)
    model = loaded.model
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = model_input(data.x_test, loaded.spec)
    batch = record.report["profile"]["train"]["batch_size"]
    model.evaluate(x, data.y_test, batch_size=batch, verbose=0)  # compile both once
    model.predict(x, batch_size=batch, verbose=0)
    times: dict[str, list[float]] = {"evaluate": [], "predict": [], "numpy": []}
    for _ in range(repeat):
        start = time.perf_counter()
        model.evaluate(x, data.y_test, batch_size=batch, verbose=0)
        times["evaluate"].append(time.perf_counter() - start)
        start = time.perf_counter()
        probabilities = model.predict(x, batch_size=batch, verbose=0)
        times["predict"].append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate(probabilities, data.y_test, data.class_names)
        times["numpy"].append(time.perf_counter() - start)
    medians = {key: statistics.median(values) for key, values in times.items()}
    total = (record.report.get("timing") or {}).get("total_seconds") or 0.0
    new = medians["predict"] + medians["numpy"]
    return {
        "run": str(run_dir),
        "images": len(data.y_test),
        "seconds": {key: round(value, 4) for key, value in medians.items()},
        "new_minus_old_seconds": round(new - medians["evaluate"], 4),
        "run_total_seconds": total,
        "share_of_run": {
            "evaluate": round(medians["evaluate"] / total, 5) if total else None,
            "predict_and_numpy": round(new / total, 5) if total else None,
            "numpy": round(medians["numpy"] / total, 6) if total else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.run_dir, args.repeat), indent=2))


if __name__ == "__main__":
    main()
