"""A run's model for use without cifar-tui: ONNX, TensorFlow SavedModel, or an inference .keras.

``model.keras`` is the model as it trained: its augmentation and dropout layers travel with it,
and its ``Standardize`` layer is cifar-tui's own code, so it loads only where cifar-tui is
installed. An export is the inference model alone: the network and its preprocessing
(per-image standardization, and the resize for a network that sees more than 32x32), with every
random layer left out and every layer at float32. It always takes what ``--predict`` takes, raw
uint8 RGB images (N, 32, 32, 3), named ``images``, and gives the class probabilities (N, K),
named ``probabilities``, whether the run standardized on the device or the host.

ONNX and SavedModel are written by Keras's own ``model.export`` on TensorFlow (tf2onnx for ONNX);
neither file needs Python code to load. The exporters are the optional extra ``[export]``: they
are imported here only, and a missing one is one line naming what to install (exit 2). A run
made on JAX exports the same way: its ``model.keras`` loads on any backend, and this module's
command (``python -m core.export``) runs the export on TensorFlow in a process of its own when
the calling process's Keras is on another backend. Every export is written to a temporary name
beside its target and renamed, so a reader (or a kill) never meets half a file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.config import EXPORT_FORMATS
from core.errors import CifarTuiError

FORMATS = EXPORT_FORMATS  # ("onnx", "saved_model", "keras"), as the profile's [export] takes
#: Where a run's exports go by default (beside model.keras), and their names there.
EXPORT_DIR = "export"
FILE_NAMES = {"onnx": "model.onnx", "saved_model": "saved_model", "keras": "model.keras"}
TITLES = {"onnx": "ONNX", "saved_model": "TensorFlow SavedModel", "keras": "Keras (.keras)"}
#: What each format needs to be written (the ``[export]`` extra), in the order to check them.
NEEDS = {"onnx": ("tensorflow", "tf2onnx", "onnx"), "saved_model": ("tensorflow",), "keras": ()}
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
#: Layers that only matter while training: an inference model leaves them out.
TRAINING_ONLY = (
    "RandomFlip",
    "RandomRotation",
    "JitRandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomCrop",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
)


class ExportError(CifarTuiError):
    """An export that cannot be made as asked (exit 2); its message is one line."""


@dataclass
class Exported:
    """One written export, as the command prints it and report.json keeps it."""

    format: str
    path: str
    bytes: int
    seconds: float
    source: str  # what it was exported from: "model.keras" or a checkpoint
    classes: list[str]
    input: str
    output: str
    load: str  # how to load it, one line of Python
    needs: str  # what loading it needs
    note: str = ""  # why a checkpoint stood in for model.keras

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not an export format: one of " + ", ".join(FORMATS))


def missing_packages(fmt: str) -> list[str]:
    """The packages ``fmt`` needs that this Python cannot import (found without importing)."""
    return [name for name in NEEDS[fmt] if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that fails, or sys.modules[name] = None
        return False


def require(fmt: str) -> None:
    """One line saying what to install when ``fmt`` cannot be written here."""
    check_format(fmt)
    absent = missing_packages(fmt)
    if absent:
        names = " and ".join(absent)
        raise ExportError(
            f"the {TITLES[fmt]} export needs {names}, not installed for {sys.executable}: "
            f"pip install 'cifar-tui[export]' (or pip install {' '.join(absent)})"
        )


def default_path(run_dir: Path, fmt: str) -> Path:
    return Path(run_dir) / EXPORT_DIR / FILE_NAMES[fmt]


def export_target(run_dir: Path, fmt: str, output: Path | str | None) -> Path:
    """Where the export goes: ``RUN_DIR/export/`` by default; ``output`` as given, or inside
    it when it is a folder (a SavedModel folder itself is replaced)."""
    if output is None:
        return default_path(run_dir, fmt)
    target = Path(output)
    if target.is_dir() and not (fmt == "saved_model" and (target / "saved_model.pb").exists()):
        target = target / FILE_NAMES[fmt]
    if fmt == "saved_model" and target.exists() and not target.is_dir():
        raise ExportError(f"--output {target}: a SavedModel is a folder, and this is a file")
    if fmt != "saved_model" and target.is_dir():
        raise ExportError(f"--output {target}: a folder is in the way of the {fmt} file")
    if fmt == "keras" and target.suffix != ".keras":
        raise ExportError(f"--output {target}: a Keras model file's name ends in .keras")
    return target


def export_run(run_dir: Path | str, fmt: str, output: Path | str | None = None) -> Exported:
    """Export the run's model (model.keras, or its last checkpoint) as ``fmt`` to ``output``
    (default: ``RUN_DIR/export/``). ONNX and SavedModel need Keras on TensorFlow: a process on
    another backend runs them in a child process (:func:`export_in_child`)."""
    require(fmt)
    run_dir = Path(run_dir)
    target = export_target(run_dir, fmt, output)
    if fmt != "keras" and _keras_backend() != "tensorflow":
        return export_in_child(run_dir, fmt, target)
    from core.predict import load_run_model
    from core.quiet import quiet_native_stderr

    with quiet_native_stderr():
        import keras  # noqa: F401 - TensorFlow's start-up chatter silenced
    start = time.perf_counter()
    run_model = load_run_model(run_dir)
    model = inference_model(run_model.model, run_model.spec)
    classes = list(run_model.class_names)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, lambda temp: _WRITERS[fmt](model, temp, classes))
    except OSError as exc:
        raise ExportError(f"{target}: cannot be written: {exc.strerror or exc}") from None
    return Exported(
        format=fmt,
        note=run_model.note,
        path=str(target),
        bytes=_size(target),
        seconds=round(time.perf_counter() - start, 3),
        source=run_model.source,
        classes=classes,
        input=f'"{INPUT_NAME}": uint8 (N, 32, 32, 3), RGB pixel values 0-255 '
        "(standardization" + _resize_note(model) + " inside)",
        output=f'"{OUTPUT_NAME}": float32 (N, {len(classes)}), the class probabilities in '
        "this order: " + ", ".join(classes),
        load=load_line(fmt, target),
        needs=LOAD_NEEDS[fmt],
    )


#: What loading each export needs.
LOAD_NEEDS = {
    "onnx": "onnxruntime and numpy only",
    "saved_model": "tensorflow only",
    "keras": "cifar-tui installed (its Standardize layer is cifar-tui's code)",
}


def load_line(fmt: str, path: Path) -> str:
    """How to load the export, one line of Python (``batch``: uint8 (N, 32, 32, 3))."""
    where = json.dumps(str(path))
    if fmt == "onnx":
        return f'onnxruntime.InferenceSession({where}).run(None, {{"{INPUT_NAME}": batch}})[0]'
    if fmt == "saved_model":
        # Kept in a name: serve() on a temporary loses its variables to the garbage collector.
        return f"model = tf.saved_model.load({where}); model.serve(batch).numpy()"
    return (
        "from core.predict import register_layers; register_layers(); "
        f"keras.saving.load_model({where}).predict(batch)"
    )


def _resize_note(model: Any) -> str:
    """ ", resize to 224x224" for a model with a resize front, else nothing."""
    for layer in model.layers:
        if type(layer).__name__ == "Resizing":
            return f", bilinear resize to {layer.height}x{layer.width}"
    return ""


def _keras_backend() -> str:
    """The backend of the Keras this process uses (imported already, or to be imported)."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    from core.profiles import keras_backend

    return keras_backend()


# --- the inference model ------------------------------------------------------------------------


def inference_model(model: Any, spec: dict[str, Any]) -> Any:
    """The network as a new float32 functional model on raw uint8 (N, 32, 32, 3) input, its
    training-only layers left out, its other layers rebuilt from their configs with the
    trained weights. A host-preprocessed run gets the standardization (and resize) its
    pipeline did, as layers in front."""
    import keras

    from core.models import _layers

    Standardize, _ = _layers()
    chain = _chain(model)
    inputs = keras.Input(shape=(32, 32, 3), dtype="uint8", name=INPUT_NAME)
    x = inputs
    if not spec.get("preprocessing_inside", True):
        x = Standardize(name="standardize", dtype="float32")(x)
        size = int((spec.get("shape") or [32])[0])
        if size != 32:
            x = keras.layers.Resizing(size, size, name="resize", dtype="float32")(x)
    for layer in chain:
        if type(layer).__name__ in TRAINING_ONLY:
            continue
        config = {**layer.get_config(), "dtype": "float32"}
        twin = type(layer).from_config(config)
        x = twin(x)
        twin.set_weights(layer.get_weights())
    out = keras.Model(inputs, x, name=model.name)
    import numpy as np

    # An export needs a model that has been called; in inference mode, or BatchNormalization
    # would move its statistics toward this blank batch's.
    out(np.zeros((1, 32, 32, 3), np.uint8), training=False)
    return out


def _chain(model: Any) -> list[Any]:
    """The model's layers after its input, checked to form one chain (each layer fed by the
    one before it): the networks cifar-tui builds are such chains."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    previous = None
    for layer in layers:
        sources = [t._keras_history.operation for t in _as_list(layer.input)]
        source = sources[0] if len(sources) == 1 else None
        fed_by_input = previous is None and type(source).__name__ == "InputLayer"
        if source is None or not (fed_by_input or source is previous):
            raise ExportError(
                f"{model.name}: layer {layer.name} is not fed by the layer before it; "
                "only single-chain networks (alexnet, vgg16, vgg_small) can be exported"
            )
        previous = layer
    return layers


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- the writers --------------------------------------------------------------------------------


def _write_onnx(model: Any, path: Path, classes: list[str]) -> None:
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf2onnx's numpy 2 shims warn; nothing to act on
        model.export(str(path), format="onnx", verbose=False)
    proto = onnx.load(str(path))
    _name_onnx_io(proto)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "classes", json.dumps(classes)
    onnx.save(proto, str(path))


def _name_onnx_io(proto: Any) -> None:
    """tf2onnx names the output "Identity:0" and the batch dimension "unk__N": say what they
    are, so the load line and the printed block can name them."""
    graph = proto.graph
    old = graph.output[0].name
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = OUTPUT_NAME
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = OUTPUT_NAME
    graph.output[0].name = OUTPUT_NAME
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


def _write_saved_model(model: Any, path: Path, classes: list[str]) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)
    # TensorFlow Serving's place for files beside the model: the class names, one a line.
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "classes.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")


def _write_keras(model: Any, path: Path, classes: list[str]) -> None:
    model.save(str(path))


_WRITERS = {"onnx": _write_onnx, "saved_model": _write_saved_model, "keras": _write_keras}


def _write_atomically(target: Path, write: Any) -> None:
    """``write(temp)`` beside ``target``, then renamed over it (a directory: the old one is
    moved aside first, then removed)."""
    for stale in target.parent.glob(f".{target.name}.*-*"):
        _remove_if_orphaned(stale)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}{target.suffix}")
    _remove(temp)
    try:
        write(temp)
        if temp.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            if target.exists():
                os.replace(target, old)
            os.replace(temp, target)
            _remove(old)
        else:
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(temp, target)
    except BaseException:
        _remove(temp)
        raise


def _remove_if_orphaned(path: Path) -> None:
    """A killed export's temporary (or set-aside) copy: its process is gone."""
    pid = path.name.rsplit("-", 1)[-1].split(".")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        _remove(path)
    except OSError:  # alive, someone else's
        pass


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


# --- several at once, on TensorFlow from another backend ----------------------------------------


def export_all(run_dir: Path, formats: tuple[str, ...] | list[str]) -> list[Exported | str]:
    """Each format to ``RUN_DIR/export/`` (a completed run's ``[export] formats``): its record,
    or one line saying why it could not be written. Those that need TensorFlow, in a process
    whose Keras is on another backend, are made together in one child process."""
    results: dict[str, Exported | str] = {}
    child = [f for f in formats if f != "keras" and _keras_backend() != "tensorflow"]
    if child:
        results.update(_export_in_child(run_dir, child))
    for fmt in formats:
        if fmt not in results:
            try:
                results[fmt] = export_run(run_dir, fmt)
            except Exception as exc:  # one format's failure leaves the others to be written
                results[fmt] = why(exc)
    return [results[f] for f in formats]


def export_in_child(run_dir: Path, fmt: str, target: Path) -> Exported:
    """One export in a child Python whose Keras is on TensorFlow (this one's is not)."""
    done = _export_in_child(run_dir, [fmt], target)[fmt]
    if isinstance(done, str):
        raise ExportError(done)
    return done


def _export_in_child(
    run_dir: Path, formats: list[str], target: Path | None = None
) -> dict[str, Exported | str]:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    # Absolute paths: the child runs from this package's folder, so that it imports this code.
    argv = [str(Path(run_dir).resolve()), *formats]
    if target is not None:
        argv += ["--output", str(Path(target).resolve())]
    proc = subprocess.run(
        [sys.executable, "-m", "core.export", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    records = {}
    for line in proc.stdout.splitlines():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            record = json.loads(line)
            records[record["format"]] = record["error"] if "error" in record else Exported(**record)
    last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return {f: records.get(f, f"{f} on TensorFlow failed: {last}") for f in formats}


def why(exc: Exception) -> str:
    """One line: a user's error as it reads, anything else with its type."""
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return text if isinstance(exc, CifarTuiError) else f"{type(exc).__name__}: {text}"


def main(argv: list[str]) -> int:
    """``python -m core.export RUN_DIR FORMAT... [--output PATH]`` (one format with --output):
    the exports on this process's Keras, each printed as one JSON line, a failure as
    ``{"format": ..., "error": ...}``."""
    output = None
    if "--output" in argv:
        at = argv.index("--output")
        output, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    run_dir, *formats = argv
    failed = False
    for fmt in formats:
        try:
            done = export_run(run_dir, fmt, output).to_dict()
        except Exception as exc:  # reported to the parent, which keeps the run's results
            done, failed = {"format": fmt, "error": why(exc)}, True
        print(json.dumps(done), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover - run by _export_in_child
    sys.exit(main(sys.argv[1:]))
