"""The help screen's keys, generated from the bindings of the app and of every screen, so help
lists every key there is and cannot fall behind a new one.

The screens are found, not listed: every Screen (modal ones too) defined in the modules of
``tui.console``, and every widget there with bindings of its own (imported when help opens;
none imports TensorFlow). ``TITLES`` names their sections and orders them; a class it does not
name still shows, under a name made from the class's. A binding's footer word is short
("Matrix"); where help should say more, ``WORDS`` holds the longer sentence, by section and
action. ``EXTRA`` holds what is not a binding (enter on a list's row, tab between panes, a
button), in the same words.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any

from textual.binding import Binding

#: The package whose screens help lists.
PACKAGE = "tui.console"
#: Each class's section (the app's is "Everywhere"), in the order help shows them. Classes
#: that share a section (a screen and a widget of it) list their keys together.
TITLES: dict[str, str] = {
    "CifarTuiApp": "Everywhere",
    "LaunchScreen": "Pick",
    "PathPicker": "Data path browser",
    "SweepsScreen": "Sweeps",
    "WatchScreen": "Watch",
    "RunsScreen": "Runs",
    "RunsTable": "Runs",
    "ReportScreen": "Report",
    "ConfusionMap": "Classes tab (the matrix)",
    "MistakesScreen": "Mistakes",
    "CompareScreen": "Compare",
    "ImagesScreen": "Images",
    "ConfirmScreen": "Questions",
    "HelpScreen": "Help",
}
#: What r does on the runs list and a report, where it is offered or not (it then says why).
RESUME_WORDS = "resume a stopped, interrupted or failed run (else: why not)"

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
    ("Runs", "resume"): RESUME_WORDS,
    ("Runs", "resume_refused"): RESUME_WORDS,
    ("Runs", "scroll_top"): "the first run",
    ("Runs", "scroll_bottom"): "the last run",
    ("Runs", "sort_next"): "sort by the next column (or click a header)",
    ("Runs", "sort_reverse"): "reverse the order",
    ("Runs", "reload"): "read the runs directory again",
    ("Runs", "mark"): "mark or unmark the run to compare",
    ("Runs", "compare"): "compare the marked runs",
    ("Report", "toggle_view"): "switch between the report and its plots",
    ("Report", "resume"): RESUME_WORDS,
    ("Report", "resume_refused"): RESUME_WORDS,
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
    ("Data path browser", "use"): "use the highlighted folder",
    ("Data path browser", "up"): "up a folder",
    ("Data path browser", "cancel"): "cancel: the path stays as it was",
    ("Questions", "answer(True)"): "yes",
    ("Questions", "answer(False)"): "no",
    ("Help", "close"): "close this help",
    ("Help", "go('launch')"): "close it and pick",
    ("Help", "go('watch')"): "close it and watch",
    ("Help", "go('runs')"): "close it and show the runs list",
}

#: Keys that are not bindings, by section.
EXTRA: dict[str, list[tuple[str, str]]] = {
    "Everywhere": [("tab", "move between panes (shift+tab back); the mouse works too")],
    "Pick": [
        ("up / down", "choose a model profile, then a hyperparameter profile"),
        ("enter", "go on: profiles, hyperparameters, settings"),
        ("0-9", "on the lists: type the epochs"),
        ("Browse", "choose the data path of a folder source (its keys below)"),
    ],
    "Data path browser": [("enter", "open a folder, or choose an archive")],
}

#: How keys read, where textual's name is not what the keyboard says.
KEY_NAMES = {"question_mark": "?", "plus": "+", "equals_sign": "=", "minus": "-", "f1": "F1"}


def _bindings(owner: Any) -> list[Binding]:
    """The bindings ``owner`` declares itself (those it inherits from textual are textual's)."""
    found = []
    for item in vars(owner).get("BINDINGS", []):
        binding = item if isinstance(item, Binding) else Binding(*item)
        found.append(binding)
    return found


def console_classes(package: str = PACKAGE) -> list[type]:
    """Every Screen defined in ``package``'s modules, and every widget there with bindings of
    its own, imported as found (their modules import no TensorFlow)."""
    from textual.screen import Screen
    from textual.widget import Widget

    root = importlib.import_module(package)
    names = [root.__name__]
    names += [m.name for m in pkgutil.walk_packages(root.__path__, f"{root.__name__}.")]
    found: list[type] = []
    for name in names:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if not isinstance(value, type) or value.__module__ != module.__name__:
                continue  # imported here, defined elsewhere: counted where it is defined
            if issubclass(value, Screen) or (
                issubclass(value, Widget) and "BINDINGS" in vars(value)
            ):
                found.append(value)
    return found


def section_of(owner: type) -> str:
    """The help section of a class: its title, or one made from its name ("PathPicker":
    "Path picker"), so a screen nobody titled still shows."""
    if owner.__name__ in TITLES:
        return TITLES[owner.__name__]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", owner.__name__.removesuffix("Screen")).split()
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else owner.__name__


def owners(app_class: type) -> dict[str, list[type]]:
    """Section -> the classes whose keys it lists, in help's order (TITLES', then the rest)."""
    from textual.screen import Screen

    order = list(dict.fromkeys(TITLES.values()))
    sections: dict[str, list[type]] = {}
    # a screen's keys before those of a widget on it (the runs list's before its table's)
    classes = sorted(console_classes(), key=lambda cls: not issubclass(cls, Screen))
    for owner in [app_class, *classes]:
        sections.setdefault(section_of(owner), []).append(owner)
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(sections.items(), key=lambda item: rank.get(item[0], len(order))))


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
    """Section -> [(keys, what they do)]: every binding, the keys that do the same together
    ("? / F1"), then the extras. A binding with no words of its own shows with its action's."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for section, classes in owners(app_class).items():
        by_words: dict[str, list[str]] = {}
        for owner in classes:
            for binding in _bindings(owner):
                if binding.system:
                    continue
                fallback = binding.description or binding.action.replace("_", " ")
                words = WORDS.get((section, binding.action), fallback.lower())
                keys = by_words.setdefault(words, [])  # one row for the same deed
                key = _key_text(binding, display)
                if key not in keys:
                    keys.append(key)
        rows = [(" / ".join(keys), words) for words, keys in by_words.items()]
        rows += EXTRA.get(section, [])
        if rows:
            sections[section] = rows
    return sections
