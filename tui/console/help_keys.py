"""The help screen's keys, generated from the bindings of the app and of every screen, so help
lists every key there is and cannot fall behind a new one.

A binding's footer word is short ("Matrix"); where help should say more, ``WORDS`` holds the
longer sentence, by section and action. ``EXTRA`` holds what is not a binding (enter on a
list's row, tab between panes, a button), in the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from textual.binding import Binding

#: (section, "module:Class") in the order help shows them; "" is the app itself.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Everywhere", ""),
    ("Pick", "tui.console.screens.launch:LaunchScreen"),
    ("Sweeps", "tui.console.screens.sweeps:SweepsScreen"),
    ("Watch", "tui.console.screens.watch:WatchScreen"),
    ("Runs", "tui.console.screens.runs:RunsScreen"),
    ("Report", "tui.console.screens.report:ReportScreen"),
    ("Classes tab (the matrix)", "tui.console.widgets.confusion:ConfusionMap"),
    ("Mistakes", "tui.console.screens.mistakes:MistakesScreen"),
    ("Compare", "tui.console.screens.compare:CompareScreen"),
    ("Images", "tui.console.screens.images:ImagesScreen"),
)

#: Longer words for a binding, by (section, action).
WORDS: dict[tuple[str, str], str] = {
    ("Everywhere", "switch_mode('launch')"): "pick: profiles, hyperparameters and settings",
    ("Everywhere", "switch_mode('watch')"): "watch the current run",
    ("Everywhere", "switch_mode('runs')"): "the runs list (from any screen over it too)",
    ("Everywhere", "help"): "this help",
    ("Everywhere", "quit_console"): "quit (asks first while a run trains)",
    ("Pick", "launch"): "launch the run (or the Launch button)",
    ("Pick", "images"): "look at training images of the profile's data",
    ("Pick", "sweeps"): "sweeps (profiles/sweeps), run with this form's settings",
    ("Pick", "leave_field"): "in a field: leave it",
    ("Pick", "launch_from_field"): "in a field: launch",
    ("Sweeps", "start"): "run the sweep; again, it resumes (finished runs are skipped)",
    ("Sweeps", "compare"): "compare the runs the sweep has made so far",
    ("Sweeps", "more"): "more runs at once (up to one per GPU or core)",
    ("Sweeps", "fewer"): "fewer runs at once",
    ("Watch", "stop"): "stop after the current batch (a sweep stops too); both resume",
    ("Watch", "details"): "details: every banner line in full (sweep runs, warnings)",
    ("Runs", "open"): "open the selected run's report",
    ("Runs", "resume"): "resume a stopped, interrupted or failed run (else: why not)",
    ("Runs", "sort_next"): "sort by the next column (or click a header)",
    ("Runs", "sort_reverse"): "reverse the order",
    ("Runs", "reload"): "read the runs directory again",
    ("Runs", "mark"): "mark or unmark the run to compare",
    ("Runs", "compare"): "compare the marked runs",
    ("Report", "toggle_view"): "switch between the report and its plots",
    ("Report", "resume"): "resume a stopped, interrupted or failed run (else: why not)",
    ("Report", "classes"): "the Classes tab: the confusion matrix as a heat map",
    ("Report", "mistakes"): "every mistake, as pictures",
    ("Classes tab (the matrix)", "open"): "the chosen cell's mistakes, as pictures",
    **{
        ("Classes tab (the matrix)", f"move({step})"): "choose a cell"
        for step in ("-1, 0", "1, 0", "0, -1", "0, 1")
    },
    ("Mistakes", "page(1)"): "next page",
    ("Mistakes", "page(-1)"): "previous page",
    ("Mistakes", "pair(1)"): "next pair (true -> predicted)",
    ("Mistakes", "pair(-1)"): "previous pair",
    ("Mistakes", "all"): "all the mistakes",
    ("Compare", "export"): "export: <runs dir>/compare-<time>.md and .csv",
    ("Images", "page(1)"): "next page",
    ("Images", "page(-1)"): "previous page",
}

#: Keys that are not bindings, by section.
EXTRA: dict[str, list[tuple[str, str]]] = {
    "Everywhere": [("tab", "move between panes (shift+tab back); the mouse works too")],
    "Pick": [
        ("up / down", "choose a model profile, then a hyperparameter profile"),
        ("enter", "go on: profiles, hyperparameters, settings"),
        ("0-9", "on the lists: type the epochs"),
        ("Browse", "choose the data path of a folder source (enter opens, u uses)"),
    ],
}

#: How keys read, where textual's name is not what the keyboard says.
KEY_NAMES = {"question_mark": "?", "plus": "+", "equals_sign": "=", "minus": "-", "f1": "F1"}


def _bindings(owner: Any) -> list[Binding]:
    found = []
    for item in getattr(owner, "BINDINGS", []):
        binding = item if isinstance(item, Binding) else Binding(*item)
        found.append(binding)
    return found


def _owner(path: str, app_class: type) -> Any:
    if not path:
        return app_class
    module, name = path.split(":")
    return getattr(import_module(module), name)


def _key_text(binding: Binding, display: Callable[[Binding], str] | None) -> str:
    if binding.key_display:
        return binding.key_display
    keys = [KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(",")]
    if display is not None and len(keys) == 1 and binding.key not in KEY_NAMES:
        return display(binding)
    return " / ".join(keys)


def help_sections(
    app_class: type, display: Callable[[Binding], str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(keys, what they do)]: every binding with a description, the keys that do
    the same together ("? / F1"), then the extras."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for section, path in SECTIONS:
        by_action: dict[str, tuple[list[str], str]] = {}
        for binding in _bindings(_owner(path, app_class)):
            if not binding.description or binding.system:
                continue
            words = WORDS.get((section, binding.action), binding.description.lower())
            keys, _ = by_action.setdefault(words, ([], words))  # one row for the same deed
            key = _key_text(binding, display)
            if key not in keys:
                keys.append(key)
        rows = [(" / ".join(keys), words) for keys, words in by_action.values()]
        sections[section] = rows + EXTRA.get(section, [])
    return sections
