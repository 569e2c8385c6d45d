"""Per-class results without training: the numpy figures of one test pass, how the recorder keeps
them (a completed run only), report.md's sections, --compare's per-class columns, and the saved
model's atomic write. The trained model itself is tested in test_predict.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import SMOKE, markdown_tables
from test_tui_helpers import fake_report, write_run

from core.compare import Comparison, RunRow
from core.evaluation import (
    MISTAKES_OVERALL,
    Worst,
    class_results,
    confident_mistakes,
    confusion_matrix,
    crossentropy,
    evaluate,
    worst_confusions,
    worst_of,
)
from core.events import Evaluated, RunFinished
from core.profiles import load_profile
from core.storage.model_file import MODEL_FILE, TEMP_FILE, input_spec, save_atomically
from core.storage.recorder import RunRecorder
from core.storage.report import render_markdown
from core.storage.rundir import load_run

NAMES = ("cat", "dog", "ship")


def random_pass(n: int = 500, k: int = 10, seed: int = 0):
    """Probabilities that are right about 60% of the time, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities.astype(np.float32), labels


def test_figures_agree_with_each_other_and_with_the_predictions() -> None:
    probabilities, labels = random_pass()
    names = tuple(f"c{i}" for i in range(10))
    results = evaluate(probabilities, labels, names)
    predicted = probabilities.argmax(axis=1)
    assert results.accuracy == pytest.approx(float((predicted == labels).mean()), abs=1e-12)
    assert results.confusion.sum() == len(labels)
    report = results.to_report()
    for i, name in enumerate(names):
        mine = labels == i
        assert report["per_class"][name] == pytest.approx((predicted[mine] == i).mean())
        assert report["confusion"][i] == np.bincount(predicted[mine], minlength=10).tolist()
    # The per-class accuracies, weighted by the class sizes, are the overall accuracy.
    sizes = np.bincount(labels, minlength=10)
    weighted = sum(report["per_class"][n] * sizes[i] for i, n in enumerate(names)) / sizes.sum()
    assert weighted == pytest.approx(results.accuracy)
    expected_loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    assert results.loss == pytest.approx(expected_loss, rel=1e-5)


def test_loss_clips_as_keras_does() -> None:
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert crossentropy(probabilities, [1, 1]) == pytest.approx(-np.log(1e-7) / 2, rel=1e-3)


def test_confusion_rows_are_true_classes() -> None:
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 0, 0, 2], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [2, 0, 1]]
    assert worst_confusions(matrix, NAMES) == [("ship", "cat", 2), ("cat", "dog", 1)]


def test_worst_confusions_keep_every_tie_in_matrix_order() -> None:
    # Asked for 2, three cells are equal: all three are the largest, none is left unstarred.
    matrix = np.array([[5, 2, 2], [2, 5, 0], [0, 0, 5]])
    assert worst_confusions(matrix, NAMES, 2) == [
        ("cat", "dog", 2),
        ("cat", "ship", 2),
        ("dog", "cat", 2),
    ]
    assert worst_confusions(np.array([[5, 3, 2], [2, 5, 0], [0, 0, 5]]), NAMES, 1) == [
        ("cat", "dog", 3)
    ]
    assert worst_confusions(np.eye(3, dtype=int), NAMES) == []


TEN = tuple(f"c{i}" for i in range(10))


def three_fronts(matrix: np.ndarray) -> tuple[str, str, int, str, int, str]:
    """A matrix's worst confusions as each front says them: the command line's line, report.md's
    stars and its marks line, the console's stars and its line under the heat map."""
    import io

    from core.evaluation import PassResults, accuracy_of
    from tui.cli.render import PlainRenderer
    from tui.console.widgets.confusion import heat_map, worst_line

    results = PassResults(1.0, accuracy_of(matrix), TEN, matrix, [])
    out = io.StringIO()
    PlainRenderer(out)(evaluated(results))
    report = fake_report()
    report["test"] = {"loss": 1.0, "accuracy": results.accuracy, **results.to_report()}
    markdown = render_markdown(report).split("## Confusion matrix")[1]
    block = markdown.split("```")[1]
    marks = next(line for line in markdown.splitlines() if line.startswith("- rows: true class"))
    read = class_results(report)
    assert read is not None
    themap = heat_map(read, mono=True).plain
    return (
        out.getvalue().strip(),
        block,
        block.count("*"),
        marks,
        themap.count("*"),
        worst_line(read),
    )


def test_five_tied_confusions_are_all_starred_and_named_on_every_front() -> None:
    matrix = np.eye(10, dtype=int) * 9
    for t, p in ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)):
        matrix[t, p] = 2  # five equal confusions, three asked for: all five are the largest
    matrix[1, 0] = 1
    worst = worst_of(matrix, TEN)
    assert [(t, p) for t, p, _ in worst.cells] == [("c0", "c1"), ("c2", "c3"), ("c4", "c5"),
                                                 ("c6", "c7"), ("c8", "c9")]  # fmt: skip
    assert worst.tied == 0
    line, _, md_stars, marks, console_stars, console_line = three_fronts(matrix)
    named = "c0 -> c1 2 · c2 -> c3 2 · c4 -> c5 2 · c6 -> c7 2 · c8 -> c9 2"
    assert line == console_line == f"worst confusions: {named}"
    assert md_stars == console_stars == 5
    assert "more tied" not in marks and marks.endswith(named.replace(" ·", ","))


def test_a_tie_too_large_to_star_is_counted_and_said_on_every_front() -> None:
    """All 90 confusions equal: starring all 90 would say nothing; none is starred and each
    front says how many are tied. One larger cell above such a tie is starred alone."""
    matrix = np.full((10, 10), 1)
    np.fill_diagonal(matrix, 20)
    assert worst_of(matrix, TEN) == Worst([], 90, 1)
    line, _, md_stars, marks, console_stars, console_line = three_fronts(matrix)
    assert line == console_line == "worst confusions: none stands out (90 pairs tied at 1)"
    assert md_stars == console_stars == 0
    assert marks.endswith("; no confusion stands out: 90 pairs tied at 1")

    matrix[3, 5] = 7
    worst = worst_of(matrix, TEN)
    assert worst.cells == [("c3", "c5", 7)] and (worst.tied, worst.value) == (89, 1)
    line, block, md_stars, marks, console_stars, console_line = three_fronts(matrix)
    assert line == console_line == "worst confusions: c3 -> c5 7 · and 89 more tied at 1"
    assert md_stars == console_stars == 1 and "7*" in block
    assert marks.endswith("c3 -> c5 7, and 89 more tied at 1 (not starred)")
    # the bound: ties that keep at most MARKED_AT_MOST are all kept
    assert len(worst_of(matrix, TEN, limit=90).cells) == 90


def test_mistakes_keep_the_most_confident_overall_and_per_pair() -> None:
    probabilities, labels = random_pass(n=2000)
    mistakes = confident_mistakes(probabilities, labels, overall=5, per_pair=2)
    confidences = [m["confidence"] for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(m["true"] == labels[m["index"]] != m["predicted"] for m in mistakes)
    assert all(m["predicted"] == probabilities[m["index"]].argmax() for m in mistakes)
    wrong = probabilities.argmax(axis=1) != labels
    top = np.sort(probabilities.max(axis=1)[wrong])[::-1][:5]
    assert confidences[:5] == pytest.approx(top, abs=1e-4)
    pairs: dict[tuple[int, int], int] = {}
    for m in mistakes[5:]:
        pairs[(m["true"], m["predicted"])] = pairs.get((m["true"], m["predicted"]), 0) + 1
    assert max(pairs.values()) <= 2
    assert len(confident_mistakes(probabilities, labels)) >= MISTAKES_OVERALL


def test_class_results_refuse_empty_or_misshapen_figures() -> None:
    good = evaluate(*random_pass(k=3), NAMES)
    test = {"accuracy": good.accuracy, **good.to_report()}
    assert class_results({"test": test}) is not None
    for broken in (
        {"confusion": [[0, 0, 0]] * 3},  # an empty matrix is no matrix
        {"confusion": [[1, 2], [3, 4]]},
        {"confusion": "nope"},
        {"classes": []},
        {"classes": None},
    ):
        assert class_results({"test": {**test, **broken}}) is None, broken
    assert class_results({"test": None}) is None
    kept = class_results({"test": {**test, "mistakes": [{"index": 1}, *test["mistakes"]]}})
    assert kept is not None and kept.mistakes == test["mistakes"]


def recorder_run(tmp_path: Path) -> RunRecorder:
    return RunRecorder.create(tmp_path / "runs", load_profile(SMOKE), "cifar-tui --run smoke")


def evaluated(results) -> Evaluated:
    report = results.to_report()
    return Evaluated(
        loss=results.loss,
        accuracy=results.accuracy,
        images=int(results.confusion.sum()),
        classes=report["classes"],
        per_class=report["per_class"],
        confusion=report["confusion"],
        mistakes=report["mistakes"],
        predict_seconds=1.5,
        analysis_seconds=0.002,
    )


def test_recorder_keeps_the_figures_of_a_completed_run(tmp_path: Path) -> None:
    results = evaluate(*random_pass(k=3), NAMES)
    recorder = recorder_run(tmp_path)
    try:
        recorder(evaluated(results))
        recorder(RunFinished("completed", "", results.loss, results.accuracy, 30.0))
    finally:
        recorder.close()
    report = json.loads((recorder.run_dir / "report.json").read_text())
    test = report["test"]
    assert test["accuracy"] == results.accuracy and test["images"] == 500
    assert test["confusion"] == results.confusion.tolist()
    assert test["seconds"] == {"predict": 1.5, "per_class": 0.002}
    markdown = (recorder.run_dir / "report.md").read_text()
    assert "## Confusion matrix" in markdown and "5.0% of the whole run's 0:30" in markdown
    lines = (recorder.run_dir / "events.jsonl").read_text().splitlines()
    logged = [json.loads(line)["type"] for line in lines]
    assert logged[-2:] == ["evaluated", "run_finished"]


@pytest.mark.parametrize("status", ["failed", "stopped"])
def test_a_run_that_did_not_complete_keeps_no_figures(tmp_path: Path, status: str) -> None:
    """A crash after the test pass (saving the model, say) leaves no per-class data."""
    recorder = recorder_run(tmp_path)
    try:
        recorder(evaluated(evaluate(*random_pass(k=3), NAMES)))
        recorder(RunFinished(status, "boom", None, None, 30.0, error_type="OSError"))
    finally:
        recorder.close()
    record = load_run(recorder.run_dir)
    assert record.report["test"] is None and class_results(record.report) is None
    markdown = (recorder.run_dir / "report.md").read_text()
    assert f"- no per-class results: the run is {status}" in markdown
    assert "## Confusion matrix" not in markdown


def test_report_md_shows_the_table_the_matrix_and_the_mistakes() -> None:
    probabilities, labels = random_pass(k=3)
    results = evaluate(probabilities, labels, NAMES)
    report = fake_report()
    report["test"] = {"loss": results.loss, "accuracy": results.accuracy, **results.to_report()}
    markdown = render_markdown(report)
    tables = markdown_tables(markdown)
    per_class = next(t for t in tables if t and "class" in t[0])
    assert [row["class"] for row in per_class] == list(NAMES)
    for i, row in enumerate(per_class):
        assert int(row["right"]) == results.confusion[i, i]
        assert int(row["images"]) == results.confusion[i].sum()
        # accuracy for people: a percentage (report.json keeps the fraction)
        assert float(row["accuracy"].rstrip("%")) == pytest.approx(
            100 * results.confusion[i, i] / row_sum(results, i), abs=0.05
        )
    block = markdown.split("## Confusion matrix")[1].split("```")[1].splitlines()[1:]
    assert block[0].split()[-3:] == ["0", "1", "2"]
    cells = [
        [int(c.rstrip("*")) if c != "." else 0 for c in line.split()[2:]] for line in block[1:]
    ]
    assert cells == results.confusion.tolist()
    starred = sum(line.count("*") for line in block)
    assert starred == 3  # the three largest confusions, in counts, without colour
    mistakes = next(t for t in tables if t and "test index" in t[0])
    assert len(mistakes) == 10
    first = results.mistakes[0]
    assert mistakes[0]["test index"] == str(first["index"])
    assert (
        mistakes[0]["true -> predicted"] == f"{NAMES[first['true']]} -> {NAMES[first['predicted']]}"
    )


def row_sum(results, i: int) -> int:
    return int(results.confusion[i].sum())


def test_report_md_says_why_an_older_completed_run_has_none() -> None:
    markdown = render_markdown(fake_report())
    assert "- no per-class results: this run was saved before cifar-tui recorded them" in markdown


def test_compare_adds_the_worst_class_and_per_class_differences(tmp_path: Path) -> None:
    runs = []
    for n, seed in enumerate((1, 2)):
        results = evaluate(*random_pass(k=3, seed=seed), NAMES)
        report = fake_report(test_accuracy=results.accuracy)
        report["test"] = {"loss": results.loss, **report["test"], **results.to_report()}
        runs.append((write_run(tmp_path, f"run{n}", report), results))
    comparison = Comparison.of([RunRow.from_record(load_run(path)) for path, _ in runs])
    table = comparison.table()
    assert "worst class" in table.headers()
    column = table.headers().index("worst class")
    for (_, results), cells in zip(runs, table.cells(), strict=True):
        accuracy = results.confusion.diagonal() / results.confusion.sum(axis=1)
        assert cells[column] == f"{NAMES[int(accuracy.argmin())]} {accuracy.min() * 100:.1f}%"
    per_class = comparison.class_table()
    assert per_class is not None
    (_, a), (_, b) = runs
    for i, row in enumerate(per_class.cells()):
        delta = b.confusion[i, i] / row_sum(b, i) - a.confusion[i, i] / row_sum(a, i)
        assert row[0] == NAMES[i] and row[3] == f"{delta * 100:+.1f} pts"
    assert "## Per class" in comparison.to_markdown()


def test_compare_of_older_runs_has_no_worst_class_column(tmp_path: Path) -> None:
    rows = [
        RunRow.from_record(load_run(write_run(tmp_path, f"r{n}", fake_report()))) for n in (1, 2)
    ]
    comparison = Comparison.of(rows)
    assert "worst class" not in comparison.table().headers()
    assert comparison.class_table() is None


def test_model_file_is_replaced_atomically(tmp_path: Path) -> None:
    spec = input_spec(load_profile(SMOKE))
    assert spec["preprocessing_inside"] and spec["dtype"] == "uint8"
    saved = save_atomically(tmp_path, lambda path: path.write_bytes(b"model"), spec)
    assert (tmp_path / MODEL_FILE).read_bytes() == b"model" and saved["bytes"] == 5

    def torn(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk trouble")

    with pytest.raises(OSError):
        save_atomically(tmp_path, torn, spec)
    assert (tmp_path / MODEL_FILE).read_bytes() == b"model"  # the old file stays whole
    assert not (tmp_path / TEMP_FILE).exists()


def test_input_spec_of_a_host_pipeline_says_what_to_do_outside() -> None:
    profile = load_profile(SMOKE, overrides=["pipeline.preprocess=host", "model.input_size=64"])
    spec = input_spec(profile)
    assert not spec["preprocessing_inside"] and spec["shape"] == [64, 64, 3]
    assert "standardized per image" in spec["text"] and "32x32 to 64x64" in spec["text"]


def test_the_command_line_names_the_worst_confusions() -> None:
    import io

    from tui.cli.render import PlainRenderer

    out = io.StringIO()
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 0, 0, 2], 3)
    results = evaluate(np.eye(3, dtype=np.float32)[[0, 1, 1, 0, 0, 2]], [0, 0, 1, 2, 2, 2], NAMES)
    assert results.confusion.tolist() == matrix.tolist()
    PlainRenderer(out)(evaluated(results))
    assert out.getvalue() == "worst confusions: ship -> cat 2 · cat -> dog 1\n"
