"""``report.md``: the human summary of a run, with plotext plots as text."""

from __future__ import annotations

import re
import threading
from typing import Any

from core.training.profiler import VERDICT_TEXT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# plotext draws on one global figure; the engine thread and the console may both render.
_PLOT_LOCK = threading.Lock()


def text_plot(
    title: str, series: dict[str, list[float | None]], width: int = 70, height: int = 15
) -> str:
    """A plotext line plot rendered to plain text (no colour codes), for files and logs."""
    import plotext as plt

    with _PLOT_LOCK:
        plt.clear_figure()
        plt.plotsize(width, height)
        plt.theme("clear")
        plt.title(title)
        plotted = False
        for label, values in series.items():
            points = [(i + 1, v) for i, v in enumerate(values) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                plt.plot(list(xs), list(ys), label=label, marker="braille")
                plotted = True
        if not plotted:
            return f"{title}: no finished epoch yet"
        plt.xlabel("epoch")
        return ANSI.sub("", plt.build())


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def render_markdown(report: dict[str, Any]) -> str:
    profile = report.get("profile", {})
    epochs = report.get("epochs", [])
    train = profile.get("train", {})
    model = report.get("model") or {}
    data = profile.get("data", {})
    lines = [f"# Run {profile.get('name', '?')}: {report.get('status', '?')}", ""]
    if profile.get("description"):
        lines += [profile["description"], ""]
    lines += [
        "## What was run",
        "",
        f"- model: {profile.get('model', {}).get('architecture')} at "
        f"{profile.get('model', {}).get('input_size')}x{profile.get('model', {}).get('input_size')}"
        f", {model.get('params_total', 0):,} parameters ({model.get('params_trainable', 0):,} "
        "trainable)",
        f"- data: {data.get('source')} {data.get('path', '')}".rstrip(),
        f"- training: {train.get('optimizer')} lr {train.get('learning_rate')}, batch "
        f"{train.get('batch_size')}, {train.get('epochs')} epochs, {train.get('precision')}, "
        f"seed {train.get('seed')}",
        f"- augmentation: flip {profile.get('augment', {}).get('flip')}, rotation "
        f"{profile.get('augment', {}).get('rotation')}",
        f"- pipeline: preprocess on the {profile.get('pipeline', {}).get('preprocess')}",
        f"- environment: {_env_line(report.get('environment') or {})}",
        "",
        "## Epochs",
        "",
        "| epoch | seconds | loss | accuracy | val_loss | val_accuracy | lr |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in epochs:
        lines.append(
            f"| {e['epoch']} | {_fmt(e.get('seconds'), '.2f')} | {_fmt(e.get('loss'))} | "
            f"{_fmt(e.get('accuracy'))} | {_fmt(e.get('val_loss'))} | "
            f"{_fmt(e.get('val_accuracy'))} | {_fmt(e.get('lr'), '.2e')} |"
        )
    if epochs:
        lines += [
            "",
            "## Plots",
            "",
            "```",
            text_plot(
                "Model accuracy",
                {
                    "train": [e.get("accuracy") for e in epochs],
                    "validation": [e.get("val_accuracy") for e in epochs],
                },
            ),
            "```",
            "",
            "```",
            text_plot(
                "Model loss",
                {
                    "train": [e.get("loss") for e in epochs],
                    "validation": [e.get("val_loss") for e in epochs],
                },
            ),
            "```",
        ]
    test = report.get("test") or {}
    timing = report.get("timing") or {}
    lines += ["", "## Result", ""]
    lines.append(
        f"- test accuracy: {_fmt(test.get('accuracy'))}, test loss: {_fmt(test.get('loss'))}"
        if test
        else "- no test evaluation (the run did not complete)"
    )
    lines.append(
        f"- timing: {_fmt(timing.get('total_seconds'), '.1f')} s in all, first epoch "
        f"{_fmt(timing.get('first_epoch_seconds'), '.2f')} s, median epoch "
        f"{_fmt(timing.get('median_epoch_seconds'), '.2f')} s"
    )
    pipe = report.get("input_pipeline")
    lines += ["", "## Input pipeline", ""]
    if pipe:
        lines.append(
            f"- {pipe['input_bound_percent']:.1f}% input-bound: "
            f"{VERDICT_TEXT.get(pipe['verdict'], pipe['verdict'])} (window "
            f"{pipe['window'][0]}-{pipe['window'][1]}, {pipe['batches_measured']} "
            "batches measured)"
        )
        lines.append(f"- method: {pipe['method']}")
        lines += [f"- advice: {tip}" for tip in pipe.get("advice", [])]
        for key in ("note", "xprof"):
            if (pipe.get("details") or {}).get(key):
                lines.append(f"- {key}: {pipe['details'][key]}")
    else:
        lines.append("- not measured")
    warnings = report.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w['message']}" for w in warnings]
    if report.get("error"):
        lines += ["", "## Error", "", f"- {report['error'].get('message')}"]
    lines += ["", "## Repeat", "", "```", report.get("command", ""), "```", ""]
    return "\n".join(lines)


def _env_line(env: dict[str, Any]) -> str:
    return (
        f"Python {env.get('python')}, Keras {env.get('keras')} on {env.get('backend')} "
        f"{env.get('backend_version')}, devices {', '.join(env.get('devices', []))}, "
        f"{env.get('cpu_count')} CPUs"
    )
