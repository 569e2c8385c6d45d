"""The system sampler (core/system_metrics.py), its verdicts and its records, without training:
NVML through a fake module (no GPU here), psutil for real, the recorder and the follower on
hand-made readings. The run that records them for real is test_system_run.py's."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from core import events as ev
from core import system_metrics as sm
from core.storage.follow import RunFollower
from core.storage.recorder import RunRecorder
from core.storage.report import render_markdown, text_plot
from core.storage.rundir import CSV_FIELDS, load_run, read_history
from core.storage.system_report import latest_reading, system_section
from core.system_format import epoch_system_line, live_line, runs_cell
from core.system_verdicts import gpu_memory_near_full, rss_growing, underused_gpu

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


class FakeNvmlError(Exception):
    """Stands for pynvml.NVMLError."""


class FakeNvml:
    """pynvml's functions the sampler calls, over ``gpus`` (dicts of util, used and total MB,
    milliwatts, temperature); ``broken``: figures that raise as an unsupported one does."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[dict], broken: tuple[str, ...] = (), fail_init: bool = False):
        self.gpus, self.broken, self.fail_init = gpus, broken, fail_init
        self.calls: dict[str, int] = {}
        self.shut = False

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.broken:
            raise FakeNvmlError("Not Supported")

    def nvmlInit(self):
        if self.fail_init:
            raise FakeNvmlError("Driver/library version mismatch")

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return next(g for g in self.gpus if g["uuid"] == uuid)

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, handle):
        self._call("util")
        return SimpleNamespace(gpu=handle["util"], memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle):
        self._call("memory")
        used, total = handle["used_mb"] * MB, handle["total_mb"] * MB
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetPowerUsage(self, handle):
        self._call("power")
        return handle["mw"]

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._call("temp")
        return handle["temp"]


def gpu(util=80, used_mb=10_000, total_mb=80_000, mw=250_000, temp=60, uuid="GPU-a"):
    return {"util": util, "used_mb": used_mb, "total_mb": total_mb, "mw": mw, "temp": temp,
            "uuid": uuid}  # fmt: skip


def reading(cpu=100.0, rss=1000.0, gpus=(), epoch=1, elapsed=1.0) -> ev.SystemSampled:
    return ev.SystemSampled(elapsed, epoch, cpu, rss, 50.0, 20_000.0, gpus=list(gpus))


def gpu_reading(util, used=10_000.0, total=80_000.0, index=0) -> dict:
    return {"index": index, "util": util, "mem_mb": used, "mem_total_mb": total, "power_w": 250.0,
            "temp_c": 60.0}  # fmt: skip


# -- NVML, through the fake ----------------------------------------------------------------------


def test_nvml_figures_are_read_in_the_units_the_records_use():
    nvml = FakeNvml([gpu(util=87, used_mb=12_345, mw=245_500, temp=64)])
    reader = sm.GpuReader(nvml, environ={})
    assert reader.available and reader.problem == ""
    assert reader.names == ["NVIDIA H100 80GB HBM3"]
    [figures] = reader.read()
    assert figures == {"index": 0, "util": 87.0, "mem_mb": 12345.0, "mem_total_mb": 80000.0,
                       "power_w": 245.5, "temp_c": 64.0}  # fmt: skip
    reader.close()
    assert nvml.shut


def test_only_the_gpus_cuda_visible_devices_leaves_are_read():
    nvml = FakeNvml([gpu(util=10, uuid="GPU-a"), gpu(util=20, uuid="GPU-b"), gpu(util=30)])
    by_index = sm.GpuReader(nvml, environ={"CUDA_VISIBLE_DEVICES": "1"}).read()
    assert [(g["index"], g["util"]) for g in by_index] == [(0, 20.0)]  # CUDA's numbering
    by_uuid = sm.GpuReader(nvml, environ={"CUDA_VISIBLE_DEVICES": "GPU-b,GPU-a"}).read()
    assert [g["util"] for g in by_uuid] == [20.0, 10.0]
    none = sm.GpuReader(nvml, environ={"CUDA_VISIBLE_DEVICES": ""})
    assert not none.available and "no GPU" in none.problem


def test_a_figure_the_gpu_does_not_support_is_none_and_not_asked_again():
    nvml = FakeNvml([gpu()], broken=("power",))
    reader = sm.GpuReader(nvml, environ={})
    first, second = reader.read()[0], reader.read()[0]
    assert first["power_w"] is None and second["power_w"] is None
    assert first["util"] == 80.0
    assert nvml.calls["power"] == 1 and nvml.calls["util"] == 2


def test_nvml_that_does_not_start_is_said_once_and_the_host_is_still_read():
    sampler = sm.SystemSampler(nvml=FakeNvml([gpu()], fail_init=True), environ={})
    assert sampler.unavailable == [
        "GPU metrics: NVML does not start (Driver/library version mismatch)"
    ]
    taken = sampler.sample()
    assert taken.gpus == [] and taken.rss_mb is not None


def test_without_an_nvidia_gpu_nvml_is_never_imported(monkeypatch):
    monkeypatch.setattr(sm, "has_nvidia_gpu", lambda: False)
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    reader = sm.GpuReader(environ={})
    assert reader.problem == "GPU metrics: no NVIDIA GPU" and not reader.available
    assert "pynvml" not in sys.modules


def test_a_machine_without_psutil_access_is_said_and_gives_none(monkeypatch):
    monkeypatch.setattr(psutil.Process, "cpu_percent", lambda *a: (_ for _ in ()).throw(
        PermissionError("/proc/self/stat: permission denied")))  # fmt: skip
    host = sm.HostReader()
    assert host.problem.startswith("host metrics: psutil cannot read this machine")
    assert host.read() == (None, None, None, None)


def test_the_sampling_interval_comes_from_the_environment():
    assert sm.interval_from_env({}) == sm.DEFAULT_INTERVAL
    assert sm.interval_from_env({sm.INTERVAL_ENV: "0"}) == 0.0
    assert sm.interval_from_env({sm.INTERVAL_ENV: "0.5"}) == 0.5
    assert sm.interval_from_env({sm.INTERVAL_ENV: "often"}) == sm.DEFAULT_INTERVAL


# -- the sampler and its summaries ---------------------------------------------------------------


def test_the_host_figures_agree_with_psutils_reading_of_this_process():
    sampler = sm.SystemSampler(nvml=FakeNvml([]), environ={})
    ours = sampler.sample()
    rss = psutil.Process().memory_info().rss / MB
    assert ours.rss_mb == pytest.approx(rss, rel=0.1, abs=50)
    assert 0 <= ours.cpu_percent <= 100 * (os.cpu_count() or 1) + 1
    assert 0 <= ours.host_cpu_percent <= 100
    assert 0 < ours.available_mb <= psutil.virtual_memory().total / MB


def test_the_thread_reads_until_stopped_and_the_engine_drains_each_epoch():
    sampler = sm.SystemSampler(0.01, nvml=FakeNvml([gpu(util=40), gpu(util=60)]), environ={})
    sampler.begin_epoch(1)
    sampler.start()
    taken: list[ev.SystemSampled] = []
    deadline = time.monotonic() + 30
    while len(taken) < 3 and time.monotonic() < deadline:
        taken += sampler.drain()
        time.sleep(0.01)
    summary = sampler.end_epoch()
    sampler.stop()
    assert len(taken) >= 3 and all(r.epoch == 1 for r in taken)
    assert [r.elapsed for r in taken] == sorted(r.elapsed for r in taken)
    assert summary is not None and summary["gpu_util_mean"] == 50.0  # two GPUs averaged
    assert summary["gpu_power_w_peak"] == 500.0  # summed
    assert sampler.end_epoch() is None  # the next epoch starts empty


def test_an_epochs_summary_is_the_mean_and_peak_of_its_readings():
    readings = [
        reading(cpu=50, rss=1000, gpus=[gpu_reading(20, used=1000)]),
        reading(cpu=150, rss=1200, gpus=[gpu_reading(60, used=3000)]),
        reading(cpu=None, rss=1100, gpus=[]),
    ]
    s = sm.summarize(readings)
    assert set(s) == set(sm.SYSTEM_FIELDS)
    assert (s["cpu_mean"], s["cpu_peak"]) == (100.0, 150.0)
    assert (s["rss_mb_mean"], s["rss_mb_peak"]) == (1100.0, 1200.0)
    assert (s["gpu_util_mean"], s["gpu_util_peak"]) == (40.0, 60.0)
    assert (s["gpu_mem_mb_mean"], s["gpu_mem_mb_peak"], s["gpu_mem_total_mb"]) == (
        2000.0, 3000.0, 80000.0)  # fmt: skip
    assert s["available_mb_min"] == 20000.0
    assert sm.summarize([reading(gpus=[])])["gpu_util_mean"] is None


# -- the verdicts, on fixed series ---------------------------------------------------------------

TRAIN = {"batch_size": 32, "steps_per_execution": 1}


def epochs_with(**series: list) -> list[dict]:
    """Epoch rows whose "system" holds the given per-epoch figures."""
    count = len(next(iter(series.values())))
    return [{"epoch": i + 1, "system": {k: v[i] for k, v in series.items()}} for i in range(count)]


def test_an_idle_gpu_with_a_fast_input_pipeline_says_the_model_or_batch_is_too_small():
    epochs = epochs_with(gpu_util_mean=[5.0, 31.0, 35.0])  # the first (compiling) left out
    message = underused_gpu(epochs, 1.2, TRAIN)
    assert message is not None and "33%" in message and "too small" in message
    assert "train.batch_size (now 32)" in message and "train.steps_per_execution" in message


@pytest.mark.parametrize(
    ("utils", "input_bound"),
    [
        ([5.0, 80.0, 85.0], 1.2),  # busy
        ([5.0, 30.0, 30.0], 35.0),  # idle because the input is slow: the profiler's advice
        ([5.0, 30.0, 30.0], None),  # not measured
        ([30.0], 1.2),  # one epoch: nothing steady
        ([None, None, None], 1.2),  # no GPU
    ],
)
def test_no_idle_gpu_verdict_where_it_is_not_the_model(utils, input_bound):
    assert underused_gpu(epochs_with(gpu_util_mean=utils), input_bound, TRAIN) is None


def test_gpu_memory_near_full_is_said_before_it_runs_out():
    full = reading(gpus=[gpu_reading(90, used=76_000.0, total=80_000.0)])
    message = gpu_memory_near_full(full)
    assert message is not None and "95% full" in message and "train.batch_size" in message
    assert gpu_memory_near_full(reading(gpus=[gpu_reading(90, used=40_000.0)])) is None
    assert gpu_memory_near_full(reading(gpus=[])) is None


def test_memory_reserved_ahead_is_judged_by_what_the_allocator_holds():
    """TensorFlow reserves nearly all of a GPU (NVML: 98% used): the allocator's own figure,
    where the engine added it, decides; JAX's pool limit stands for the total."""
    reserved = gpu_reading(90, used=78_500.0, total=80_000.0)
    calm = reading(gpus=[{**reserved, "used_by_run_mb": 20_000.0}])
    assert gpu_memory_near_full(calm) is None
    pool = {**reserved, "used_by_run_mb": 58_000.0, "limit_mb": 60_000.0}
    message = gpu_memory_near_full(reading(gpus=[gpu_reading(10), pool]))
    assert message is not None and "97% full (56.6 of 58.6 GB)" in message


def test_resident_memory_growing_every_epoch_is_a_leak_warning():
    leaking = epochs_with(rss_mb_mean=[900.0, 1000.0, 1100.0, 1250.0, 1400.0])
    message = rss_growing(leaking)
    assert message is not None and "1,000 MB to 1,400 MB" in message and "leak" in message


@pytest.mark.parametrize(
    "rss",
    [
        [900.0, 1000.0, 1000.0, 1001.0, 1000.0],  # flat
        [900.0, 1000.0, 1010.0, 1020.0, 1030.0],  # rising, but by little
        [900.0, 1000.0, 1200.0, 1150.0, 1400.0],  # not every epoch
        [500.0, 1000.0, 1200.0, 1400.0],  # too few epochs after the first
    ],
)
def test_no_leak_warning_for_memory_that_does_not_keep_growing(rss):
    assert rss_growing(epochs_with(rss_mb_mean=rss)) is None


# -- the records ---------------------------------------------------------------------------------


def test_a_runs_records_hold_its_readings_and_each_epochs_summary(tmp_path):
    from test_recorder import open_new, row, started

    recorder = open_new(tmp_path)
    run_dir = recorder.run_dir
    event = started(run_dir)
    event.system_unavailable = ["GPU metrics: no NVIDIA GPU"]
    recorder(event)
    sampler = sm.SystemSampler(nvml=FakeNvml([]), environ={})
    sampler.begin_epoch(1)
    for _ in range(3):
        recorder(sampler.sample())
    summary = sampler.end_epoch()
    recorder.save_checkpoint(lambda p: Path(p).write_text("w"), row(1), {})
    recorder(ev.EpochEnded(**row(1), system=summary))
    recorder.close()

    lines = (run_dir / "system.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x)["type"] == "system_sampled" for x in lines)
    assert "system_sampled" not in (run_dir / "events.jsonl").read_text()
    header = (run_dir / "history.csv").read_text().splitlines()[0]
    assert header == ",".join(CSV_FIELDS)
    [read] = read_history(run_dir / "history.csv")
    assert read["system"]["rss_mb_peak"] == summary["rss_mb_peak"]
    record = load_run(run_dir)
    assert record.epochs[0]["system"] == summary
    assert record.report["system"]["unavailable"] == ["GPU metrics: no NVIDIA GPU"]
    assert len(record.report["system"]["series"]) == 3
    rss = psutil.Process().memory_info().rss / MB
    assert summary["rss_mb_peak"] == pytest.approx(rss, rel=0.1, abs=50)
    md = (run_dir / "report.md").read_text()
    assert "## System" in md and "not measured: GPU metrics: no NVIDIA GPU" in md
    assert "| resident memory MB |" in md and "Utilization over time" in md
    assert latest_reading(run_dir).elapsed == json.loads(lines[-1])["elapsed"]


def test_an_older_history_without_system_columns_reads_and_gains_them_on_resume(tmp_path):
    from test_recorder import open_new, row, started, train

    recorder = open_new(tmp_path)
    recorder(started(recorder.run_dir))
    train(recorder, range(1, 3))
    recorder.close()
    run_dir = recorder.run_dir
    old = "epoch,seconds,loss,accuracy,val_loss,val_accuracy,lr\n" + "".join(
        f"{r['epoch']},{r['seconds']},{r['loss']},{r['accuracy']},{r['val_loss']},"
        f"{r['val_accuracy']},{r['lr']}\n"
        for r in (row(1), row(2))
    )
    (run_dir / "history.csv").write_text(old)  # as an older version wrote it
    assert [r["epoch"] for r in load_run(run_dir).epochs] == [1, 2]
    assert "system" not in read_history(run_dir / "history.csv")[0]

    resumed = RunRecorder.reopen(run_dir)
    resumed.restore(lambda path: None)
    resumed(started(run_dir, initial_epoch=2))
    figures = sm.summarize([reading()])
    resumed.save_checkpoint(lambda p: Path(p).write_text("w"), row(3), {})
    resumed(ev.EpochEnded(**row(3), system=figures))
    resumed.close()
    history = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert "system" not in history[0] and history[2]["system"]["cpu_mean"] == 100.0
    assert (run_dir / "history.csv").read_text().splitlines()[0] == ",".join(CSV_FIELDS)


def test_a_report_without_a_system_section_renders_without_one(tmp_path):
    from test_recorder import open_new

    recorder = open_new(tmp_path)
    recorder.close()
    report = json.loads((recorder.run_dir / "report.json").read_text())
    assert "system" not in report and "## System" not in render_markdown(report)
    report["system"] = {"series": "garbage", "unavailable": [3]}  # a hand edit
    assert "## System" not in render_markdown(report)


def test_a_watcher_follows_the_readings_of_the_current_session(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    opened = ev.RunOpened(str(run_dir), "smoke", False)
    old = reading(elapsed=1.0)
    old.time = opened.time - 100  # an earlier session's
    (run_dir / "events.jsonl").write_text(json.dumps(opened.to_dict()) + "\n")
    lines = [json.dumps(r.to_dict()) for r in (old, reading(elapsed=2.0), reading(elapsed=3.0))]
    (run_dir / "system.jsonl").write_text("\n".join(lines) + "\n" + lines[-1][:20])  # torn end
    follower = RunFollower(run_dir)
    seen = [e for e in follower.poll() if isinstance(e, ev.SystemSampled)]
    assert [r.elapsed for r in seen] == [2.0, 3.0]
    with open(run_dir / "system.jsonl", "a") as fh:
        fh.write(lines[-1][20:] + "\n")
    assert [e.elapsed for e in follower.poll() if isinstance(e, ev.SystemSampled)] == [3.0]


def test_the_fronts_words_for_the_figures():
    busy = reading(cpu=104, rss=2150, gpus=[gpu_reading(87, used=12_600.0)])
    line = live_line([reading(gpus=[gpu_reading(10)]), busy])
    assert line.startswith("GPU ▁▇ GPU 87% · 12.3/78.1 GB · 250 W · 60°C · CPU 104% · RSS 2.1 GB")
    assert runs_cell(busy) == "GPU 87%" and runs_cell(reading(cpu=250)) == "CPU 250%"
    assert live_line([reading(cpu=50)]).startswith("CPU ▅ CPU 50%")
    text = epoch_system_line(2, sm.summarize([busy]))
    assert text == ("system 2: GPU 87% (peak 87%) · GPU memory 12.3 GB peak of 78.1 · "
                    "CPU 104% (peak 104%) · RSS 2.1 GB (peak 2.1) · host CPU 50%")  # fmt: skip


def test_the_command_lines_views_show_the_figures(capsys):
    """Piped: the unmeasured once after the run's first line, a line per epoch; on a terminal
    (and ``--watch``): the sparkline line under the progress bar."""
    import io

    from rich.console import Console
    from test_recorder import row, started

    from tui.cli.render import LiveRenderer, PlainRenderer

    out = io.StringIO()
    plain = PlainRenderer(out)
    event = started(Path("runs/x"))
    event.system_unavailable = ["GPU metrics: no NVIDIA GPU"]
    plain(event)
    plain(reading())  # a reading alone prints nothing when piped
    plain(ev.EpochEnded(**row(1), system=sm.summarize([reading(cpu=120, rss=2048)])))
    lines = out.getvalue().splitlines()
    assert lines[1] == "system metrics: not measured: GPU metrics: no NVIDIA GPU"
    assert lines[2].startswith("epoch 1/3")
    assert lines[3] == "system 1: CPU 120% (peak 120%) · RSS 2.0 GB (peak 2.0) · host CPU 50%"

    live = LiveRenderer()
    try:
        live(event)
        for util in (20.0, 95.0):
            live(reading(gpus=[gpu_reading(util)]))
        console = Console(record=True, width=120, file=io.StringIO())
        console.print(live._view())
        assert "GPU ▂█ GPU 95% · 9.8/78.1 GB" in console.export_text()
    finally:
        live.close()
    capsys.readouterr()


def test_tensorboard_gets_each_reading_and_each_epochs_figures(tmp_path):
    """tensorboard/system's scalars as TensorBoard's own loader reads them; a resumed run's
    readings go on from its earlier sessions' seconds (``offset``)."""
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.util import tensor_util

    from core.training.tensorboard import SystemScalars

    scalars = SystemScalars(tmp_path / "system", offset=100.0)
    for elapsed, util in ((1.0, 30.0), (2.0, 90.0)):
        scalars(reading(elapsed=elapsed, gpus=[gpu_reading(util)]))
    summary = sm.summarize([reading(gpus=[gpu_reading(30.0)]), reading(gpus=[gpu_reading(90.0)])])
    scalars(ev.EpochEnded(3, 1.0, 1.0, 0.5, 1.0, 0.5, 0.001, system=summary))
    scalars(ev.RunFinished("completed", "", None, None, 1.0))
    acc = ea.EventAccumulator(str(tmp_path / "system"), size_guidance={ea.TENSORS: 0})
    acc.Reload()

    def read(tag: str) -> list[tuple[int, float]]:
        return [(t.step, float(tensor_util.make_ndarray(t.tensor_proto))) for t in acc.Tensors(tag)]

    assert read("gpu_util") == [(101, 30.0), (102, 90.0)]
    assert read("epoch_gpu_util_mean") == [(2, 60.0)] and read("epoch_gpu_util_peak") == [(2, 90.0)]
    assert read("rss_mb") == [(101, 1000.0), (102, 1000.0)]


def test_misshapen_readings_and_series_are_left_out_not_shown(tmp_path):
    """A hand-edited system.jsonl or report: what does not have the shape is left out."""
    good = json.dumps(reading(elapsed=5.0).to_dict())
    bad = [
        json.dumps({**reading().to_dict(), "gpus": "x"}),
        json.dumps({**reading().to_dict(), "cpu_percent": "lots"}),
        json.dumps({**reading().to_dict(), "gpus": [{"util": "busy"}]}),
        '{"type": "system_sampled"}',
        "[1, 2]",
    ]
    (tmp_path / "system.jsonl").write_text("\n".join([good, *bad]) + "\n")
    assert latest_reading(tmp_path).elapsed == 5.0
    report = {"epochs": [], "system": {"series": [{"t": 1, "cpu": "x"}, {"t": "y"}, {"t": 2}]}}
    md = "\n".join(system_section(report, text_plot))
    assert "## System" in md
