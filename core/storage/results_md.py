"""report.md's sections about what the model learned: per class, the confusion matrix, the most
confident mistakes, and the saved model (core/storage/report.py puts them in the report).

Everything reads without colour: the matrix is counts in a fixed-width block, zeros as dots, and
its largest off-diagonal cells carry a ``*``. A run without per-class figures says why, in one
line, instead of showing an empty table.
"""

from __future__ import annotations

from typing import Any

from core.evaluation import MARKED, ClassResults, class_results, missing_reason
from core.format import duration, fmt, percent

#: Mistakes listed in report.md (the report keeps more, for the console's mistakes view).
LISTED_MISTAKES = 10
#: The matrix's corner: what its rows and columns are.
CORNER = "true \\ predicted"


def classes_section(report: dict[str, Any]) -> list[str]:
    """Per-class accuracy, the matrix and the mistakes; or why there are none."""
    results = class_results(report)
    lines = ["", "## Per class", ""]
    if results is None:
        return [*lines, f"- {missing_reason(report, str(report.get('status', '?')))}"]
    lines += [_cost_line(report, results), ""]
    lines += per_class_table(results)
    lines += ["", "## Confusion matrix", "", *confusion_block(results)]
    lines += ["", "## Most confident mistakes", "", *mistakes_table(results)]
    return lines


def _cost_line(report: dict[str, Any], results: ClassResults) -> str:
    """What the test pass cost, against the whole run."""
    test = report.get("test") or {}
    seconds = test.get("seconds") if isinstance(test.get("seconds"), dict) else {}
    images = int(results.confusion.sum())
    predict, extra = seconds.get("predict"), seconds.get("per_class")
    total = (report.get("timing") or {}).get("total_seconds")
    line = f"From the test pass over {images:,} images"
    if isinstance(predict, (int, float)):
        # "...: predicting took 0.65 s and these figures 0.8 ms; together 3.1% of the whole
        # run's 0:21" -- what the share is of, in the sentence itself.
        line += f": predicting took {fmt(predict, '.2f')} s"
        if isinstance(extra, (int, float)):
            line += f" and working out these figures {fmt(extra * 1000, '.1f')} ms"
        if isinstance(total, (int, float)) and total > 0:
            share = (predict + (extra or 0)) / total
            line += f"; together {percent(share)} of the whole run's {duration(total)}"
    return line + "."


def per_class_table(results: ClassResults) -> list[str]:
    lines = [
        "| class | accuracy | right | images | most often taken for |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for i, name in enumerate(results.class_names):
        row = results.confusion[i]
        off = [(int(row[j]), results.class_names[j]) for j in range(len(row)) if j != i]
        count, other = max(off, key=lambda item: item[0]) if off else (0, "")
        taken = f"{other} ({count})" if count else "-"
        acc = results.per_class[name]
        lines.append(f"| {name} | {percent(acc)} | {int(row[i])} | {int(row.sum())} | {taken} |")
    worst = results.worst_class()
    if worst is not None and worst[1] < 1.0:
        lines += ["", f"- worst class: {worst[0]} ({percent(worst[1])})"]
    return lines


def marked_cells(results: ClassResults, count: int = MARKED) -> set[tuple[int, int]]:
    names = list(results.class_names)
    return {(names.index(t), names.index(p)) for t, p, _ in results.worst_confusions(count)}


def confusion_block(results: ClassResults) -> list[str]:
    """The matrix as a code block: rows true, columns predicted (numbered as the rows)."""
    names = results.class_names
    marked = marked_cells(results)
    width = max(3, len(str(int(results.confusion.max()))) + 2)
    label = max([len(CORNER) + 1] + [len(f"{len(names) - 1} {n}") + 1 for n in names])
    header = f"{CORNER:<{label}}" + "".join(f"{i:>{width}} " for i in range(len(names)))
    lines = ["```", header.rstrip()]
    for t, name in enumerate(names):
        cells = []
        for p in range(len(names)):
            value = int(results.confusion[t, p])
            text = "." if value == 0 and t != p else str(value)
            cells.append(f"{text:>{width}}{'*' if (t, p) in marked else ' '}")
        lines.append((f"{f'{t} {name}':<{label}}" + "".join(cells)).rstrip())
    lines.append("```")
    worst = results.worst()
    parts = [f"{t} -> {p} {n}" for t, p, n in worst.cells]
    if parts and worst.tied:  # a tie too large to star: counted, not listed
        parts.append(f"{worst.more_text()} (not starred)")
    if parts:
        marks = "; * the largest confusions: " + ", ".join(parts)
    elif worst.tied:
        marks = f"; no confusion stands out: {worst.tied} pairs tied at {worst.value}"
    else:
        marks = "; no confusions"
    lines += ["", f"- rows: true class, columns: predicted{marks}"]
    return lines


def mistakes_table(results: ClassResults) -> list[str]:
    mistakes = results.mistakes_of()[:LISTED_MISTAKES]
    if not mistakes:
        return ["- none: every test image was classified right"]
    names = results.class_names
    lines = ["| true -> predicted | confidence | test index |", "| --- | ---: | ---: |"]
    lines += [
        f"| {names[m['true']]} -> {names[m['predicted']]} | {percent(m['confidence'])} | "
        f"{m['index']} |"
        for m in mistakes
    ]
    return lines


def model_file_lines(report: dict[str, Any]) -> list[str]:
    """Where the final model is and what input it takes (nothing for runs without one)."""
    saved = report.get("saved_model")
    if not isinstance(saved, dict) or not saved.get("file"):
        return []
    spec = saved.get("input") if isinstance(saved.get("input"), dict) else {}
    size = saved.get("bytes")
    mb = f"{size / 1e6:.1f} MB, " if isinstance(size, (int, float)) else ""
    return [
        "",
        "## Saved model",
        "",
        f"- {saved['file']} ({mb}keras.saving.load_model; register this project's layers first: "
        "core.predict.register_layers())",
        f"- input: {spec.get('text') or '?'}",
        "- try it: cifar-tui --predict RUN_DIR IMAGE...",
    ]


def export_lines(report: dict[str, Any]) -> list[str]:
    """The models the run exported for use without cifar-tui (``[export] formats``)."""
    exports = [e for e in report.get("exports") or [] if isinstance(e, dict) and e.get("path")]
    if not exports:
        return []
    lines = ["", "## Exports", ""]
    for entry in exports:
        size = entry.get("bytes")
        mb = f", {size / 1e6:.1f} MB" if isinstance(size, (int, float)) else ""
        needs = entry.get("needs") or "?"
        lines.append(f"- {entry['path']} ({entry.get('format', '?')}{mb}): needs {needs}")
    lines += [
        f"- input: {exports[0].get('input') or '?'}",
        f"- output: {exports[0].get('output') or '?'}",
        "- try it: cifar-tui --predict RUN_DIR/export/model.onnx IMAGE...",
    ]
    return lines
