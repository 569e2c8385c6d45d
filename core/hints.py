"""A one-line hint for a run too short to learn, the same in report.md, the console and the CLI.

A first-time user who trains 2 epochs on 1,000 images and ends at 10% reads it as a broken
tool. The rule is on a run's figures alone (epochs done, training steps, the accuracy it ended
at), so every front can apply it to what it has: the engine's events or a saved report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.dispatch import EventConsumer
from core.format import percent
from core.status import RunStatus

if TYPE_CHECKING:
    from core.events import EpochEnded, RunFinished, RunStarted

#: An accuracy under this many times chance is "about chance" (20% for CIFAR-10's 10 classes).
NEAR_CHANCE = 2.0
#: Fewer training steps than this are too few for these networks to leave chance (the small VGG
#: on the synthetic images needs ~90; real images need hundreds).
FEW_STEPS = 500
#: When the steps are unknown, fewer epochs than this count as short.
FEW_EPOCHS = 5


def too_short_hint(
    epochs_done: int, steps: int | None, accuracy: float | None, classes: int = 10
) -> str | None:
    """What to try when a run ended about chance after too little training, or None.

    ``steps``: training steps in all (None when unknown: then the epochs decide);
    ``accuracy``: the test accuracy, else the last validation accuracy.
    """
    if accuracy is None or epochs_done < 1 or classes < 2:
        return None
    chance = 1 / classes
    short = steps < FEW_STEPS if steps is not None else epochs_done < FEW_EPOCHS
    if accuracy >= NEAR_CHANCE * chance or not short:
        return None
    steps_text = f", {steps} steps" if steps is not None else ""
    return (
        f"Too short to learn ({epochs_done} epoch(s){steps_text}): {percent(accuracy)} is "
        f"near chance ({percent(chance, 0)}); try more epochs, more images or a smaller batch."
    )


def _ended_at(test_accuracy: float | None, epochs: list[dict[str, Any]]) -> float | None:
    if test_accuracy is not None:
        return test_accuracy
    values = [e.get("val_accuracy") for e in epochs if e.get("val_accuracy") is not None]
    return values[-1] if values else None


def hint_for_run(
    started: RunStarted | None, epochs: list[dict[str, Any]], finished: RunFinished
) -> str | None:
    """The hint for a run that just ended (only a completed one), from its events."""
    if finished.status != RunStatus.COMPLETED:
        return None
    steps = started.steps_per_epoch * len(epochs) if started is not None else None
    return too_short_hint(len(epochs), steps, _ended_at(finished.test_accuracy, epochs))


def _train_images(data: dict[str, Any]) -> int | None:
    """Training images after the validation split, where the profile alone says (synthetic,
    or a limit); None otherwise (a folder is counted only when it is read)."""
    total = data.get("limit") or (
        data.get("synthetic_train") if data.get("source") == "synthetic" else None
    )
    if not isinstance(total, int):
        return None
    return max(0, total - int(data.get("validation_size") or 0))


def hint_for_report(report: dict[str, Any]) -> str | None:
    """The hint for a saved run (``report.json``'s content)."""
    if report.get("status") != RunStatus.COMPLETED:
        return None
    profile = report.get("profile") or {}
    epochs = report.get("epochs") or []
    images = _train_images(profile.get("data") or {})
    batch = (profile.get("train") or {}).get("batch_size")
    steps = len(epochs) * (images // batch) if images is not None and batch else None
    accuracy = _ended_at((report.get("test") or {}).get("accuracy"), epochs)
    return too_short_hint(len(epochs), steps, accuracy)


class RunFigures(EventConsumer):
    """Collects what the hint needs from a run's events (a listener beside a renderer)."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.epochs: list[dict[str, Any]] = []
        self.finished: RunFinished | None = None

    def on_run_started(self, event: RunStarted) -> None:
        self.started = event
        if event.initial_epoch:  # a resumed run: its earlier epochs count too
            self.epochs = [dict(r) for r in event.history if r["epoch"] <= event.initial_epoch]

    def on_epoch_ended(self, event: EpochEnded) -> None:
        self.epochs = [e for e in self.epochs if e["epoch"] < event.epoch]
        self.epochs.append({"epoch": event.epoch, "val_accuracy": event.val_accuracy})

    def on_run_finished(self, event: RunFinished) -> None:
        self.finished = event

    def hint(self) -> str | None:
        if self.finished is None:
            return None
        return hint_for_run(self.started, self.epochs, self.finished)
