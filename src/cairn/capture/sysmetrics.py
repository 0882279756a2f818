"""System metrics of a running command: CPU, memory and GPU use of its whole process tree.

A daemon thread wakes every ``interval`` seconds; one sample costs a few ``/proc`` reads per
process (psutil) and, on machines with NVIDIA GPUs, one NVML query (``pynvml`` when
installed, else one ``nvidia-smi`` call). The process objects are kept between samples
because CPU percentages are measured between two calls on the same object.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

Sample = dict[str, float]
OnSample = Callable[[Sample, float], None]

_SMI_QUERY = "--query-gpu=utilization.gpu,memory.used"
_SMI_TIMEOUT_S = 5.0


class SystemSampler:
    """Samples process ``pid`` and its descendants from creation (or ``start()``) to ``stop()``.

    Each sample calls ``on_sample(values, t)`` with ``t`` in seconds since the epoch and
    keys ``sys/cpu_percent`` (summed over the tree, so 200 means two busy cores),
    ``sys/rss_mb``, ``sys/num_procs`` and, per GPU ``i``, ``sys/gpu{i}/util_percent`` and
    ``sys/gpu{i}/mem_mb``. A callback error is swallowed: metrics must never hurt the run.
    """

    def __init__(
        self,
        pid: int,
        interval: float = 5.0,
        on_sample: OnSample | None = None,
        *,
        autostart: bool = True,
    ) -> None:
        self.pid = pid
        self.interval = interval
        self.on_sample = on_sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._procs: dict[int, Any] = {}
        self._gpu = _GpuReader()
        if autostart:
            self.start()

    def start(self) -> SystemSampler:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"cairn-sysmetrics-{self.pid}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._gpu.close()

    def _loop(self) -> None:
        self.sample()  # primes the CPU counters; its cpu_percent values read 0
        while not self._stop.wait(self.interval):
            values = self.sample()
            if values is None:
                return  # the process is gone
            if self.on_sample is not None:
                try:
                    self.on_sample(values, time.time())
                except Exception:
                    pass

    def sample(self) -> Sample | None:
        """One sample now; None once the root process no longer exists."""
        try:
            import psutil
        except ImportError:
            return None
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        cpu = rss = 0.0
        alive: dict[int, Any] = {}
        for proc in tree:
            proc = self._procs.get(proc.pid, proc)  # keep the object that holds CPU history
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            alive[proc.pid] = proc
        self._procs = alive
        values: Sample = {
            "sys/cpu_percent": round(cpu, 1),
            "sys/rss_mb": round(rss / (1 << 20), 1),
            "sys/num_procs": float(len(alive)),
        }
        values.update(self._gpu.read())
        return values


class _GpuReader:
    """GPU utilisation and memory through NVML, else ``nvidia-smi``, else nothing."""

    def __init__(self) -> None:
        self._mode: str | None = None  # decided on first read: "nvml", "smi" or "none"
        self._nvml: Any = None
        self._smi: str | None = None

    def _init(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._mode = pynvml, "nvml"
            return
        except Exception:  # not installed, or no driver
            pass
        self._smi = shutil.which("nvidia-smi")
        self._mode = "smi" if self._smi else "none"

    def read(self) -> Sample:
        if self._mode is None:
            self._init()
        try:
            if self._mode == "nvml":
                return self._read_nvml()
            if self._mode == "smi":
                return self._read_smi()
        except Exception:
            self._mode = "none"  # a failing GPU query is not retried every few seconds
        return {}

    def _read_nvml(self) -> Sample:
        nvml = self._nvml
        out: Sample = {}
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            out[f"sys/gpu{i}/util_percent"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            out[f"sys/gpu{i}/mem_mb"] = nvml.nvmlDeviceGetMemoryInfo(handle).used / (1 << 20)
        return out

    def _read_smi(self) -> Sample:
        assert self._smi is not None
        done = subprocess.run(
            [self._smi, _SMI_QUERY, "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=True,
        )  # fmt: skip
        return parse_smi_sample(done.stdout)

    def close(self) -> None:
        if self._mode == "nvml":
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._mode = "none"


def parse_smi_sample(text: str) -> Sample:
    """``utilization.gpu,memory.used`` rows (csv, noheader, nounits) as metric values."""
    out: Sample = {}
    for i, line in enumerate(text.strip().splitlines()):
        parts = [p.strip() for p in line.split(",")]
        try:
            out[f"sys/gpu{i}/util_percent"] = float(parts[0])
            out[f"sys/gpu{i}/mem_mb"] = float(parts[1])
        except (IndexError, ValueError):
            continue  # "[N/A]" on some boards
    return out
