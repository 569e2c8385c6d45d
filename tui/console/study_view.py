"""The console's view of a study (a ``[search]`` sweep): words and plot series, no widgets.

Under the sweep line the watch screen shows the trial in progress with its settings and the best
trial so far (:func:`study_text`), and two plots: each trial's objective against its number, the
pruned ones a series of their own so they are marked (:func:`trial_series`), and each trial's
objective epoch by epoch, the one training now growing as it trains (:func:`curve_series`).
The data comes from the sweep worker's snapshot (tui/console/sweep_runner.py), the current
trial's epochs from the run state, so nothing here reads a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from core.format import metric_text
from core.status import RunStatus, mark_of, style_of
from core.sweeps.search import trial_name
from core.values import show_value
from tui.console.views import StudyInfo, SweepRunView, SweepSnapshot

if TYPE_CHECKING:
    from core.sweeps.spec import Sweep
    from core.sweeps.sweepdir import SweepEntry

#: Trials whose curves the curve plot overlays at most (the best ones, and the one training).
MAX_CURVES = 8


def study_info(sweep: Sweep) -> StudyInfo | None:
    search = sweep.search
    if search is None:
        return None
    return StudyInfo(search.objective, search.maximize, search.describe())


def trial_fields(entry: SweepEntry, info: StudyInfo | None) -> dict[str, Any]:
    """A run view's study fields: its settings, its objective per epoch, and its best."""
    if info is None:
        return {}
    from core.sweeps.study import objective_value

    rows = entry.record.epochs if entry.record else []
    return {
        "settings": tuple(entry.run.overrides.items()),
        "curve": tuple(row.get(info.objective) for row in rows),
        "objective": objective_value(rows, info.objective) if rows else None,
    }


def settings_text(view: SweepRunView) -> str:
    """ "learning_rate=0.0034 optimizer=adam": a trial's settings by their last key part."""
    return " ".join(f"{key.rsplit('.', 1)[-1]}={show_value(value)}" for key, value in view.settings)


def best_view(snap: SweepSnapshot, info: StudyInfo) -> SweepRunView | None:
    """The best completed trial so far (a pruned one stopped early: it is no result)."""
    done = [v for v in snap.runs if v.status == RunStatus.COMPLETED and v.objective is not None]
    if not done:
        return None
    pick = max if info.maximize else min
    return pick(done, key=lambda v: v.objective)


def study_text(snap: SweepSnapshot, info: StudyInfo, active: bool) -> Text:
    """Two lines: the trial training now and its settings; the best trial so far. Each trial
    is named with Optuna's number too ("trial 4/5 (Optuna #3)"), as on the command line."""
    text = Text()
    current = snap.run(snap.current) if active and snap.current is not None else None
    if current is not None:
        text.append(f"{trial_name(current.index, snap.total)} ", "bold")
        text.append(mark_of(current.status), style_of(current.status))
        text.append(f" {settings_text(current)}")
    else:
        text.append(f"study: {info.description}")
    best = best_view(snap, info)
    pruned = sum(v.status == RunStatus.PRUNED for v in snap.runs)
    text.append("\nbest so far: ", "bold")
    if best is None:
        text.append("none completed yet")
    else:
        assert best.objective is not None
        objective = metric_text(info.objective, best.objective)
        text.append(f"{trial_name(best.index)} · {info.objective} {objective}", "green")
        text.append(f" · {settings_text(best)}")
    text.append(f" · {pruned} pruned of {len(snap.runs)}")
    return text


def trial_series(snap: SweepSnapshot) -> dict[str, list[float | None]]:
    """Each trial's objective at its trial number: completed and pruned trials apart (a
    pruned trial's is its best before the pruner stopped it)."""
    size = max((v.index for v in snap.runs), default=0)
    series: dict[str, list[float | None]] = {"completed": [None] * size, "pruned": [None] * size}
    for view in snap.runs:
        if view.status in (RunStatus.COMPLETED, RunStatus.PRUNED) and view.objective is not None:
            series[str(view.status)][view.index - 1] = view.objective
    return series


def curve_series(
    snap: SweepSnapshot,
    info: StudyInfo,
    live: list[dict[str, Any]],
) -> dict[str, list[float | None]]:
    """Each trial's objective per epoch, the trial training now from ``live`` (its epochs so
    far); past :data:`MAX_CURVES`, the best finished ones are kept."""
    curves: dict[int, list[float | None]] = {}
    for view in snap.runs:
        if view.index == snap.current:
            curves[view.index] = [row.get(info.objective) for row in live]
        elif view.curve:
            curves[view.index] = list(view.curve)
    if len(curves) > MAX_CURVES:
        ranked = sorted(
            (v for v in snap.runs if v.index in curves and v.index != snap.current),
            key=lambda v: _rank(v, info),
        )
        keep = {v.index for v in ranked[: MAX_CURVES - 1]} | {snap.current}
        curves = {i: c for i, c in curves.items() if i in keep}
    return {f"#{index}": curve for index, curve in sorted(curves.items())}


def _rank(view: SweepRunView, info: StudyInfo) -> float:
    if view.objective is None:
        return float("inf")
    return -view.objective if info.maximize else view.objective
