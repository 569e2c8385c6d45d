"""``report.md``: the human summary of a run, with plotext plots as text."""

from __future__ import annotations

import itertools
import re
import shlex
import threading
from typing import Any

from core.format import EPOCH_COLUMNS, device_name, duration, epoch_cells, fmt, percent
from core.hints import hint_for_report
from core.status import RESUMES_AS_IS
from core.storage.results_md import classes_section, export_lines, model_file_lines
from core.storage.system_report import system_section
from core.words import VERDICT_TEXT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: One marker per series, in turn: report.md is read without colour, so train and validation
#: differ by their marks (the legend shows each).
MARKERS = ("•", "+", "x", "o")
# plotext draws on one global figure; the engine thread and the console may both render.
_PLOT_LOCK = threading.Lock()


def text_plot(
    title: str,
    series: dict[str, list[float | None]],
    width: int = 70,
    height: int = 15,
    *,
    x: list[float] | None = None,
    xlabel: str = "epoch",
) -> str:
    """A plotext line plot rendered to plain text (no colour codes), for files and logs.
    Against the epochs (1, 2, ...), or ``x`` (the system section's minutes)."""
    import plotext as plt

    with _PLOT_LOCK:
        plt.clear_figure()
        plt.plotsize(width, height)
        plt.theme("clear")
        plotted = False
        keys = []
        for (label, values), marker in zip(series.items(), itertools.cycle(MARKERS)):
            xs_all = x if x is not None else range(1, len(values) + 1)
            points = [(i, v) for i, v in zip(xs_all, values, strict=False) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                # No plotext legend: it is drawn inside the canvas, over the data. The key
                # goes in the title instead.
                plt.plot(list(xs), list(ys), marker=marker)
                keys.append(f"{marker} {label}")
                plotted = True
        if not plotted:
            return f"{title}: no finished epoch yet"
        plt.title(f"{title} ({'  '.join(keys)})" if len(keys) > 1 else title)
        if x is None:
            last = max(len(values) for values in series.values())
            plt.xticks(list(range(1, last + 1, max(1, -(-last // 10)))))  # whole epochs only
        plt.xlabel(xlabel)
        return ANSI.sub("", plt.build())


def render_markdown(report: dict[str, Any], run_dir: Any = None) -> str:
    """``report.md`` from ``report.json``'s content: each section from what the report holds
    (``run_dir``: where the run lives, for the command that resumes it)."""
    profile = report.get("profile", {})
    epochs = report.get("epochs", [])
    lines = [f"# Run {profile.get('name', '?')}: {report.get('status', '?')}", ""]
    # What this run did, not the profile's description (which tells its defaults: a run
    # with --set train.epochs=3 is no "20 epochs" run).
    lines += [_run_line(report), ""]
    lines += _setup_section(report)
    lines += _epochs_section(epochs)
    if epochs:
        lines += _plots_section(epochs)
    lines += _result_section(report.get("test") or {}, report.get("timing") or {})
    hint = hint_for_report(report)
    if hint:
        lines.append(f"- hint: {hint}")
    lines += classes_section(report) + model_file_lines(report) + export_lines(report)
    lines += _pipeline_section(report.get("input_pipeline"))
    lines += system_section(report, text_plot)
    warnings = report.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w['message']}" for w in warnings]
    if report.get("error"):
        lines += ["", "## Error", "", f"- {report['error'].get('message')}"]
    lines += _resume_section(report, run_dir)
    lines += ["", "## Repeat", "", "```", report.get("command", ""), "```", ""]
    return "\n".join(lines)


def _run_line(report: dict[str, Any]) -> str:
    """ "2 of 20 epochs trained; stopped by SIGTERM (...)." under the title."""
    planned = (report.get("profile") or {}).get("train", {}).get("epochs")
    done = len(report.get("epochs") or [])
    line = f"{done} of {planned} epochs trained" if planned else f"{done} epoch(s) trained"
    stop = report.get("stop")
    if isinstance(stop, dict) and stop.get("message"):
        line += f"; {str(stop['message']).rstrip('.')}"
    return line + "."


def _resume_section(report: dict[str, Any], run_dir: Any = None) -> list[str]:
    """How a run that ``--resume`` takes as it is (stopped, killed, failed, pruned) goes on from
    its last finished epoch (Repeat starts over)."""
    if str(report.get("status")) not in RESUMES_AS_IS:
        return []
    where = run_dir or "RUN_DIR"
    return [
        "",
        "## Resume",
        "",
        "It goes on from its last finished epoch:",
        "",
        "```",
        f"cifar-tui --resume {shlex.quote(str(where))}",
        "```",
    ]


def _setup_section(report: dict[str, Any]) -> list[str]:
    """What was run: the model, data, training settings and the machine."""
    profile = report.get("profile", {})
    model_cfg = profile.get("model", {})
    model = report.get("model") or {}
    data = profile.get("data", {})
    train = profile.get("train", {})
    augment = profile.get("augment", {})
    size = model_cfg.get("input_size")
    return [
        "## What was run",
        "",
        f"- model: {model_cfg.get('architecture')} at {size}x{size}, "
        f"{model.get('params_total', 0):,} parameters ({model.get('params_trainable', 0):,} "
        "trainable)",
        f"- data: {data.get('source')} {data.get('path', '')}".rstrip(),
        f"- training: {train.get('optimizer')} lr {train.get('learning_rate')}, batch "
        f"{train.get('batch_size')}, {train.get('epochs')} epochs, {train.get('precision')}, "
        f"seed {train.get('seed')}",
        f"- augmentation: flip {augment.get('flip')}, rotation {augment.get('rotation')}",
        f"- pipeline: preprocess on the {profile.get('pipeline', {}).get('preprocess')}",
        f"- environment: {_env_line(report.get('environment') or {})}",
    ]


def _epochs_section(epochs: list[dict[str, Any]]) -> list[str]:
    """The epoch table, in the columns and number formats every front shows."""
    return [
        "",
        "## Epochs",
        "",
        "| " + " | ".join(EPOCH_COLUMNS) + " |",
        "| " + " | ".join("---:" for _ in EPOCH_COLUMNS) + " |",
        *("| " + " | ".join(epoch_cells(e)) + " |" for e in epochs),
    ]


def _plots_section(epochs: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## Plots"]
    for title, train, validation in (
        ("Model accuracy", "accuracy", "val_accuracy"),
        ("Model loss", "loss", "val_loss"),
    ):
        series = {
            "train": [e.get(train) for e in epochs],
            "validation": [e.get(validation) for e in epochs],
        }
        lines += ["", "```", text_plot(title, series), "```"]
    return lines


def _result_section(test: dict[str, Any], timing: dict[str, Any]) -> list[str]:
    return [
        "",
        "## Result",
        "",
        f"- test accuracy: {percent(test.get('accuracy'))}, test loss: {fmt(test.get('loss'))}"
        if test
        else "- no test evaluation (the run did not complete)",
        f"- timing: {duration(timing.get('total_seconds'))} in all, first epoch "
        f"{fmt(timing.get('first_epoch_seconds'), '.2f')} s, median epoch "
        f"{fmt(timing.get('median_epoch_seconds'), '.2f')} s",
    ]


def _pipeline_section(pipe: dict[str, Any] | None) -> list[str]:
    """The profiler's verdict on the input pipeline, with its method and advice."""
    lines = ["", "## Input pipeline", ""]
    if not pipe:
        return [*lines, "- not measured"]
    first, last = pipe["window"][0], pipe["window"][1]
    lines.append(
        f"- {fmt(pipe['input_bound_percent'], '.1f')}% input-bound: "
        f"{VERDICT_TEXT.get(pipe['verdict'], pipe['verdict'])} (window "
        f"{first}-{last}, {pipe['batches_measured']} batches measured)"
    )
    lines.append(f"- method: {pipe['method']}")
    lines += [f"- advice: {tip}" for tip in pipe.get("advice", [])]
    details = pipe.get("details") or {}
    lines += [f"- {key}: {details[key]}" for key in ("note", "xprof") if details.get(key)]
    return lines


def _env_line(env: dict[str, Any]) -> str:
    devices = ", ".join(device_name(d) for d in env.get("devices", []))
    return (
        f"Python {env.get('python')}, Keras {env.get('keras')} on {env.get('backend')} "
        f"{env.get('backend_version')}, devices {devices}, "
        f"{env.get('cpu_count')} CPUs"
    )
