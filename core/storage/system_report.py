"""The system sampler's readings in the run directory: ``system.jsonl`` and the report's part.

``system.jsonl`` holds every reading (a ``SystemSampled`` event per line, append-only, written
by the recorder); a watcher follows it as it grows (core/storage/follow.py) and the runs screen
reads its last line (:func:`latest_reading`). ``report.json``'s ``"system"`` keeps what the
report shows: what could not be read, and the series over the run's training time, averaged down
to at most MAX_POINTS points (a resumed run's sessions one after the other). ``report.md``'s
"System" section (:func:`system_section`) is a short table of each figure's mean and peak over
the epochs and a plot of utilization over time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.events import SystemSampled
from core.system_metrics import gpu_figures

SYSTEM_FILE = "system.jsonl"
#: The report's series holds at most this many points.
MAX_POINTS = 240
#: A point's figures: training seconds, then the figures plotted and tabled.
POINT_KEYS = ("t", "gpu_util", "gpu_mem_mb", "cpu", "rss_mb")


def downsample(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """``points`` averaged in runs of equal length down to ``limit`` or fewer."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / limit)
    out = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        merged: dict[str, Any] = {}
        for key in POINT_KEYS:
            values = [p[key] for p in bucket if isinstance(p.get(key), (int, float))]
            merged[key] = round(statistics.fmean(values), 1) if values else None
        out.append(merged)
    return out


@dataclass
class SystemSeries:
    """The readings as the report keeps them (the recorder adds each one)."""

    points: list[dict[str, Any]] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    #: Training seconds of the sessions before this one (a resumed run's time axis goes on).
    offset: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.points or self.unavailable)

    def add(self, reading: SystemSampled) -> None:
        gpu = gpu_figures(reading)
        self.points.append(
            {
                "t": round(self.offset + reading.elapsed, 1),
                "gpu_util": gpu["util"],
                "gpu_mem_mb": gpu["mem_mb"],
                "cpu": reading.cpu_percent,
                "rss_mb": reading.rss_mb,
            }
        )
        if len(self.points) >= 4 * MAX_POINTS:  # memory stays bounded, however long the run
            self.points = downsample(self.points, 2 * MAX_POINTS)

    def to_report(self) -> dict[str, Any]:
        series = downsample(self.points, MAX_POINTS)
        return {"unavailable": list(self.unavailable), "series": series}

    @classmethod
    def from_report(cls, raw: Any) -> SystemSeries:
        """A resumed run's series from its report (what does not read is left out)."""
        if not isinstance(raw, dict):
            return cls()
        series = raw.get("series") if isinstance(raw.get("series"), list) else []
        points = [
            {key: p.get(key) if _number(p.get(key)) else None for key in POINT_KEYS}
            for p in series
            if isinstance(p, dict) and _number(p.get("t"))
        ]
        offset = max((p["t"] for p in points), default=0.0)
        unavailable = [u for u in raw.get("unavailable") or [] if isinstance(u, str)]
        return cls(points, unavailable, float(offset))


def latest_reading(run_dir: Path | str, tail_bytes: int = 4096) -> SystemSampled | None:
    """The last whole line of the run's ``system.jsonl`` as a reading (None when there is
    none, or it does not read): one small read from the file's end."""
    path = Path(run_dir) / SYSTEM_FILE
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - tail_bytes))
            data = fh.read()
    except OSError:
        return None
    for line in reversed(data.splitlines()):
        reading = reading_from_line(line)
        if reading is not None:
            return reading
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_reading(data: dict[str, Any]) -> bool:
    """A reading's fields of the shapes the fronts use (a hand edit may hold anything)."""
    host = ("cpu_percent", "rss_mb", "host_cpu_percent", "available_mb")
    gpus = data.get("gpus", [])
    return (
        _number(data.get("elapsed"))
        and _number(data.get("time", 0))
        and isinstance(data.get("epoch"), int)
        and all(data.get(key) is None or _number(data.get(key)) for key in host)
        and isinstance(gpus, list)
        and all(
            isinstance(g, dict) and all(v is None or _number(v) for v in g.values()) for g in gpus
        )
    )


def reading_from_line(line: bytes | str) -> SystemSampled | None:
    """One line of ``system.jsonl`` as its reading; None for a torn, foreign or misshapen
    line."""
    with contextlib.suppress(ValueError, TypeError, KeyError):
        data = json.loads(line)
        ours = isinstance(data, dict) and data.pop("type", None) == "system_sampled"
        if ours and _valid_reading(data):
            return SystemSampled(**data)
    return None


# -- report.md ----------------------------------------------------------------------------------

#: The table's rows: label, the epoch fields of its mean and of its peak, the number format.
TABLE = (
    ("GPU utilization %", "gpu_util_mean", "gpu_util_peak", ".0f"),
    ("GPU memory MB", "gpu_mem_mb_mean", "gpu_mem_mb_peak", ",.0f"),
    ("GPU power W", "gpu_power_w_mean", "gpu_power_w_peak", ".0f"),
    ("GPU temperature °C", "gpu_temp_c_mean", "gpu_temp_c_peak", ".0f"),
    ("process CPU % (100 = a core)", "cpu_mean", "cpu_peak", ".0f"),
    ("resident memory MB", "rss_mb_mean", "rss_mb_peak", ",.0f"),
    ("machine CPU %", "host_cpu_mean", "host_cpu_peak", ".0f"),
    ("available memory MB (lowest)", "available_mb_mean", "available_mb_min", ",.0f"),
)


def run_figures(epochs: list[dict[str, Any]]) -> dict[str, float]:
    """The run's figures from its epochs' summaries: means averaged, peaks the highest (the
    lowest for available memory)."""
    out: dict[str, float] = {}
    systems = [e["system"] for e in epochs if isinstance(e.get("system"), dict)]
    for _, mean_key, peak_key, _ in TABLE:
        means = [s[mean_key] for s in systems if isinstance(s.get(mean_key), (int, float))]
        peaks = [s[peak_key] for s in systems if isinstance(s.get(peak_key), (int, float))]
        if means:
            out[mean_key] = statistics.fmean(means)
        if peaks:
            out[peak_key] = min(peaks) if peak_key.endswith("_min") else max(peaks)
    return out


def system_section(report: Mapping[str, Any], plot: Callable[..., str]) -> list[str]:
    """report.md's "System" lines; none for a run without readings (older runs, sampling off).
    ``plot``: core.storage.report.text_plot."""
    raw = report.get("system")
    if not isinstance(raw, dict):
        return []
    series = SystemSeries.from_report(raw)
    figures = run_figures(report.get("epochs") or [])
    lines = ["", "## System", ""]
    lines += [f"- not measured: {note}" for note in series.unavailable]
    if figures:
        lines += ["", "| over the epochs | mean | peak |", "| --- | ---: | ---: |"]
        for label, mean_key, peak_key, spec in TABLE:
            if mean_key in figures or peak_key in figures:
                mean = format(figures[mean_key], spec) if mean_key in figures else "-"
                peak = format(figures[peak_key], spec) if peak_key in figures else "-"
                lines.append(f"| {label} | {mean} | {peak} |")
    points = series.points
    if len(points) >= 2:
        minutes = [p["t"] / 60 for p in points]
        plotted = {"GPU %": [p.get("gpu_util") for p in points]}
        if all(v is None for v in plotted["GPU %"]):
            plotted = {}
        plotted["process CPU %"] = [p.get("cpu") for p in points]
        chart = plot("Utilization over time", plotted, x=minutes, xlabel="minutes of training")
        lines += ["", "```", chart, "```"]
    return lines if len(lines) > 3 else []
