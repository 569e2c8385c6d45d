"""xprof's own reading of the TensorFlow profiler trace, when xprof is installed.

Optional by design: xprof is an extra (``pip install -e ".[xprof]"``), and its
input_pipeline_analyzer reports step times only when a GPU or TPU ran the steps. Whatever
happens here, a run never fails because of it: the result is a short dict for the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def latest_trace(run_dir: Path) -> Path | None:
    traces = sorted((run_dir / "tensorboard").glob("**/plugins/profile/*/*.xplane.pb"))
    return traces[-1] if traces else None


def analyze(run_dir: Path) -> dict[str, Any]:
    """xprof's input-pipeline analysis of the run's trace, or why there is none, in one line."""
    trace = latest_trace(run_dir)
    if trace is None:
        return {
            "summary": "no TensorFlow profiler trace was captured (the window was not "
            "reached, the trace was off, or the backend is not TensorFlow)"
        }
    try:
        from xprof.convert import raw_to_tool_data
    except Exception:  # missing, or broken by a version clash
        return {
            "summary": 'xprof is not installed (pip install -e ".[xprof]" adds its '
            "analysis); the trace is in tensorboard/ for TensorBoard's profile tab",
            "trace": str(trace.relative_to(run_dir)),
        }
    try:
        raw, _ = raw_to_tool_data.xspace_to_tool_data([str(trace)], "input_pipeline_analyzer", {})
        tables = json.loads(raw)
        props = tables[1].get("p", {})
        ops = (
            [
                {"op": row["c"][0]["v"], "ms": round(float(row["c"][2]["v"]), 3)}
                for row in tables[2].get("rows", [])[:3]
            ]
            if len(tables) > 2
            else []
        )
    except Exception as exc:  # xprof's formats change between versions
        return {
            "summary": f"xprof could not analyze the trace ({exc.__class__.__name__})",
            "trace": str(trace.relative_to(run_dir)),
        }
    hardware = props.get("hardware_type", "?")
    conclusion = props.get("input_conclusion", "")
    if hardware == "CPU_ONLY":
        summary = (
            "xprof's input_pipeline_analyzer gives step times only when a GPU or TPU ran "
            f'the steps (this trace is {hardware}): "{conclusion}"'
        )
    else:
        summary = f"xprof ({hardware}): {conclusion} {props.get('summary_nextstep', '')}".strip()
    return {
        "summary": summary,
        "hardware": hardware,
        "steptime_ms_average": props.get("steptime_ms_average"),
        "infeed_time_ms_avg": props.get("infeed_time_ms_avg"),
        "top_input_ops": ops,
        "trace": str(trace.relative_to(run_dir)),
    }
