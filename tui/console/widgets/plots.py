"""Live plotext plots of a run's metrics, one figure per widget (no shared plotext state)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

Series = dict[str, list[float | None]]
#: The three figures of a run (plot id suffix -> its series from history rows), the same on the
#: watch screen and in a saved run's report.
RUN_FIGURES = {
    "accuracy": {"train": "accuracy", "validation": "val_accuracy"},
    "loss": {"train": "loss", "validation": "val_loss"},
    "lr": {"lr": "lr"},
}
#: Figures drawn on a log scale: the notebook's learning-rate drops are 100x, a step on a log
#: axis and a misleading diagonal on a linear one.
LOG_FIGURES = ("lr",)
# One marker per series, in turn (a comparison may overlay many runs), so the series stay
# apart without colour too, and a line drawn over another still shows its own marks.
MARKERS = ("•", "+", "x", "o", "*", "#", "@", "%")
SHORT = {"validation": "val", "completed": "done"}


def log_ticks(values: list[float]) -> list[float] | None:
    """Powers of ten spanning ``values`` when they cover a decade or more (all positive), for a
    log axis; None when a linear axis reads as well."""
    low, high = min(values), max(values)
    if low <= 0 or high / low < 10:
        return None
    return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


class MetricPlot(PlotextPlot):
    """A line plot per epoch; redrawn only when ``show`` is called (at epoch end)."""

    def __init__(
        self,
        title: str,
        *,
        id: str | None = None,
        log: bool = False,
        scatter: bool = False,
        legend: bool = True,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.log_scale = log  # a log y axis when the values span a decade or more
        self.scatter = scatter  # points alone (values of separate things, as a study's trials)
        self.legend = legend  # False: many series (a study's trials) that markers alone tell
        self.series: Series = {}
        self.keys: list[str] = []  # each drawn series' marker and label ("•train")
        #: The screen shows the key beside the plot when it does not fit the title.
        self.key_outside = False
        self.y_range: tuple[float, float] | None = None  # the y axis drawn (linear plots)
        self.epochs: int | None = None
        self.draws = 0  # how many times new data was drawn (tests and debugging)
        self._draw()

    def show(self, series: Series, epochs: int | None = None) -> None:
        """Draw ``series`` (one value per epoch); ``epochs`` fixes the x axis to the plan."""
        self.series = {label: list(values) for label, values in series.items()}
        self.epochs = epochs
        self.draws += 1
        self._draw()
        self.refresh()

    @property
    def points(self) -> int:
        """Number of epochs drawn (the longest series)."""
        return max((len(v) for v in self.series.values()), default=0)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plotted = False
        # The key never goes inside the canvas, where plotext puts it (top left: exactly where
        # a rising accuracy ends); it goes in the title, and series differ by marker too, so
        # they stay apart without colour (NO_COLOR).
        self.keys = []
        drawn: list[float] = []
        for (label, values), marker in zip(self.series.items(), itertools.cycle(MARKERS)):
            points = [(i + 1, v) for i, v in enumerate(values) if v is not None]
            if points:
                xs = [x for x, _ in points]
                ys = [y for _, y in points]
                draw = plt.scatter if self.scatter else plt.plot
                draw(xs, ys, label="", marker=marker)
                self.keys.append(f"{marker}{SHORT.get(label, label)}")
                drawn += ys
                plotted = True
        if not plotted:
            plt.title(f"{self.title}: no epoch yet")
            return
        if self.log_scale:
            self._rate_axis(drawn)
        else:
            self._value_axis(drawn)
        keyed = len(self.keys) < 2 or not self.legend
        title = self.title if keyed else f"{self.title} {' '.join(self.keys)}"
        if self.size.width and len(title) > self.size.width - 2 and self.key_outside:
            title = self.title  # the screen shows the key beside the plot instead
        plt.title(title)
        last = max(self.points, self.epochs or 0)
        step = max(1, -(-last // 6))
        plt.xticks(list(range(1, last + 1, step)))
        plt.xlim(1, max(2, last))

    def _value_axis(self, values: list[float]) -> None:
        """A sane y range: around a single value (plotext would invent one), never below 0
        for values that cannot be, and within 0-1 for an accuracy (never 1.41)."""
        low, high = min(values), max(values)
        pad = (high - low) * 0.1 or max(0.05, abs(high) * 0.1)
        low, high = low - pad, high + pad
        if min(values) >= 0:  # a loss or an accuracy never reads below 0
            low = max(0.0, low)
        if "accuracy" in self.title and max(values) <= 1:
            high = min(1.0, high)
        self.y_range = (low, high)
        self.plt.ylim(low, high)

    def _rate_axis(self, values: list[float]) -> None:
        """A learning rate's axis: log over decades; else ticks at its few values, written as
        rates are ("1e-03", not "0.00100")."""
        ticks = log_ticks(values)
        if ticks is not None:
            self.plt.yscale("log")
        else:
            ticks = sorted(set(values))
            if len(ticks) > 4:
                return
        self.plt.yticks(ticks, [f"{t:.0e}" if t else "0" for t in ticks])

    def show_epochs(self, epochs: list[dict[str, Any]], figure: str, planned: int | None) -> None:
        """Draw one of RUN_FIGURES from a run's history rows (the learning rate on a log axis)."""
        self.log_scale = figure in LOG_FIGURES
        self.show(
            {label: [row.get(key) for row in epochs] for label, key in RUN_FIGURES[figure].items()},
            planned,
        )

    def on_resize(self) -> None:
        if self.series:
            self._draw()

    def render(self) -> RenderResult:
        """Draw the figure; a plotext failure shows as text rather than ending the console."""
        try:
            return super().render()
        except Exception as exc:  # plotext has edge cases (degenerate ranges, tiny sizes)
            return Text(f"{self.title}: cannot draw ({exc.__class__.__name__})")
