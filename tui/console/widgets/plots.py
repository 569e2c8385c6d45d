"""Live plotext plots of a run's metrics, one figure per widget (no shared plotext state)."""

from __future__ import annotations

import itertools
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
LEGEND_MIN_HEIGHT = 14  # rows; below this the legend goes into the title
# One marker per series, in turn (a comparison may overlay many runs), so the series stay
# apart without colour too.
MARKERS = ("braille", "dot", "+", "x", "*", "o")
SYMBOL = {"braille": "⠿", "dot": "•", "+": "+", "x": "x", "*": "*", "o": "o"}
SHORT = {"validation": "val"}


class MetricPlot(PlotextPlot):
    """A line plot per epoch; redrawn only when ``show`` is called (at epoch end)."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.series: Series = {}
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
        # Small plots keep their canvas for data: the legend moves into the title, and the
        # series differ by marker too, so they stay apart without colour (NO_COLOR).
        legend = self.size.height >= LEGEND_MIN_HEIGHT
        keys = []
        for (label, values), marker in zip(self.series.items(), itertools.cycle(MARKERS)):
            points = [(i + 1, v) for i, v in enumerate(values) if v is not None]
            if points:
                xs = [x for x, _ in points]
                ys = [y for _, y in points]
                plt.plot(xs, ys, label=label if legend else "", marker=marker)
                keys.append(f"{SYMBOL[marker]}{SHORT.get(label, label)}")
                plotted = True
        if not plotted:
            plt.title(f"{self.title}: no epoch yet")
            return
        plt.title(self.title if legend or len(keys) < 2 else f"{self.title} {' '.join(keys)}")
        last = max(self.points, self.epochs or 0)
        step = max(1, -(-last // 6))
        plt.xticks(list(range(1, last + 1, step)))
        plt.xlim(1, max(2, last))

    def show_epochs(self, epochs: list[dict[str, Any]], figure: str, planned: int | None) -> None:
        """Draw one of RUN_FIGURES from a run's history rows."""
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
