"""A saved run's model, used on images: ``cifar-tui --predict`` and the console's mistakes.

``load_run_model`` loads ``model.keras`` (core/storage/model_file.py). A run without one (it
stopped before its end, or was saved before cifar-tui wrote it) is rebuilt from its profile and
its newest checkpoint that loads, and ``note`` says so. The run's class names come from its
report (the test pass records them) or, for older runs, from its data source. Images are read
as the data sources read them: RGB, 32x32 (others resized bilinearly), and prepared as the run
fed its model (core/storage/model_file.py's input spec). Nothing here writes to the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CifarTuiError, RunDirError
from core.storage.model_file import MODEL_FILE, input_spec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class ImageError(ValueError):
    """An image that cannot be read; its message is one line."""


@dataclass
class RunModel:
    model: Any
    class_names: tuple[str, ...]
    spec: dict[str, Any]  # the input it takes (model_file.input_spec)
    source: str  # "model.keras" or "checkpoint/epoch-0003.weights.h5"
    note: str = ""  # why the checkpoint stood in for model.keras


class OnnxModel:
    """An exported ``.onnx`` file in ONNX Runtime, with ``predict`` as Keras models have it."""

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError:
            raise CifarTuiError(
                f"{path}: an .onnx model needs onnxruntime: pip install 'cifar-tui[export]' "
                "(or pip install onnxruntime)"
            ) from None
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise RunDirError(f"{path} cannot be loaded: {_first_line(exc)}") from None
        first = self.session.get_inputs()[0]
        if first.type != "tensor(uint8)" or list(first.shape[1:]) != [32, 32, 3]:
            raise RunDirError(
                f"{path} takes {first.type} {first.shape}, not the raw uint8 (N, 32, 32, 3) "
                "images cifar-tui's exports take"
            )
        self.input = first.name
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            names = json.loads(meta.get("classes", "null"))
        except ValueError:
            names = None
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            self.class_names = tuple(names)
        else:  # an ONNX file cifar-tui did not write: its classes by number
            self.class_names = tuple(str(i) for i in range(width if isinstance(width, int) else 10))

    def predict(self, x: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        rows = [
            self.session.run(None, {self.input: x[i : i + batch_size]})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(rows)


def load_onnx_model(path: Path | str) -> RunModel:
    """An exported ONNX file (core/export.py) as --predict uses a run's model: it takes raw
    uint8 (N, 32, 32, 3) images, and names its classes in its metadata."""
    path = Path(path)
    model = OnnxModel(path)
    spec = {"preprocessing_inside": True, "dtype": "uint8", "shape": [32, 32, 3], "text": ""}
    return RunModel(model, model.class_names, spec, str(path))


def register_layers() -> None:
    """The project's custom layers are registered when first built: load_model needs them."""
    from core.models import _layers

    _layers()


def load_run_model(run_dir: Path | str) -> RunModel:
    """The run's final model, or its last checkpoint's weights in a rebuilt model."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    report = _report(run_dir)
    profile = _profile(run_dir)
    saved = report.get("saved_model") if isinstance(report.get("saved_model"), dict) else {}
    spec = saved.get("input") if isinstance(saved.get("input"), dict) else None
    path = run_dir / MODEL_FILE
    if path.is_file():
        import keras

        register_layers()
        try:
            # safe_mode: a model file naming code (a Lambda's bytecode, a function of any
            # module) is refused, never run; a shared runs directory may hold any file.
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise RunDirError(f"{path} cannot be loaded: {_first_line(exc)}") from None
        if spec is None and profile is not None:
            spec = input_spec(profile)
        return RunModel(
            model, class_names(run_dir, report, profile), spec or _spec_of(model), "model.keras"
        )
    return _from_checkpoint(run_dir, report, profile)


def _from_checkpoint(run_dir: Path, report: dict[str, Any], profile: Any) -> RunModel:
    status = _status(run_dir)
    why = (
        "it completed before cifar-tui saved one"
        if status == "completed"
        else f"a run saves it when it completes; this one is {status}"
    )
    missing = f"{run_dir} has no {MODEL_FILE} ({why})"
    if profile is None:
        raise RunDirError(f"{missing}, and its profile.toml cannot rebuild the model")
    weights = _checkpoints(run_dir / "checkpoint")
    if not weights:
        raise RunDirError(f"{missing}, and it has no checkpoint to rebuild the model from")
    names = class_names(run_dir, report, profile)
    model, used, failures = _rebuilt(profile, len(names), weights)
    if model is None:
        raise RunDirError(f"{missing}, and no checkpoint loads: " + "; ".join(failures))
    note = f"{missing}: rebuilt {profile.model.architecture} from checkpoint/{used.name}"
    return RunModel(model, names, input_spec(profile), f"checkpoint/{used.name}", note)


def _rebuilt(profile: Any, num_classes: int, weights: list[Path]):
    """The profile's model with the newest weights file that loads (the optimizer is built
    first: the checkpoint holds its state too)."""
    from core.models import build_model
    from core.quiet import quiet_native_stderr

    with quiet_native_stderr():
        import keras  # noqa: F401
    model = build_model(profile, num_classes)
    model.compile(optimizer=profile.train.optimizer, loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    failures = []
    for path in weights:
        try:
            model.load_weights(path)
        except Exception as exc:  # a torn file: try the previous epoch's
            failures.append(f"{path.name}: {_first_line(exc)}")
            continue
        return model, path, failures
    return None, None, failures


def _checkpoints(directory: Path) -> list[Path]:
    """Weights files, the one state.json names first, then the others newest first."""
    from core.storage.checkpoint import WEIGHTS
    from core.storage.rundir import read_state

    found = sorted(
        (p for p in directory.glob("epoch-*.weights.h5") if WEIGHTS.fullmatch(p.name)),
        reverse=True,
    )
    try:
        state = read_state(directory / "state.json")
    except ValueError:
        state = None
    named = directory / state["weights"] if state else None
    if named is not None and named in found:
        found.remove(named)
        found.insert(0, named)
    return found


def _status(run_dir: Path) -> str:
    """The run's status as every reader derives it (a killed run: "interrupted")."""
    from core.storage.rundir import load_run

    try:
        return str(load_run(run_dir).status)
    except CifarTuiError:
        return "unknown"


def _report(run_dir: Path) -> dict[str, Any]:
    from core.storage.rundir import read_json

    try:
        report = read_json(run_dir / "report.json")
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _profile(run_dir: Path) -> Any:
    """The run's resolved profile, or None when profile.toml is missing or no longer valid."""
    from core.profiles import Layer, read_toml, resolve

    path = run_dir / "profile.toml"
    if not path.is_file():
        return None
    try:
        return resolve([Layer(str(path), read_toml(path).raw)], check_data=False)
    except CifarTuiError:
        return None


def class_names(run_dir: Path, report: dict[str, Any], profile: Any) -> tuple[str, ...]:
    """The run's class names: as its test pass recorded them, else from its data source."""
    test = report.get("test") if isinstance(report.get("test"), dict) else {}
    names = test.get("classes")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return tuple(names)
    if profile is None:
        raise RunDirError(f"{run_dir}: neither its report nor its profile names its classes")
    from core.data import CIFAR10_CLASSES, load_dataset

    if profile.data.source == "cifar10":
        return CIFAR10_CLASSES
    return load_dataset(profile.data).class_names  # a folder's names (its decoded cache)


def _spec_of(model: Any) -> dict[str, Any]:
    shape = list(model.inputs[0].shape[1:])
    dtype = str(model.inputs[0].dtype)
    return {"preprocessing_inside": dtype == "uint8", "dtype": dtype, "shape": shape, "text": ""}


# --- images -------------------------------------------------------------------------------------


def image_paths(args: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files as given and the images inside folders (sorted); ``(name, problem)`` for the
    arguments that name no image at all."""
    paths: list[Path] = []
    problems: list[tuple[str, str]] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not inside:
                problems.append((arg, "folder holds no .png, .jpg or .jpeg image"))
            paths += inside
        elif path.exists():
            paths.append(path)
        else:
            problems.append((arg, "no such file or folder"))
    return paths, problems


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 (32, 32, 3) RGB, as the folder data source decodes it
    (core/images.py); a FIFO or a device given as an image is refused, never opened."""
    from core.images import MAX_IMAGE_BYTES, ImageProblem, decode
    from core.safe_files import read_regular

    try:
        return decode(read_regular(path, MAX_IMAGE_BYTES, "an image file"))
    except OSError as exc:  # NotRegular's line, or why it could not be opened
        raise ImageError(str(exc) if exc.strerror is None else exc.strerror) from None
    except ImageProblem as exc:
        raise ImageError(str(exc)) from None


def model_input(images: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """uint8 (N, 32, 32, 3) images as the model takes them (its input spec)."""
    if spec.get("preprocessing_inside", True):
        return images.astype(np.uint8)
    from core.training.host_pipeline import resize, standardize

    size = int((spec.get("shape") or [32])[0])
    return resize(standardize(images), size)


def predict(run_model: RunModel, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, K) of uint8 (N, 32, 32, 3) images."""
    if len(images) == 0:
        return np.zeros((0, len(run_model.class_names)), np.float32)
    x = model_input(images, run_model.spec)
    return np.asarray(run_model.model.predict(x, batch_size=batch_size, verbose=0))


def top_classes(
    probabilities: np.ndarray, names: tuple[str, ...], k: int = 3
) -> list[tuple[str, float]]:
    """The ``k`` likeliest classes of one image, likeliest first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(names[i] if i < len(names) else str(i), float(probabilities[i])) for i in order]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0][:200] if text else ""
    return f"{exc.__class__.__name__}: {line}" if line else exc.__class__.__name__
