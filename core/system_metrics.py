"""Is the GPU busy? The host's and the GPUs' figures, sampled beside a run.

:class:`SystemSampler` is a daemon thread that reads, about once a second:

- the host, through ``psutil``: this process's CPU % (100 = one core busy) and resident memory,
  the machine's CPU % (of all its cores) and the memory still available;
- each NVIDIA GPU the run may use, through NVIDIA's own NVML bindings (``nvidia-ml-py``, module
  ``pynvml``), imported only when the machine has an NVIDIA driver: utilization %, memory used
  and total, power and temperature.

It calls no listener and writes no file: the engine drains its readings from fit's thread
(core/training/system_callback.py) and sends them as ``SystemSampled`` events, so the recorder
and the fronts stay listeners. A metric that cannot be read here (no GPU, NVML missing, a
container without ``/proc``) is None, and said once in ``unavailable`` (the device line); a
reading that fails later is dropped the same way. Nothing here ever raises into a run.

``CIFAR_TUI_SAMPLE_SECONDS`` sets the interval (0 turns sampling off).
"""

from __future__ import annotations

import contextlib
import glob
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from core.events import SystemSampled

#: Seconds between two readings, unless $CIFAR_TUI_SAMPLE_SECONDS says otherwise.
DEFAULT_INTERVAL = 1.0
INTERVAL_ENV = "CIFAR_TUI_SAMPLE_SECONDS"
MB = 1024 * 1024

#: An epoch's summary (history.csv's extra columns, report.json's epoch "system"): the mean and
#: the peak of each figure over the epoch's readings (available memory: its lowest). GPU figures
#: of one reading: utilization averaged over the GPUs, memory of the fullest, power summed,
#: temperature of the hottest.
SYSTEM_FIELDS = (
    "cpu_mean",
    "cpu_peak",
    "rss_mb_mean",
    "rss_mb_peak",
    "host_cpu_mean",
    "host_cpu_peak",
    "available_mb_mean",
    "available_mb_min",
    "gpu_util_mean",
    "gpu_util_peak",
    "gpu_mem_mb_mean",
    "gpu_mem_mb_peak",
    "gpu_mem_total_mb",
    "gpu_power_w_mean",
    "gpu_power_w_peak",
    "gpu_temp_c_mean",
    "gpu_temp_c_peak",
)


def interval_from_env(environ: dict[str, str] | None = None) -> float:
    """The sampling interval: $CIFAR_TUI_SAMPLE_SECONDS (0: off), else DEFAULT_INTERVAL."""
    text = (environ if environ is not None else os.environ).get(INTERVAL_ENV, "")
    try:
        value = float(text) if text.strip() else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return max(0.0, value) if value == value else DEFAULT_INTERVAL  # NaN: the default


# -- the host --------------------------------------------------------------------------------------


class HostReader:
    """psutil's reading of this process and the machine; ``None`` fields where it cannot."""

    def __init__(self) -> None:
        self.problem = ""
        self._psutil: Any = None
        self._process: Any = None
        try:
            import psutil

            self._process = psutil.Process()
            # The first cpu_percent calls start the count: their 0.0 means nothing.
            self._process.cpu_percent(None)
            psutil.cpu_percent(None)
            self._process.memory_info()
            psutil.virtual_memory()
            self._psutil = psutil
        except ImportError:
            self.problem = "host metrics: psutil is not installed"
        except Exception as exc:  # a container without /proc access, ...
            self.problem = f"host metrics: psutil cannot read this machine ({_why(exc)})"

    def read(self) -> tuple[float | None, float | None, float | None, float | None]:
        """(process CPU %, resident MB, machine CPU %, available MB)."""
        if self._psutil is None:
            return None, None, None, None
        ps, proc = self._psutil, self._process
        return (
            _safe(lambda: proc.cpu_percent(None)),
            _safe(lambda: proc.memory_info().rss / MB),
            _safe(lambda: ps.cpu_percent(None)),
            _safe(lambda: ps.virtual_memory().available / MB),
        )


# -- the GPUs --------------------------------------------------------------------------------------


def has_nvidia_gpu() -> bool:
    """Whether the NVIDIA driver shows a GPU here (its device files or /proc entries): only
    then is NVML worth importing."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*"))


def load_nvml() -> tuple[Any, str]:
    """``pynvml`` (nvidia-ml-py) when an NVIDIA GPU is present and NVML starts, else None and
    why not, in words."""
    if not has_nvidia_gpu():
        return None, "GPU metrics: no NVIDIA GPU"
    try:
        import pynvml
    except ImportError:
        return None, "GPU metrics: nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    return pynvml, ""


def visible_indices(environ: dict[str, str] | None = None) -> list[str] | None:
    """The GPUs this process may use, as $CUDA_VISIBLE_DEVICES names them (indices or
    ``GPU-`` UUIDs); None when it is not set (every GPU)."""
    value = (environ if environ is not None else os.environ).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


class GpuReader:
    """NVML's reading of the run's GPUs (those $CUDA_VISIBLE_DEVICES leaves it): per GPU, a
    dict of index, util, mem_mb, mem_total_mb, power_w and temp_c (None where unsupported)."""

    def __init__(self, nvml: Any = None, environ: dict[str, str] | None = None) -> None:
        self.problem = ""
        self.names: list[str] = []
        self._nvml: Any = None
        self._handles: list[tuple[int, Any]] = []
        if nvml is None:
            nvml, self.problem = load_nvml()
            if nvml is None:
                return
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError: no library, driver mismatch, no permission
            self.problem = f"GPU metrics: NVML does not start ({_why(exc)})"
            return
        try:
            self._handles = self._open(nvml, visible_indices(environ))
            self.names = [_text(nvml.nvmlDeviceGetName(h)) for _, h in self._handles]
        except Exception as exc:
            self.problem = f"GPU metrics: NVML cannot list the GPUs ({_why(exc)})"
            self._handles = []
        if not self._handles:
            self.problem = self.problem or "GPU metrics: NVML lists no GPU this run may use"
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
            return
        self._nvml = nvml
        self._unsupported: set[str] = set()

    @staticmethod
    def _open(nvml: Any, visible: list[str] | None) -> list[tuple[int, Any]]:
        if visible is None:
            count = nvml.nvmlDeviceGetCount()
            return [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
        handles = []
        for number, name in enumerate(visible):
            if name.startswith("GPU-") or name.startswith("MIG-"):
                handles.append((number, nvml.nvmlDeviceGetHandleByUUID(name)))
            elif name.isdigit():
                handles.append((number, nvml.nvmlDeviceGetHandleByIndex(int(name))))
        return handles

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def read(self) -> list[dict[str, Any]]:
        if self._nvml is None:
            return []
        nvml = self._nvml
        gpus = []
        for index, handle in self._handles:
            memory = self._get("memory", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            util = self._get("util", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
            power = self._get("power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            temp = self._get(
                "temp",
                lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
            )
            gpus.append(
                {
                    "index": index,
                    "util": float(util.gpu) if util is not None else None,
                    "mem_mb": round(memory.used / MB, 1) if memory is not None else None,
                    "mem_total_mb": round(memory.total / MB, 1) if memory is not None else None,
                    "power_w": round(power / 1000.0, 1) if power is not None else None,  # mW
                    "temp_c": float(temp) if temp is not None else None,
                }
            )
        return gpus

    def _get(self, what: str, read: Callable[[], Any]) -> Any:
        """One NVML figure; one that fails (not supported on this GPU) is not asked again."""
        if what in self._unsupported:
            return None
        try:
            return read()
        except Exception:
            self._unsupported.add(what)
            return None

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


# -- the sampler -----------------------------------------------------------------------------------


class SystemSampler:
    """Reads the host and the GPUs every ``interval`` seconds in a daemon thread; the engine
    takes the readings with :meth:`drain` and an epoch's summary with :meth:`end_epoch`."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        nvml: Any = None,
        environ: dict[str, str] | None = None,
        host: Any = None,
    ) -> None:
        self.interval = interval
        self.host = host if host is not None else HostReader()
        self.gpu = GpuReader(nvml, environ)
        #: What cannot be read here, in words (the device line says it once).
        self.unavailable = [p for p in (self.host.problem, self.gpu.problem) if p]
        self.epoch = 0  # set by the engine as epochs begin
        self._lock = threading.Lock()
        self._pending: list[SystemSampled] = []
        self._epoch_samples: list[SystemSampled] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.failure = ""  # a reading that raised: sampling stopped, the run goes on

    def start(self) -> SystemSampler:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="cifar-tui-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception as exc:  # never fail a run: stop sampling, say why once
                self.failure = f"system metrics stopped: {_why(exc)}"
                return

    def sample(self) -> SystemSampled:
        """Take one reading now (the thread's; tests call it directly)."""
        cpu, rss, host_cpu, available = self.host.read()
        reading = SystemSampled(
            elapsed=round(time.monotonic() - self._started, 3),
            epoch=self.epoch,
            cpu_percent=_round(cpu),
            rss_mb=_round(rss),
            host_cpu_percent=_round(host_cpu),
            available_mb=_round(available),
            gpus=self.gpu.read(),
        )
        with self._lock:
            self._pending.append(reading)
            self._epoch_samples.append(reading)
        return reading

    def drain(self) -> list[SystemSampled]:
        """The readings taken since the last call (cheap when there are none)."""
        if not self._pending:
            return []
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def begin_epoch(self, epoch: int) -> None:
        with self._lock:
            self.epoch = epoch
            self._epoch_samples = []

    def end_epoch(self) -> dict[str, float | None] | None:
        """The current epoch's summary (SYSTEM_FIELDS); None without a reading."""
        with self._lock:
            samples, self._epoch_samples = self._epoch_samples, []
        return summarize(samples) if samples else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.gpu.close()


# -- summaries -------------------------------------------------------------------------------------


def gpu_figures(reading: SystemSampled) -> dict[str, float | None]:
    """One reading's GPU figures over its GPUs: mean util, the fullest memory (and its
    total), power summed, the hottest temperature."""

    def values(key: str) -> list[float]:
        return [g[key] for g in reading.gpus if isinstance(g.get(key), (int, float))]

    util, mem, power, temp = values("util"), values("mem_mb"), values("power_w"), values("temp_c")
    fullest = max(
        (g for g in reading.gpus if isinstance(g.get("mem_mb"), (int, float))),
        key=lambda g: g["mem_mb"],
        default=None,
    )
    return {
        "util": statistics.fmean(util) if util else None,
        "mem_mb": max(mem) if mem else None,
        "mem_total_mb": fullest.get("mem_total_mb") if fullest else None,
        "power_w": sum(power) if power else None,
        "temp_c": max(temp) if temp else None,
    }


def summarize(samples: Iterable[SystemSampled]) -> dict[str, float | None]:
    """The mean and peak of each figure over ``samples`` (SYSTEM_FIELDS), None where no
    reading had it."""
    columns: dict[str, list[float]] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, (int, float)):
            columns.setdefault(name, []).append(float(value))

    for s in samples:
        add("cpu", s.cpu_percent)
        add("rss_mb", s.rss_mb)
        add("host_cpu", s.host_cpu_percent)
        add("available_mb", s.available_mb)
        for key, value in gpu_figures(s).items():
            add(f"gpu_{key}", value)
    out: dict[str, float | None] = {}
    for name in SYSTEM_FIELDS:
        base, _, kind = name.rpartition("_")
        if name == "gpu_mem_total_mb":
            base, kind = name, "peak"
        values = columns.get(base)
        if not values:
            out[name] = None
        elif kind == "mean":
            out[name] = round(statistics.fmean(values), 1)
        elif kind == "min":
            out[name] = round(min(values), 1)
        else:
            out[name] = round(max(values), 1)
    return out


def _safe(read: Callable[[], float]) -> float | None:
    try:
        return float(read())
    except Exception:
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else exc.__class__.__name__
