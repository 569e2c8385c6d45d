"""How the system sampler's figures read, once for every front (core/system_metrics.py).

Plain strings, as core/format.py's: the live line of the latest reading (the watch screen, the
headless live view, ``--watch``), an epoch's one plain line (piped output), the runs screen's
cell, and a sparkline of the recent readings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.events import SystemSampled
from core.system_metrics import gpu_figures

SPARKS = "▁▂▃▄▅▆▇█"


def gb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb / 1024:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def reading_text(reading: SystemSampled) -> str:
    """The latest reading in one short line: "GPU 87% · 12.3/80.0 GB · 245 W · 64°C · CPU
    104% · RSS 2.1 GB · host 98%" (the GPU part only where there is one)."""
    parts = []
    gpu = gpu_figures(reading)
    if gpu["util"] is not None or gpu["mem_mb"] is not None:
        count = f"{len(reading.gpus)} GPUs" if len(reading.gpus) > 1 else "GPU"
        parts.append(f"{count} {_pct(gpu['util'])}")
        if gpu["mem_mb"] is not None:
            parts.append(f"{gb(gpu['mem_mb'])}/{gb(gpu['mem_total_mb'])} GB")
        if gpu["power_w"] is not None:
            parts.append(f"{gpu['power_w']:.0f} W")
        if gpu["temp_c"] is not None:
            parts.append(f"{gpu['temp_c']:.0f}°C")
    parts.append(f"CPU {_pct(reading.cpu_percent)}")
    parts.append(f"RSS {gb(reading.rss_mb)} GB")
    parts.append(f"host {_pct(reading.host_cpu_percent)}")
    return " · ".join(parts)


def busy_figure(reading: SystemSampled) -> float | None:
    """What a sparkline follows: the GPU's utilization, or the process's CPU % without one."""
    util = gpu_figures(reading)["util"]
    return util if util is not None else reading.cpu_percent


def sparkline(values: Sequence[float | None], width: int = 20, top: float = 100.0) -> str:
    """The last ``width`` values as block characters, 0 to ``top`` (CPU % may go beyond:
    capped); a missing value is a space."""
    out = []
    for value in list(values)[-width:]:
        if value is None:
            out.append(" ")
        else:
            level = min(max(value / top, 0.0), 1.0)
            out.append(SPARKS[min(len(SPARKS) - 1, int(level * len(SPARKS)))])
    return "".join(out)


def live_line(readings: Sequence[SystemSampled], width: int = 20) -> str:
    """The sparkline of the recent readings, then the latest in words ("" without any)."""
    if not readings:
        return ""
    latest = readings[-1]
    spark = sparkline([busy_figure(r) for r in readings], width)
    what = "GPU" if gpu_figures(latest)["util"] is not None else "CPU"
    return f"{what} {spark} {reading_text(latest)}"


def epoch_system_line(epoch: int, system: Mapping[str, Any]) -> str:
    """An epoch's figures as one plain line: "system 2: GPU 87% (peak 99%), 12.3 GB peak of
    80.0 · CPU 104% (peak 180%) · RSS 2.1 GB (peak 2.2) · host 98%"."""
    parts = []
    if system.get("gpu_util_mean") is not None:
        parts.append(
            f"GPU {_pct(system['gpu_util_mean'])} (peak {_pct(system.get('gpu_util_peak'))})"
        )
    if system.get("gpu_mem_mb_peak") is not None:
        parts.append(
            f"GPU memory {gb(system['gpu_mem_mb_peak'])} GB peak of "
            f"{gb(system.get('gpu_mem_total_mb'))}"
        )
    parts.append(f"CPU {_pct(system.get('cpu_mean'))} (peak {_pct(system.get('cpu_peak'))})")
    parts.append(f"RSS {gb(system.get('rss_mb_mean'))} GB (peak {gb(system.get('rss_mb_peak'))})")
    parts.append(f"host CPU {_pct(system.get('host_cpu_mean'))}")
    return f"system {epoch}: " + " · ".join(parts)


def unavailable_text(notes: Sequence[str]) -> str:
    """What is not measured here, for the device line: "not measured: GPU metrics: no NVIDIA
    GPU"."""
    return "not measured: " + "; ".join(notes) if notes else ""


def runs_cell(reading: SystemSampled | None) -> str:
    """The runs screen's column for a live run: "GPU 87%" or "CPU 104%"; "-" otherwise."""
    if reading is None:
        return "-"
    util = gpu_figures(reading)["util"]
    if util is not None:
        return f"GPU {util:.0f}%"
    return f"CPU {_pct(reading.cpu_percent)}"
