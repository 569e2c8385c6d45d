"""The finish stage's test pass and the saved model, for the engine (core/training/engine.py).

One ``predict`` pass over the test set gives the probabilities; the accuracy, the loss, the
per-class accuracies, the confusion matrix and the most confident mistakes all come from them
(core/evaluation.py), so they agree, and the test set is read once, as ``evaluate`` read it.
The pass's time and the numpy work after it are measured and sent in the ``Evaluated`` event.

The final model is saved through the recorder (it owns the run's files) as ``model.keras``. It is
the network alone: its weights, uncompiled. A model saved compiled carries an optimizer, and
one never built makes ``load_model`` warn that its variables do not match the built one's,
while a built one would triple the file (the resume checkpoint keeps the optimizer's state).
``compile`` it to ``evaluate``. The profile's ``[export] formats`` follow it
(``save_exports``). A model that cannot be
saved is a warning, never a failed run: training is over and its figures are recorded.
"""

from __future__ import annotations

import time
from typing import Any

from core.evaluation import evaluate
from core.events import Evaluated, Status
from core.storage import rundir


class TestPassStopped(Exception):
    """A stop (Ctrl+C, SIGTERM, --stop) came during the test pass: honoured after the current
    batch, like one during training. The run ends "stopped" with its epochs saved, and --resume
    runs the test pass again."""


def _stop_between_batches(run: Any) -> Any:
    import keras

    class StopTestPass(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            if run.stop_requested:
                raise TestPassStopped

    return StopTestPass()


def evaluate_test_set(
    run: Any, model: Any, test_ds: Any, data: Any
) -> tuple[float | None, float | None]:
    """Predict the test set once and send what it shows; returns its loss and accuracy."""
    if run.stop_requested:
        raise TestPassStopped
    run.emit(Status("evaluating on the test set"))
    start = time.perf_counter()
    probabilities = model.predict(test_ds, verbose=0, callbacks=[_stop_between_batches(run)])
    predicted = time.perf_counter()
    results = evaluate(probabilities, data.y_test, data.class_names)
    analysed = time.perf_counter()
    report = results.to_report()
    run.emit(
        Evaluated(
            loss=rundir.clean_float(results.loss),
            accuracy=rundir.clean_float(results.accuracy),
            images=len(data.y_test),
            classes=report["classes"],
            per_class=report["per_class"],
            confusion=report["confusion"],
            mistakes=report["mistakes"],
            predict_seconds=round(predicted - start, 3),
            analysis_seconds=round(analysed - predicted, 4),
        )
    )
    return rundir.clean_float(results.loss), rundir.clean_float(results.accuracy)


def save_final_model(run: Any, model: Any) -> None:
    """``model.keras`` in the run directory (atomically, by the recorder); a failure other than a
    full disk is a warning."""
    from core.storage.model_file import input_spec

    run.emit(Status("saving the model"))
    try:
        run.recorder.save_model(lambda path: _save(model, path), input_spec(run.profile))
    except rundir.DiskFull:
        raise
    except Exception as exc:  # a layer Keras cannot serialize: the run's results still stand
        why = f"{exc.__class__.__name__}: {exc}"
        run.warn("model_not_saved", f"model.keras could not be saved: {why}")


def save_exports(run: Any) -> None:
    """The profile's ``[export] formats`` (core/export.py), from the model.keras just saved;
    one that cannot be written is a warning, as an unsaved model is."""
    from core.storage.model_file import MODEL_FILE

    formats = run.profile.export.formats
    if not formats or not (run.run_dir / MODEL_FILE).is_file():
        return
    run.emit(Status("exporting the model: " + ", ".join(formats)))
    try:
        failed = run.recorder.save_exports(formats)
    except rundir.DiskFull:
        raise
    except Exception as exc:  # the run's results still stand
        failed = [(", ".join(formats), f"{type(exc).__name__}: {exc}")]
    for fmt, why in failed:  # a missing exporter package, say
        run.warn("export_failed", f"{fmt} not exported: {why}")


def _save(model: Any, path: Any) -> None:
    """Save the network as a plain functional model (a JAX scan model's subclass is not needed to
    predict and would need registering), uncompiled: no optimizer for load_model to warn about."""
    import keras

    plain = keras.Model(model.inputs, model.outputs, name=model.name)
    plain.save(path)
