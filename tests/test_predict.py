"""A trained run's model to reuse: model.keras, the figures of its test pass, --predict.

Trains: a one-epoch smoke run (so it still makes mistakes), a run stopped after its first epoch,
and one epoch of vgg_small on the real CIFAR-10 sample. Each is trained once per module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, SMOKE

from core import events as ev
from core.data import load_dataset
from core.evaluation import class_results
from core.predict import load_run_model, predict
from core.profiles import load_profile, profile_from_dict
from core.storage.rundir import load_run
from core.training.engine import Run

pytestmark = pytest.mark.slow
#: One epoch at batch 50: fast, and not yet right about every image.
ONE_EPOCH = ["train.epochs=1", "train.batch_size=50", "data.synthetic_test=200"]


def train(runs_dir: Path, profile, stop_after_epoch: int | None = None) -> Path:
    holder: dict = {}

    def listener(event) -> None:
        if isinstance(event, ev.EpochEnded) and event.epoch == stop_after_epoch:
            holder["run"].request_stop()

    run = Run(profile, runs_dir, listener)
    holder["run"] = run
    run.execute()
    assert run.run_dir is not None
    return run.run_dir


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("runs"), load_profile(SMOKE, overrides=ONE_EPOCH))


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    profile = load_profile(SMOKE, overrides=[*ONE_EPOCH, "train.epochs=2"])
    return train(tmp_path_factory.mktemp("runs"), profile, stop_after_epoch=1)


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory, cifar10_mini: Path) -> Path:
    os.environ["CIFAR_TUI_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        profile = load_profile(
            REPO / "profiles" / "vgg_small.toml",
            overrides=[
                "data.source=folder",
                f"data.path={cifar10_mini}",
                "data.validation_size=100",
                "train.epochs=1",
                "train.batch_size=50",
                "profiler.enabled=false",
            ],
        )
        return train(tmp_path_factory.mktemp("runs"), profile)
    finally:
        del os.environ["CIFAR_TUI_CACHE"]


def run_and_data(run_dir: Path):
    record = load_run(run_dir)
    return record, load_dataset(profile_from_dict(record.report["profile"]).data)


def check_model_and_figures(run_dir: Path) -> None:
    """model.keras predicts the test set with the report's accuracy, and the per-class
    figures agree with the matrix and with that accuracy."""
    record, data = run_and_data(run_dir)
    assert record.status == "completed" and (run_dir / "model.keras").is_file()
    model = load_run_model(run_dir)
    assert model.source == "model.keras" and model.note == ""
    probabilities = predict(model, data.x_test)
    predicted = probabilities.argmax(axis=1)
    test = record.report["test"]
    assert float((predicted == data.y_test).mean()) == pytest.approx(test["accuracy"], abs=1e-9)
    results = class_results(record.report)
    assert results is not None and results.class_names == data.class_names
    assert results.confusion.sum() == len(data.y_test) == test["images"]
    assert results.accuracy == pytest.approx(test["accuracy"])
    for i, name in enumerate(data.class_names):
        mine = data.y_test == i
        assert test["per_class"][name] == pytest.approx(float((predicted[mine] == i).mean()))
        assert test["confusion"][i] == np.bincount(predicted[mine], minlength=10).tolist()
    for m in test["mistakes"]:
        assert data.y_test[m["index"]] == m["true"] != m["predicted"] == predicted[m["index"]]
        assert m["confidence"] == pytest.approx(probabilities[m["index"]].max(), abs=1e-3)
    saved = record.report["saved_model"]
    assert saved["file"] == "model.keras" and saved["input"]["preprocessing_inside"]
    assert test["seconds"]["predict"] > 0


def test_smoke_model_and_figures_agree(smoke_run: Path) -> None:
    check_model_and_figures(smoke_run)
    test = load_run(smoke_run).report["test"]
    assert 0 < test["accuracy"] < 1 and test["mistakes"]  # one epoch: some mistakes to show
    events = [json.loads(line) for line in (smoke_run / "events.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("evaluated") == 1 and kinds[-1] == "run_finished"
    markdown = (smoke_run / "report.md").read_text()
    assert "## Confusion matrix" in markdown and "## Saved model" in markdown
    assert "raw uint8 RGB images, shape (N, 32, 32, 3)" in markdown


def test_sample_data_model_and_figures_agree(mini_run: Path) -> None:
    check_model_and_figures(mini_run)
    names = class_results(load_run(mini_run).report).class_names
    assert names[3] == "cat" and names[5] == "dog"


def test_model_keras_loads_on_jax_with_the_same_accuracy(smoke_run: Path) -> None:
    """A fresh process on the other backend: keras.saving.load_model with the layers
    registered, and the report's accuracy on the test set (argmax ties aside: one image)."""
    script = (
        "import sys, keras, numpy as np\n"
        "from core.predict import register_layers\n"
        "from core.storage.rundir import load_run\n"
        "from core.profiles import profile_from_dict\n"
        "from core.data import load_dataset\n"
        "register_layers()\n"
        "run = sys.argv[1]\n"
        "model = keras.saving.load_model(run + '/model.keras')\n"
        "report = load_run(run).report\n"
        "data = load_dataset(profile_from_dict(report['profile']).data)\n"
        "p = model.predict(data.x_test, verbose=0)\n"
        "print(keras.backend.backend(), float((p.argmax(1) == data.y_test).mean()))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(smoke_run)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    backend, accuracy = out.stdout.split()[-2:]
    expected = load_run(smoke_run).report["test"]["accuracy"]
    assert backend == "jax" and abs(float(accuracy) - expected) <= 1 / 200


def write_images(folder: Path, images: np.ndarray) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"img{i}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def test_predict_prints_the_top_three_classes(smoke_run: Path, tmp_path: Path, cli) -> None:
    _, data = run_and_data(smoke_run)
    paths = write_images(tmp_path / "images", data.x_test[:4])
    proc = cli("--predict", str(smoke_run), str(paths[0]), str(tmp_path / "images"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 5  # the file, then the folder's four
    probabilities = predict(load_run_model(smoke_run), data.x_test[:4])
    for line, row in zip(lines[1:], probabilities, strict=True):
        _, classes = line.rsplit(": ", 1)
        shown = [part.rsplit(" ", 1) for part in classes.split(", ")]
        assert len(shown) == 3
        best = np.argsort(-row)[:3]
        assert [c for c, _ in shown] == [data.class_names[i] for i in best]
        assert float(shown[0][1].rstrip("%")) == pytest.approx(row[best[0]] * 100, abs=0.06)
    assert "model.keras" in proc.stderr


def test_predict_fails_cleanly_on_bad_images(smoke_run: Path, tmp_path: Path, cli) -> None:
    _, data = run_and_data(smoke_run)
    good = write_images(tmp_path / "good", data.x_test[:1])[0]
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    torn = tmp_path / "torn.png"
    torn.write_bytes(good.read_bytes()[:60])
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("--predict", str(smoke_run), str(text), str(good), str(torn), "nope.jpg", str(empty))
    assert proc.returncode == 2
    assert proc.stdout.strip().splitlines()[0].startswith(f"{good}: ")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cifar-tui: ")]
    assert len(errors) == 4 and "Traceback" not in proc.stderr
    for name in (text, torn, "nope.jpg", empty):
        assert sum(line.startswith(f"cifar-tui: {name}: ") for line in errors) == 1


def test_predict_without_model_keras_uses_the_last_checkpoint(
    smoke_run: Path, tmp_path: Path, cli
) -> None:
    older = tmp_path / smoke_run.name
    shutil.copytree(smoke_run, older)
    (older / "model.keras").unlink()
    _, data = run_and_data(smoke_run)
    image = write_images(tmp_path / "images", data.x_test[:1])[0]
    proc = cli("--predict", str(older), str(image))
    assert proc.returncode == 0, proc.stderr
    assert f"{older} has no model.keras" in proc.stderr
    assert "rebuilt vgg_small from checkpoint/epoch-0001.weights.h5" in proc.stderr
    expected = cli("--predict", str(smoke_run), str(image)).stdout
    assert proc.stdout == expected  # the checkpoint holds the final weights: same answers


def test_predict_without_model_or_checkpoint_says_what_is_missing(
    smoke_run: Path, tmp_path: Path, cli
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("report.json", "profile.toml", "history.csv"):
        shutil.copy(smoke_run / name, bare / name)
    image = write_images(tmp_path / "images", np.zeros((1, 32, 32, 3), np.uint8))[0]
    proc = cli("--predict", str(bare), str(image))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "has no model.keras" in proc.stderr and "no checkpoint" in proc.stderr
    assert cli("--predict", str(tmp_path / "nowhere"), str(image)).returncode == 2
    usage = cli("--predict", str(bare))
    assert usage.returncode == 2 and "at least one image" in usage.stderr


def test_a_stopped_run_records_no_per_class_data(stopped_run: Path) -> None:
    record = load_run(stopped_run)
    assert record.status == "stopped" and record.report["test"] is None
    assert class_results(record.report) is None
    assert not (stopped_run / "model.keras").exists()
    kinds = [json.loads(line)["type"] for line in (stopped_run / "events.jsonl").open()]
    assert "evaluated" not in kinds
    markdown = (stopped_run / "report.md").read_text()
    assert "- no per-class results: the run is stopped" in markdown
    assert "## Confusion matrix" not in markdown and "## Saved model" not in markdown


def test_a_stopped_runs_model_comes_from_its_checkpoint(stopped_run: Path) -> None:
    model = load_run_model(stopped_run)
    assert model.source == "checkpoint/epoch-0001.weights.h5"
    assert "a run saves it when it completes; this one is stopped" in model.note
    assert model.class_names == tuple(f"pattern{i}" for i in range(10))  # from its data source
