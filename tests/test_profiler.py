"""The input-bound measurement: slow pipelines are caught, fast ones are not, figures agree."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from core import events as ev
from core.profiles import load_profile
from core.training.engine import Run
from core.training.profiler import InputProfiler, advice, verdict_for
from core.training.xprof_report import analyze

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "profiles" / "smoke.toml"
# 300 synthetic images, 100 for validation, batch 50: four steps per epoch.
ONE_EPOCH = [
    "train.epochs=1",
    "data.synthetic_train=300",
    "data.synthetic_test=60",
    "profiler.batches=[2, 4]",
]


def smoke(*overrides: str):
    return load_profile(SMOKE, overrides=[*ONE_EPOCH, *overrides])


def run_and_read(profile, tmp_path, **kwargs):
    seen: list = []
    run = Run(profile, tmp_path, seen.append, **kwargs)
    assert run.execute() == "completed"
    report = json.loads((run.run_dir / "report.json").read_text())
    summaries = [e for e in seen if isinstance(e, ev.ProfilerSummary)]
    logged = [json.loads(line) for line in (run.run_dir / "events.jsonl").read_text().splitlines()]
    return report, summaries, logged, run.run_dir


def slow_stage(seconds: float):
    """A host-side map that takes ``seconds`` per batch, in front of the model."""
    import tensorflow as tf

    def sleep(x):
        time.sleep(seconds)
        return x

    def slow(x, y):
        out = tf.py_function(sleep, [x], Tout=x.dtype)
        out.set_shape(x.shape)
        return out, y

    def stage(ds):
        return ds.map(slow)

    return stage


def test_slow_host_stage_is_highly_input_bound(tmp_path):
    report, summaries, logged, _ = run_and_read(smoke(), tmp_path, transform_train=slow_stage(1.0))
    pipe = report["input_pipeline"]
    assert pipe["input_bound_percent"] >= 50.0, pipe
    assert pipe["verdict"] == "highly"
    assert pipe["complete"] is True and pipe["window"] == [2, 4]
    assert pipe["batches_measured"] == 3
    # The report's figures are the event stream's figures.
    last = [e for e in logged if e["type"] == "profiler_summary"][-1]
    assert last["input_bound_percent"] == pipe["input_bound_percent"]
    assert last["verdict"] == pipe["verdict"] == summaries[-1].verdict
    assert "pipeline." in " ".join(pipe["advice"]) or "train." in " ".join(pipe["advice"])


def test_device_preprocessing_from_memory_is_not_input_bound(tmp_path):
    report, summaries, _, run_dir = run_and_read(smoke(), tmp_path)
    pipe = report["input_pipeline"]
    assert pipe["input_bound_percent"] < 5.0, pipe
    assert pipe["verdict"] == "not"
    assert summaries[-1].input_bound_percent == pipe["input_bound_percent"]
    assert "input-bound" in (run_dir / "report.md").read_text()
    # With the TensorFlow backend the trace is saved where TensorBoard's profile tab looks.
    assert list((run_dir / "tensorboard").glob("**/plugins/profile/*/*.xplane.pb"))
    assert pipe["details"]["xprof"]  # xprof's reading, or one line saying why there is none


def test_run_that_ends_before_the_window_still_reports(tmp_path):
    report, _summaries, logged, _ = run_and_read(smoke("profiler.batches=[500, 520]"), tmp_path)
    pipe = report["input_pipeline"]
    assert pipe["complete"] is False
    assert isinstance(pipe["input_bound_percent"], float)
    assert pipe["batches_measured"] >= 1
    assert "ended before batch 500" in pipe["details"]["note"]
    assert any(w["code"] == "window_incomplete" for w in report["warnings"])
    assert any(e["type"] == "warning" and e["code"] == "window_incomplete" for e in logged)


def test_window_selection_and_partial_window():
    prof = InputProfiler(3, 5)
    for batch in range(1, 5):
        prof.record(batch, wait=0.5 if batch >= 3 else 0.0, cycle=1.0)
    summary = prof.summary(smoke())
    assert summary.batches_measured == 2  # batches 3 and 4 of the window 3-5
    assert summary.input_bound_percent == 50.0 and summary.verdict == "highly"
    assert summary.complete is False and "inside the window" in summary.details["note"]
    prof.record(5, wait=0.0, cycle=1.0)
    full = prof.summary(smoke())
    assert full.complete and full.input_bound_percent == pytest.approx(100 / 3, abs=0.01)


@pytest.mark.parametrize(
    ("percent", "verdict"),
    [
        (0.0, "not"),
        (4.99, "not"),
        (5.0, "moderately"),
        (19.99, "moderately"),
        (20.0, "highly"),
        (100.0, "highly"),
    ],
)
def test_verdicts_follow_tensorflows_thresholds(percent, verdict):
    assert verdict_for(percent) == verdict


def test_advice_speaks_the_profiles_language():
    host = load_profile(ROOT / "profiles" / "alexnet-host.toml", check_data=False)
    tips = " ".join(advice(host, "highly"))
    assert 'pipeline.preprocess = "device"' in tips
    assert "pipeline.num_parallel_calls (now 2)" in tips
    assert "pipeline.cache = true" in tips
    assert advice(host, "not") == ["No change needed: the input pipeline keeps up with training."]


def test_missing_xprof_never_breaks_the_analysis(tmp_path, monkeypatch):
    trace = tmp_path / "tensorboard" / "train" / "plugins" / "profile" / "t" / "h.xplane.pb"
    trace.parent.mkdir(parents=True)
    trace.write_bytes(b"not a real trace")
    monkeypatch.setitem(sys.modules, "xprof.convert", None)  # import fails
    assert "not installed" in analyze(tmp_path)["summary"]
    monkeypatch.delitem(sys.modules, "xprof.convert")
    result = analyze(tmp_path)  # installed or not, a broken trace gives one line, no exception
    assert isinstance(result["summary"], str) and result["summary"]
    assert "no TensorFlow profiler trace" in analyze(tmp_path / "nothing")["summary"]
