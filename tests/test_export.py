"""A trained model used without cifar-tui: --export's ONNX, SavedModel and .keras files.

Trains one smoke run (one epoch, so its probabilities are not all saturated) whose profile asks
for every export format, once per module. Its exports and the CLI's are run where cifar-tui
cannot be imported: ``python -I -S`` from an empty folder, with only the interpreter's
site-packages on the path (the editable install's finder is a ``.pth`` file, which ``-S``
leaves unprocessed) and a finder that refuses ``core`` and ``tui`` besides; the script proves
both imports fail, and that no module it loaded came from this repository. On the run's 100
test images, every export's probabilities agree with ``--predict``'s within 1e-4, and its top
class on every image. A second, smaller run on JAX exports through a TensorFlow child process.
The error paths (no run, a wrong format, a missing exporter package) are fast tests.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, SMOKE, cli_env, run_cli

TOL = 1e-4
FORMATS = ["onnx", "saved_model", "keras"]
#: One epoch at batch 50 on the smoke data: quick, and unsure about some images.
SMOKE_SET = [
    "train.epochs=1",
    "train.batch_size=50",
    "data.synthetic_test=100",
    "profiler.enabled=false",
]

#: Runs an ONNX file in ONNX Runtime and a SavedModel in TensorFlow, with cifar-tui unimportable.
CLEAN_SCRIPT = r"""
import importlib.abc, json, sys
sites, repo, images, out = sys.argv[1].split(":"), *sys.argv[2:5]
onnx_files, saved_models = json.loads(sys.argv[5]), json.loads(sys.argv[6])

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("core", "tui"):
            raise ModuleNotFoundError(f"No module named {name!r} (cifar-tui is not here)")
        return None

sys.meta_path.insert(0, Refuse())
sys.path += sites  # the runtimes only: -S left the editable install's .pth unprocessed
refused = []
for name in ("core", "tui", "core.predict", "tui.cli.main"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        refused.append(name)
import numpy as np
batch = np.load(images)
results = {}
if onnx_files:
    import onnxruntime
    for path in onnx_files:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        results[path] = session.run(None, {"images": batch})[0]
if saved_models:
    import tensorflow as tf
    for path in saved_models:
        model = tf.saved_model.load(path)  # kept: a temporary's variables are freed mid-call
        results[path] = model.serve(batch).numpy()
np.savez(out, **{str(i): results[p] for i, p in enumerate([*onnx_files, *saved_models])})
ours = sorted(
    name for name, module in list(sys.modules.items())
    if str(getattr(module, "__file__", None) or "").startswith(repo)
)
print(json.dumps({"refused": refused, "from_repo": ours, "path": sys.path}))
"""


def run_clean(
    tmp: Path, images: Path, onnx_files: list[Path], saved_models: list[Path]
) -> list[np.ndarray]:
    """The exports' probabilities from a Python where cifar-tui cannot be imported."""
    folder = tmp / "elsewhere"
    folder.mkdir(exist_ok=True)
    out = folder / "probabilities.npz"
    proc = subprocess.run(
        [
            sys.executable,
            "-I",  # no PYTHONPATH, no user site, not the current folder
            "-S",  # no site-packages .pth files: the editable install's finder stays out
            "-c",
            CLEAN_SCRIPT,
            ":".join(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))),
            str(REPO),
            str(images),
            str(out),
            json.dumps([str(p) for p in onnx_files]),
            json.dumps([str(p) for p in saved_models]),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert said["refused"] == ["core", "tui", "core.predict", "tui.cli.main"], said
    assert said["from_repo"] == [], said
    assert not any(str(REPO) == p or p == "" for p in said["path"]), said["path"]
    saved = np.load(out)
    return [saved[str(i)] for i in range(len(onnx_files) + len(saved_models))]


def predict_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """``--predict --probabilities``'s CSV: image paths and their probabilities."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def assert_agree(theirs: np.ndarray, ours: np.ndarray, what: str) -> None:
    assert theirs.shape == ours.shape, (what, theirs.shape, ours.shape)
    worst = float(np.abs(theirs - ours).max())
    assert worst <= TOL, f"{what}: probabilities differ by {worst:.2e}"
    differ = np.flatnonzero(theirs.argmax(1) != ours.argmax(1))
    assert differ.size == 0, f"{what}: top-1 differs on images {differ.tolist()}"


# --- the trained run and its test images ---------------------------------------------------------


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory) -> Path:
    """A completed smoke run whose profile asked for every export format."""
    from core import events as ev
    from core.profiles import load_profile
    from core.training.engine import Run

    profile = load_profile(SMOKE, overrides=[*SMOKE_SET, f"export.formats={json.dumps(FORMATS)}"])
    seen: list = []
    run = Run(profile, tmp_path_factory.mktemp("runs"), seen.append)
    assert run.execute() == "completed", [e for e in seen if isinstance(e, ev.RunWarning)]
    assert run.run_dir is not None
    return run.run_dir


@pytest.fixture(scope="module")
def test_images(exported_run: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The run's 100 test images as PNG files (for --predict) and as one uint8 array (.npy)."""
    from PIL import Image

    from core.data import load_dataset
    from core.profiles import profile_from_dict
    from core.storage.rundir import load_run

    data = load_dataset(profile_from_dict(load_run(exported_run).report["profile"]).data)
    assert data.x_test.shape == (100, 32, 32, 3) and data.x_test.dtype == np.uint8
    folder = tmp_path_factory.mktemp("images")
    for i, image in enumerate(data.x_test):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    array = folder.parent / "images.npy"
    np.save(array, data.x_test)
    return folder, array


@pytest.fixture(scope="module")
def reference(exported_run: Path, test_images, tmp_path_factory) -> np.ndarray:
    """--predict's probabilities for the 100 images, in file order (the array's order)."""
    folder, _ = test_images
    target = tmp_path_factory.mktemp("predict") / "model_keras.csv"
    proc = run_cli("--predict", str(exported_run), str(folder), "--probabilities", str(target))
    assert proc.returncode == 0, proc.stderr
    paths, probabilities = predict_csv(target)
    assert [Path(p).name for p in paths] == [f"{i:03d}.png" for i in range(100)]
    assert len(proc.stdout.splitlines()) == 100  # the top-3 lines are still printed
    return probabilities


# --- slow: trained once for the module -----------------------------------------------------------


@pytest.mark.slow
def test_a_run_writes_the_exports_its_profile_asks_for(exported_run: Path) -> None:
    report = json.loads((exported_run / "report.json").read_text())
    assert report["status"] == "completed"
    exports = {e["format"]: e for e in report["exports"]}
    assert list(exports) == FORMATS
    names = {"onnx": "export/model.onnx", "saved_model": "export/saved_model"}
    for fmt, entry in exports.items():
        assert entry["path"] == names.get(fmt, "export/model.keras")
        assert (exported_run / entry["path"]).exists() and entry["bytes"] > 100_000
        assert entry["source"] == "model.keras" and len(entry["classes"]) == 10
        assert entry["path"] in entry["load"]  # run-relative: it survives a move
    assert not [w for w in report["warnings"] if w["code"] == "export_failed"]
    markdown = (exported_run / "report.md").read_text()
    section = markdown.split("## Exports", 1)[1].split("\n## ", 1)[0]
    assert "export/model.onnx (onnx" in section and "onnxruntime and numpy only" in section
    assert "export/saved_model (saved_model" in section and "tensorflow only" in section
    assert '"images": uint8 (N, 32, 32, 3)' in section
    assert not list(exported_run.rglob("*.tmp*"))  # every export renamed into place


@pytest.mark.slow
def test_exports_agree_with_predict_where_cifar_tui_cannot_be_imported(
    exported_run: Path, test_images, reference: np.ndarray, tmp_path: Path
) -> None:
    folder, array = test_images
    # The guard is needed: without -S this interpreter imports this checkout's core.
    control = subprocess.run(
        [sys.executable, "-I", "-c", "import core; print(core.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert control.returncode == 0 and control.stdout.strip().endswith("__init__.py")
    # The command's own export (the same writer as the run's [export], which made the others).
    cli_onnx = tmp_path / "mine.onnx"
    proc = run_cli("--export", str(exported_run), "--output", str(cli_onnx))  # onnx: the default
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"exported {cli_onnx} (ONNX, ") and "model.keras" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "input",
        "output",
        "load",
        "needs",
    ]
    assert str(cli_onnx) in lines[3] and "onnxruntime and numpy only" in lines[4]
    onnx_files = [exported_run / "export" / "model.onnx", cli_onnx]
    saved_models = [exported_run / "export" / "saved_model"]
    results = run_clean(tmp_path, array, onnx_files, saved_models)
    for path, probabilities in zip([*onnx_files, *saved_models], results, strict=True):
        assert_agree(probabilities, reference, str(path))
    # --predict of the .onnx file itself: ONNX Runtime behind the same command.
    target = tmp_path / "onnx.csv"
    proc = run_cli("--predict", str(cli_onnx), str(folder), "--probabilities", str(target))
    assert proc.returncode == 0, proc.stderr
    assert f"model: {cli_onnx}" in proc.stderr
    assert_agree(predict_csv(target)[1], reference, "--predict of the .onnx")
    names = json.loads((exported_run / "report.json").read_text())["test"]["classes"]
    assert proc.stdout.splitlines()[0].split(": ", 1)[1].split()[0] in names


@pytest.mark.slow
def test_keras_export_and_model_keras_load_without_warnings(
    exported_run: Path, test_images, reference: np.ndarray
) -> None:
    import keras

    from core.predict import register_layers

    _, array = test_images
    register_layers()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = keras.saving.load_model(exported_run / "model.keras")
        exported = keras.saving.load_model(exported_run / "export" / "model.keras")
    assert [str(w.message) for w in caught] == []
    kinds = {type(layer).__name__ for layer in trained.layers}
    assert {"RandomFlip", "Dropout"} <= kinds  # the smoke model trains with both
    kinds = {type(layer).__name__ for layer in exported.layers}
    assert not kinds & {"RandomFlip", "RandomRotation", "Dropout"}, kinds
    assert exported.inputs[0].dtype == "uint8" and exported.name == trained.name
    assert_agree(exported.predict(np.load(array), verbose=0), reference, "export/model.keras")


@pytest.mark.slow
def test_a_missing_exporter_leaves_a_runs_other_formats(
    exported_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a completed run's [export] gets on a machine without tf2onnx: that format's one
    line (the run warns with it), the other formats written all the same."""
    from core.export import Exported, export_all

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    before = (exported_run / "export" / "model.onnx").stat().st_mtime_ns
    onnx, keras_file = export_all(exported_run, ["onnx", "keras"])
    assert isinstance(onnx, str) and onnx.startswith("the ONNX export needs tf2onnx, ")
    assert isinstance(keras_file, Exported) and Path(keras_file.path).is_file()
    assert (exported_run / "export" / "model.onnx").stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_jax_run_exports_on_tensorflow_and_agrees_with_predict(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    runs, folder = tmp_path / "runs", tmp_path / "images"
    proc = run_cli(
        "--run",
        str(SMOKE),
        "--runs-dir",
        "runs",  # relative, as by default: the export's child process runs elsewhere
        *[f"--set={item}" for item in SMOKE_SET],
        "--set=data.synthetic_train=300",
        "--set=data.synthetic_test=40",
        '--set=export.formats=["onnx"]',
        env={"KERAS_BACKEND": "jax"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = runs.iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["environment"]["backend"] == "jax"
    assert [e["format"] for e in report["exports"]] == ["onnx"]
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    got = {}
    for name, model in (("jax", run_dir), ("onnx", run_dir / "export" / "model.onnx")):
        target = tmp_path / f"{name}.csv"
        args = ("--predict", str(model), str(folder), "--probabilities", str(target))
        proc = run_cli(*args, env={"KERAS_BACKEND": "jax"})
        assert proc.returncode == 0, proc.stderr
        got[name] = predict_csv(target)[1]
    assert_agree(got["onnx"], got["jax"], "a JAX run's ONNX export")


# --- fast: the command's mistakes ----------------------------------------------------------------

#: main() with some packages made unimportable, as on a machine without them.
WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # import fails, find_spec says it is not there\n"
    "from tui.cli.main import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def without(packages: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, packages, *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("packages", "fmt", "named"),
    [
        ("tf2onnx", "onnx", "tf2onnx"),
        ("tf2onnx,onnx", "onnx", "tf2onnx and onnx"),
        ("tensorflow", "saved_model", "tensorflow"),
    ],
)
def test_a_missing_exporter_is_one_line_and_exit_2(
    packages: str, fmt: str, named: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = without(packages, "--export", str(run_dir), "--format", fmt)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    title = {"onnx": "ONNX", "saved_model": "TensorFlow SavedModel"}[fmt]
    assert proc.stderr.startswith(f"cifar-tui: error: the {title} export needs {named}, ")
    assert "pip install 'cifar-tui[export]'" in proc.stderr
    assert list(run_dir.iterdir()) == []


def test_predict_of_an_onnx_file_without_onnxruntime_says_what_to_install(tmp_path: Path) -> None:
    model, image = tmp_path / "model.onnx", tmp_path / "cat.png"
    model.write_bytes(b"not read")
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    proc = without("onnxruntime", "--predict", str(model), str(image))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "needs onnxruntime" in proc.stderr and "pip install" in proc.stderr


def test_predict_refuses_an_onnx_file_that_is_no_cifar_tui_export(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, save
    from PIL import Image

    image = tmp_path / "cat.png"
    Image.new("RGB", (32, 32)).save(image)
    spec = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in "xy"]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g", [spec[0]], [spec[1]]
    )
    other = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    other.ir_version = 8
    save(other, str(tmp_path / "other.onnx"))
    (tmp_path / "torn.onnx").write_bytes(b"\x08\x07garbage")
    for name, said in (
        ("other.onnx", "takes tensor(float) ['N', 4], not the raw uint8 (N, 32, 32, 3) images"),
        ("torn.onnx", "cannot be loaded"),
    ):
        proc = run_cli("--predict", str(tmp_path / name), str(image))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert said in proc.stderr and proc.stdout == ""


def test_export_of_a_missing_run_or_a_wrong_format_is_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    proc = run_cli("--export", str(missing))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{missing}: no such run directory" in proc.stderr
    assert not missing.exists()
    proc = run_cli("--export", str(tmp_path), "--format", "tflite")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "invalid choice: 'tflite'" in proc.stderr and "'saved_model'" in proc.stderr
    for flag in ("--format=onnx", f"--output={tmp_path / 'x.onnx'}"):
        proc = run_cli("--check", str(SMOKE), flag)
        assert proc.returncode == 2 and "--format and --output go with --export" in proc.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_export_formats_key_is_checked_like_every_key() -> None:
    from core.errors import ProfileError
    from core.profiles import load_profile

    profile = load_profile(SMOKE, overrides=['export.formats=["saved_model", "onnx"]'])
    assert profile.export.formats == ("saved_model", "onnx")
    assert profile.to_dict()["export"] == {"formats": ["saved_model", "onnx"]}
    assert load_profile(SMOKE).export.formats == ()
    for bad in ('["onnx", "tflite"]', '["onnx", "onnx"]', '"onnx"', "[1]"):
        with pytest.raises(ProfileError) as caught:
            load_profile(SMOKE, overrides=[f"export.formats={bad}"])
        assert "export.formats: must be a list of distinct names from" in str(caught.value)
        assert '"onnx", "saved_model", "keras"' in str(caught.value)


@pytest.mark.parametrize(
    ("preprocess", "size"), [("host", 32), ("host", 40), ("device", 40)], ids=str
)
def test_the_inference_model_takes_raw_images_as_predict_feeds_the_run_model(
    preprocess: str, size: int
) -> None:
    """Untrained (no training needed to compare two paths): the export's front does what
    --predict's model_input does before the run's model, augmentation and dropout left out."""
    from core.export import inference_model
    from core.models import build_model
    from core.predict import model_input
    from core.profiles import load_profile
    from core.storage.model_file import input_spec

    overrides = [f"pipeline.preprocess={preprocess}", f"model.input_size={size}"]
    profile = load_profile(SMOKE, overrides=overrides)
    model, spec = build_model(profile), input_spec(profile)
    images = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    exported = inference_model(model, spec)
    assert exported.inputs[0].dtype == "uint8" and tuple(exported.inputs[0].shape) == (
        None,
        32,
        32,
        3,
    )
    kinds = [type(layer).__name__ for layer in exported.layers]
    assert "RandomFlip" not in kinds and "Dropout" not in kinds, kinds
    assert ("Resizing" in kinds) == (size != 32), kinds
    from core.export import _resize_note

    assert _resize_note(exported) == ("" if size == 32 else f", bilinear resize to {size}x{size}")
    expected = model.predict(model_input(images, spec), verbose=0)
    assert_agree(exported.predict(images, verbose=0), expected, f"{preprocess} at {size}")


def test_a_mixed_precision_model_exports_at_float32() -> None:
    from core.export import inference_model
    from core.models import build_model
    from core.profiles import load_profile
    from core.storage.model_file import input_spec

    profile = load_profile(SMOKE, overrides=["train.precision=mixed_bfloat16"])
    model = build_model(profile)
    assert {layer.dtype_policy.name for layer in model.layers} >= {"mixed_bfloat16"}
    exported = inference_model(model, input_spec(profile))
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}
    out = exported.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0)
    assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_export_refuses_what_is_not_a_run_or_a_bad_output(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    proc = run_cli("--export", str(folder))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{folder}: not a run directory" in proc.stderr

    from core.export import ExportError, export_target

    run_dir = tmp_path / "run"
    assert export_target(run_dir, "onnx", None) == run_dir / "export" / "model.onnx"
    assert export_target(run_dir, "onnx", folder) == folder / "model.onnx"
    assert export_target(run_dir, "saved_model", folder) == folder / "saved_model"
    (folder / "saved_model.pb").touch()  # a SavedModel folder given: replaced in place
    assert export_target(run_dir, "saved_model", folder) == folder
    with pytest.raises(ExportError, match=r"name ends in \.keras"):
        export_target(run_dir, "keras", tmp_path / "model.h5")
    (tmp_path / "file").touch()
    with pytest.raises(ExportError, match="a SavedModel is a folder"):
        export_target(run_dir, "saved_model", tmp_path / "file")
