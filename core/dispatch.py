"""One way to consume the engine's events: by their type name, not by ``isinstance`` ladders.

A consumer names a method after each event type it cares about (``on_epoch_ended`` for
:class:`~core.events.EpochEnded`, whose ``type`` is "epoch_ended"); :func:`dispatch` calls it, and
events a consumer has no method for pass by. Plain consumers (the command line's renderers, the
console's run state) subclass :class:`EventConsumer` and are called with each event. Textual
screens and apps use :func:`dispatch` with a prefix of their own instead (``show_``,
``notify_``): Textual already reads ``on_*`` methods as message handlers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.events import TYPE_OF, Event

#: Every event type name ("status", "run_started", "epoch_ended", ...).
EVENT_TYPES = frozenset(TYPE_OF.values())


def dispatch(target: object, event: Event, prefix: str = "on_") -> bool:
    """Call ``target.<prefix><event.type>(event)`` if it exists; return whether it did."""
    handler = getattr(target, prefix + event.type, None)
    if handler is None:
        return False
    handler(event)
    return True


def unknown_handlers(cls: type, prefix: str = "on_") -> list[str]:
    """Methods ``cls`` itself defines with ``prefix`` that name no event type: a typo such as
    ``on_epoch_end`` would otherwise never be called, and nothing would say so."""
    return sorted(
        name
        for name, value in vars(cls).items()
        if name.startswith(prefix)
        and callable(value)
        and name.removeprefix(prefix) not in EVENT_TYPES
    )


class EventConsumer:
    """A callable event consumer: ``consumer(event)`` runs its ``on_<event.type>`` method.

    A subclass whose handler names no event type fails when it is defined, not silently later.
    """

    handler_prefix: ClassVar[str] = "on_"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = unknown_handlers(cls, cls.handler_prefix)
        if unknown:
            raise TypeError(f"{cls.__name__} handles no such event: {', '.join(unknown)}")

    def __call__(self, event: Event) -> None:
        dispatch(self, event, self.handler_prefix)
