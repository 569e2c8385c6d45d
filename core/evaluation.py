"""What the model learned, from one prediction pass over the test set: pure numpy.

Everything here is computed from the true labels and the predicted probabilities of the same pass,
so the accuracy, the loss, the per-class accuracies and the confusion matrix always agree: the
diagonal of the matrix over its total is the accuracy, and each row's diagonal over its sum is
that class's accuracy. ``class_results`` reads the figures back from a run's report, checked, for
every reader (report.md, the console, ``--compare``); ``missing_reason`` says why a run has none.
Neither Keras nor TensorFlow is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Keras clips probabilities to this before the logarithm when it has no logits.
EPSILON = 1e-7
#: The most confident mistakes kept in the report: overall, and for each (true, predicted) pair
#: (so the console can show a few of every confusion without keeping every wrong image).
MISTAKES_OVERALL = 40
MISTAKES_PER_PAIR = 8
#: Off-diagonal cells marked in report.md's matrix, and confusions named in one line.
MARKED = 3
#: With the cells tied with the last of them, at most this many are starred and named.
MARKED_AT_MOST = 8


def confusion_matrix(labels: Any, predicted: Any, num_classes: int) -> np.ndarray:
    """Counts: rows are the true classes, columns the predicted ones."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    cells = np.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    return cells.reshape(num_classes, num_classes)


def crossentropy(probabilities: np.ndarray, labels: Any) -> float:
    """Mean sparse categorical cross-entropy of probabilities, clipped as Keras clips them."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    p = np.clip(probabilities.astype(np.float64), EPSILON, 1.0 - EPSILON)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def accuracy_of(confusion: np.ndarray) -> float | None:
    total = int(confusion.sum())
    return float(np.trace(confusion)) / total if total else None


def per_class_accuracy(confusion: np.ndarray, class_names: tuple[str, ...] | list[str]) -> dict:
    """Class name -> the share of its test images predicted right (None: no test image)."""
    out: dict[str, float | None] = {}
    for i, name in enumerate(class_names):
        row = int(confusion[i].sum())
        out[name] = float(confusion[i, i]) / row if row else None
    return out


@dataclass(frozen=True)
class Worst:
    """The confusions to star and name, and the ones tied with them that were left out."""

    cells: list[tuple[str, str, int]]  # (true, predicted, images), largest first
    tied: int = 0  # cells left out, all at ``value``: too many ties to star them all
    value: int = 0

    def more_text(self) -> str:
        """ "and 12 more tied at 2": what the list leaves out, or ""."""
        return f"and {self.tied} more tied at {self.value}" if self.tied else ""


def worst_of(
    confusion: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    count: int = MARKED,
    limit: int = MARKED_AT_MOST,
) -> Worst:
    """The largest off-diagonal cells, largest first, in matrix order among equals, so the
    answer is the same every time. Cells tied with the ``count``-th are kept too (starring
    three of five equal confusions would say they differ) while that keeps at most ``limit``;
    past it only the cells strictly above the tie are kept and the tie is counted instead
    (starring all 90 cells of a matrix whose confusions are all equal would say nothing)."""
    off = np.array(confusion, dtype=np.int64, copy=True)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    values = off.reshape(-1)[order]
    positive = int((values > 0).sum())
    kept, tied, value = min(count, positive), 0, 0
    if 0 < kept < positive and values[kept] == values[kept - 1]:
        value = int(values[kept - 1])
        end = int((values >= value).sum())  # past the last cell of the tie
        if end <= limit:
            kept = end
        else:
            kept = int((values > value).sum())  # those strictly above the tie
            tied = end - kept
    k = off.shape[0]
    cells = [(int(i) // k, int(i) % k) for i in order[:kept]]
    named = [(class_names[t], class_names[p], int(off[t, p])) for t, p in cells]
    return Worst(named, tied, value if tied else 0)


def worst_confusions(
    confusion: np.ndarray, class_names: tuple[str, ...] | list[str], count: int = MARKED
) -> list[tuple[str, str, int]]:
    """The confusions :func:`worst_of` stars, as (true, predicted, images)."""
    return worst_of(confusion, class_names, count).cells


def confident_mistakes(
    probabilities: np.ndarray,
    labels: Any,
    overall: int = MISTAKES_OVERALL,
    per_pair: int = MISTAKES_PER_PAIR,
) -> list[dict[str, Any]]:
    """The most confident wrong predictions as {index, true, predicted, confidence} (class
    indices; ``confidence`` is the predicted class's probability), most confident first: the
    ``overall`` top ones and the ``per_pair`` top ones of each (true, predicted) pair."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")]
    keep: list[int] = []
    seen: dict[tuple[int, int], int] = {}
    for rank, index in enumerate(order):
        pair = (int(labels[index]), int(predicted[index]))
        seen[pair] = seen.get(pair, 0) + 1
        if rank < overall or seen[pair] <= per_pair:
            keep.append(int(index))
    return [
        {
            "index": i,
            "true": int(labels[i]),
            "predicted": int(predicted[i]),
            "confidence": round(float(probabilities[i, predicted[i]]), 4),
        }
        for i in keep
    ]


@dataclass
class PassResults:
    """One pass's figures; ``to_report`` is what ``report.json``'s ``test`` holds beside them."""

    loss: float
    accuracy: float | None
    class_names: tuple[str, ...]
    confusion: np.ndarray
    mistakes: list[dict[str, Any]]

    def to_report(self) -> dict[str, Any]:
        return {
            "classes": list(self.class_names),
            "per_class": per_class_accuracy(self.confusion, self.class_names),
            "confusion": self.confusion.astype(int).tolist(),
            "mistakes": self.mistakes,
        }


def evaluate(
    probabilities: Any, labels: Any, class_names: tuple[str, ...] | list[str]
) -> PassResults:
    """Accuracy, loss, confusion matrix and mistakes of one pass's ``probabilities`` (N, K)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"{probabilities.shape} probabilities for {labels.shape} labels")
    names = tuple(class_names)
    confusion = confusion_matrix(labels, probabilities.argmax(axis=1), len(names))
    return PassResults(
        loss=crossentropy(probabilities, labels) if len(labels) else float("nan"),
        accuracy=accuracy_of(confusion),
        class_names=names,
        confusion=confusion,
        mistakes=confident_mistakes(probabilities, labels),
    )


# --- the read side ----------------------------------------------------------------------------


@dataclass
class ClassResults:
    """A run's per-class figures as its report holds them, checked."""

    class_names: tuple[str, ...]
    confusion: np.ndarray
    per_class: dict[str, float | None]
    mistakes: list[dict[str, Any]]

    @property
    def accuracy(self) -> float | None:
        return accuracy_of(self.confusion)

    def worst_confusions(self, count: int = MARKED) -> list[tuple[str, str, int]]:
        return worst_confusions(self.confusion, self.class_names, count)

    def worst(self, count: int = MARKED) -> Worst:
        """The starred confusions and the tie left out, if any (see :func:`worst_of`)."""
        return worst_of(self.confusion, self.class_names, count)

    def worst_class(self) -> tuple[str, float] | None:
        """The class with the lowest accuracy (the first such, in class order)."""
        known = [(name, acc) for name, acc in self.per_class.items() if acc is not None]
        return min(known, key=lambda item: item[1]) if known else None

    def mistakes_of(self, pair: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """The kept mistakes, most confident first; of one (true, predicted) pair if given."""
        if pair is None:
            return list(self.mistakes)
        return [m for m in self.mistakes if (m["true"], m["predicted"]) == pair]

    def confusion_text(self, pair: tuple[int, int]) -> str:
        """ "cat -> dog 187" for a cell."""
        t, p = pair
        return f"{self.class_names[t]} -> {self.class_names[p]} {int(self.confusion[t, p])}"


def class_results(report: dict[str, Any]) -> ClassResults | None:
    """The run's per-class figures, or None when the report has none of a usable shape."""
    test = report.get("test")
    if not isinstance(test, dict):
        return None
    names, matrix = test.get("classes"), test.get("confusion")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        return None
    try:
        confusion = np.asarray(matrix, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):  # 10**400 in a hand-edited report
        return None
    k = len(names)
    if confusion.shape != (k, k) or (confusion < 0).any() or (confusion > 2**40).any():
        return None
    if confusion.sum() == 0:
        return None
    mistakes = [m for m in test.get("mistakes") or [] if _valid_mistake(m, k)]
    return ClassResults(tuple(names), confusion, per_class_accuracy(confusion, names), mistakes)


def _valid_mistake(m: Any, k: int) -> bool:
    return (
        isinstance(m, dict)
        and all(isinstance(m.get(key), int) for key in ("index", "true", "predicted"))
        and 0 <= m["true"] < k
        and 0 <= m["predicted"] < k
        and isinstance(m.get("confidence"), (int, float))
    )


def missing_reason(report: dict[str, Any], status: str) -> str:
    """Why a run has no per-class results, in words."""
    if status in ("running", "pending"):
        return "no per-class results yet: they come from the test evaluation at the run's end"
    if status != "completed":
        return (
            f"no per-class results: the run is {status}, and they come from the test evaluation "
            "of a completed run"
        )
    return "no per-class results: this run was saved before cifar-tui recorded them"


def worst_text(worst: Worst) -> str:
    """The worst confusions in one line: "worst confusions: cat -> dog 187 · dog -> cat 121",
    and what a tie too large to list leaves out ("· and 12 more tied at 2")."""
    if not worst.cells and not worst.tied:
        return "worst confusions: none (every test image right)"
    if not worst.cells:
        return f"worst confusions: none stands out ({worst.tied} pairs tied at {worst.value})"
    parts = [f"{t} -> {p} {n}" for t, p, n in worst.cells]
    if worst.tied:
        parts.append(worst.more_text())
    return "worst confusions: " + " · ".join(parts)


def evaluated_line(event: Any) -> str:
    """An ``Evaluated`` event's worst confusions, for the command line's renderers."""
    return worst_text(worst_of(np.asarray(event.confusion), event.classes))


def evaluated_report(event: Any) -> dict[str, Any]:
    """report.json's ``test`` from an ``Evaluated`` event (core/events.py): the figures and what
    the pass cost (``seconds``: the predict pass, and the per-class work after it)."""
    return {
        "loss": event.loss,
        "accuracy": event.accuracy,
        "images": event.images,
        "classes": list(event.classes),
        "per_class": dict(event.per_class),
        "confusion": [list(row) for row in event.confusion],
        "mistakes": list(event.mistakes),
        "seconds": {"predict": event.predict_seconds, "per_class": event.analysis_seconds},
    }
