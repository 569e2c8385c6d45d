"""The console's view of what a model learned: the report's Classes tab (the confusion matrix as a
heat map, the worst confusions in one line) and the mistakes view (misclassified test images),
with pilot tests and snapshots.

Deterministic: a fabricated completed run on the smoke profile's synthetic data (its images are
the same everywhere), whose "predictions" are the true labels with a fixed set of them changed,
so the matrix, the kept mistakes and the images they show are fixed. No training.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from test_tui_helpers import copy_profiles, fake_report, write_run

from core.data import synthetic_arrays
from core.evaluation import evaluate
from tui.console.app import CifarTuiApp, create_app
from tui.console.screens.mistakes import MistakesScreen, MistakeTile
from tui.console.widgets.confusion import ClassesView, ConfusionMap

RUN = "20260106-100000-smoke"
STOPPED = "20260105-100000-smoke"
NAMES = tuple(f"pattern{i}" for i in range(10))
#: The snapshots' sizes: the smallest, the newcomer's 100x30 and the largest (issue 25).
#: The fast lane keeps 80x24; the larger two run with the whole suite (CI).
SIZES = [
    pytest.param(
        size, id=f"{size[0]}x{size[1]}", marks=() if size == (80, 24) else pytest.mark.slow
    )
    for size in ((80, 24), (100, 30), (160, 45))
]


def fabricated_test() -> dict:
    """report.json's ``test`` for the smoke data's 100 test images: two in three images of
    pattern3 taken for pattern5 (6 of 8), every fifth image of the others taken for the next
    class, with confidences that fall with the index."""
    _, _, _, labels = synthetic_arrays(600, 100)
    probabilities = np.full((len(labels), 10), 0.01, np.float32)
    for i, label in enumerate(labels):
        wrong = (label == 3 and i % 3 != 0) or (label != 3 and i % 5 == 0)
        predicted = (5 if label == 3 else (label + 1) % 10) if wrong else label
        probabilities[i, predicted] = 0.99 - i * 0.004
    results = evaluate(probabilities, labels, NAMES)
    return {"loss": results.loss, "accuracy": results.accuracy, **results.to_report()}


def runs(runs_dir: Path) -> dict[str, Path]:
    report = fake_report()
    report["test"] = fabricated_test()
    completed = write_run(runs_dir, RUN, report)
    stopped = write_run(runs_dir, STOPPED, fake_report("stopped", epochs=2, test_accuracy=None))
    return {"completed": completed, "stopped": stopped}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CifarTuiApp:
    monkeypatch.chdir(tmp_path)
    copy_profiles(tmp_path / "profiles")
    runs(tmp_path / "runs")
    return create_app(Path("profiles"), Path("runs"))


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_run(pilot, dirname: str = RUN) -> None:
    await pilot.press("b")
    await settle(pilot)
    table = pilot.app.screen.query_one("#runs")
    table.move_cursor(row=table.get_row_index(str(Path("runs") / dirname)))
    await pilot.press("enter")
    await settle(pilot)


async def open_matrix(pilot) -> None:
    await open_run(pilot)
    await pilot.press("m")
    await settle(pilot)


async def open_pair(pilot) -> None:
    """The matrix's cursor starts on the worst confusion: enter shows its images."""
    await open_matrix(pilot)
    await pilot.press("enter")
    await settle(pilot)


def test_fabricated_figures_agree() -> None:
    test = fabricated_test()
    confusion = np.array(test["confusion"])
    assert confusion.sum() == 100 and 0.6 < test["accuracy"] < 0.9
    assert test["mistakes"][0]["confidence"] >= test["mistakes"][-1]["confidence"]


def test_matrix_tab_shows_the_heat_map_and_the_worst_confusions(app: CifarTuiApp) -> None:
    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await open_matrix(pilot)
            screen = pilot.app.screen
            worst = str(screen.query_one("#classes-worst").render())
            test = fabricated_test()
            cells = np.array(test["confusion"])
            assert worst.startswith(f"worst confusions: pattern3 -> pattern5 {cells[3, 5]}")
            # the three largest, and any tied with the third (each starred below)
            assert worst.count("->") >= 3
            themap = screen.query_one(ConfusionMap)
            assert themap.has_focus and themap.cursor == (3, 5)
            text = themap.render().plain
            assert f"{cells[3, 5]}*" in text  # the worst confusion is starred
            assert text.count("*") == worst.count("->")  # every one named is starred
            rows = text.splitlines()
            assert rows[0].startswith("true \\ pred") and len(rows) == 11
            await pilot.press("down", "left")
            assert themap.cursor == (4, 4)

    asyncio.run(scenario())


def test_enter_on_a_cell_shows_that_pairs_mistakes(app: CifarTuiApp) -> None:
    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await open_pair(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, MistakesScreen) and screen.pair == (3, 5)
            tiles = list(screen.query(MistakeTile))
            assert tiles and all(
                (t.mistake["true"], t.mistake["predicted"]) == (3, 5) for t in tiles
            )
            first = tiles[0].render().plain.splitlines()
            assert len(first) == 18  # 16 rows of half blocks, then two caption lines
            assert first[16].strip().startswith(f"#{tiles[0].mistake['index']} pattern3")
            assert first[17].strip().startswith("-> pattern5 ")
            status = str(screen.query_one("#mistakes-status").render())
            assert status.startswith("pattern3 -> pattern5 ")
            await pilot.press("a")  # every kept mistake, most confident first
            confidences = [t.mistake["confidence"] for t in screen.query(MistakeTile)]
            assert len(confidences) == 12 and confidences == sorted(confidences, reverse=True)
            await pilot.press("p")  # the worst pair again, then the next
            assert screen.pair == (3, 5)
            await pilot.press("p")
            assert screen.pair != (3, 5)

    asyncio.run(scenario())


def test_the_images_are_the_runs_test_images(app: CifarTuiApp) -> None:
    _, _, images, _ = synthetic_arrays(600, 100)

    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await open_run(pilot)
            await pilot.press("i")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, MistakesScreen) and screen.data is not None
            for index, image in screen.data.images.items():
                assert np.array_equal(image, images[index])

    asyncio.run(scenario())


def test_a_stopped_run_says_it_has_no_per_class_results(app: CifarTuiApp) -> None:
    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await open_run(pilot, STOPPED)
            await pilot.press("m")
            await settle(pilot)
            view = pilot.app.screen.query_one(ClassesView)
            assert "the run is stopped" in str(view.query_one("#classes-worst").render())
            assert not view.query_one(ConfusionMap).display  # no empty matrix
            await pilot.press("i")
            await settle(pilot)
            status = pilot.app.screen.query_one("#mistakes-status")
            assert "no per-class results" in str(status.render())
            assert status.has_class("-error")

    asyncio.run(scenario())


@pytest.mark.parametrize("size", SIZES)
def test_matrix_snapshot(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_matrix)


@pytest.mark.parametrize("size", SIZES)
def test_mistakes_snapshot(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_pair)
