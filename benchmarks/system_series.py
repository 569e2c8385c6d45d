"""How busy each model keeps the GPU: the system sampler's figures (core/system_metrics.py) of
benchmarks/models.py's runs, as a Markdown section for RESULTS.md.

models.py keeps each run's per-epoch summaries and its utilization series (``"system"`` in its
JSON rows); this prints, per model, GPU utilization (mean over the steady epochs, and peak), GPU
memory at its peak, power, temperature, the process's CPU and resident memory, then a plot of
GPU utilization (and memory) over the run. gpu.sh runs it last on the GPU machine; back here,
``--append benchmarks/RESULTS.md`` adds the same section to the results.

    python benchmarks/system_series.py $OUT/vgg_small.json $OUT/alexnet.json $OUT/vgg16.json \\
        --markdown $OUT/system.md [--append benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.storage.report import text_plot


def _mean(values: list) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.fmean(values) if values else None


def _max(values: list) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return max(values) if values else None


def _f(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _mb_to_gb(mb: float | None) -> float | None:
    return None if mb is None else mb / 1024


def _gb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb / 1024:.1f}"


def model_line(row: dict) -> str:
    """One table row: the model's figures over its steady epochs (all, for a one-epoch run)."""
    epochs = [e for e in (row.get("system") or {}).get("epochs") or [] if e]
    steady = epochs[1:] or epochs

    def col(key: str) -> list:
        return [e.get(key) for e in steady]

    memory = f"{_gb(_max(col('gpu_mem_mb_peak')))} of {_gb(_max(col('gpu_mem_total_mb')))}"
    return (
        f"| {row['model']} | {row['epochs']} | {_f(_mean(col('gpu_util_mean')))} | "
        f"{_f(_max(col('gpu_util_peak')))} | {memory} | {_f(_mean(col('gpu_power_w_mean')))} | "
        f"{_f(_max(col('gpu_temp_c_peak')))} | {_f(_mean(col('cpu_mean')))} | "
        f"{_gb(_max(col('rss_mb_peak')))} | {row.get('steady_s_per_epoch')} |"
    )


def plots(row: dict) -> list[str]:
    series = (row.get("system") or {}).get("series") or []
    if len(series) < 2:
        return []
    minutes = [p["t"] / 60 for p in series]
    util = {"GPU %": [p.get("gpu_util") for p in series]}
    memory = {"GPU memory GB": [_mb_to_gb(p.get("gpu_mem_mb")) for p in series]}
    lines = []
    for title, values in ((f"{row['model']}: GPU utilization", util),
                          (f"{row['model']}: GPU memory", memory)):  # fmt: skip
        if any(v is not None for v in next(iter(values.values()))):
            chart = text_plot(title, values, height=12, x=minutes, xlabel="minutes")
            lines += ["", "```", chart, "```"]
    return lines


def section(rows: list[dict]) -> str:
    device = rows[0].get("device", "?") if rows else "?"
    unavailable = sorted({u for r in rows for u in (r.get("system") or {}).get("unavailable", [])})
    lines = [
        "## GPU: how busy the notebook's three models keep it (system sampler)",
        "",
        f"Device {device}; benchmarks/models.py's runs in gpu.sh, sampled once a second "
        "(NVML for the GPU, psutil for the host); steady epochs (the first, which compiles, left "
        "out). " + (f"Not measured: {'; '.join(unavailable)}." if unavailable else ""),
        "",
        "| model | epochs | GPU util % mean | peak | GPU memory GB peak | power W | temp °C peak "
        "| process CPU % | RSS GB peak | s/epoch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(model_line(r) for r in rows),
    ]
    for r in rows:
        lines += plots(r)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="benchmarks/models.py --json files")
    parser.add_argument("--markdown", help="write the section here")
    parser.add_argument("--append", help="append the section to this file (RESULTS.md)")
    args = parser.parse_args()
    rows = []
    for name in args.json:
        path = Path(name)
        if path.is_file():  # a step cut short by the time limit leaves no file
            rows += json.loads(path.read_text())
    text = section(rows)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
