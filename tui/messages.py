"""Messages that carry work done in threads to the UI thread.

Worker threads never touch widgets or reactives: they only ``post_message`` one of these
(thread-safe in Textual), and the ``on_...`` handlers then run on the UI thread.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from core.events import Event


class EngineEvent(Message):
    """One event of the engine (core.events), forwarded from the engine thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class EngineDone(Message):
    """``Run.execute()`` returned ``status``, or raised before training (``error``)."""

    def __init__(self, status: str | None, error: str | None = None) -> None:
        super().__init__()
        self.status = status
        self.error = error


class DatasetLoaded(Message):
    """Training images of a profile's data source, decoded in a thread."""

    def __init__(
        self, images: Any, labels: Any, class_names: tuple[str, ...], description: str
    ) -> None:
        super().__init__()
        self.images = images
        self.labels = labels
        self.class_names = class_names
        self.description = description


class DatasetFailed(Message):
    """The data source could not be loaded; ``error`` says why, for the user."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
