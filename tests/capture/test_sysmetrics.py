"""System metrics of a real process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from cairn.capture.sysmetrics import SystemSampler, parse_smi_sample

BUSY_TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
end = time.time() + 30
while time.time() < end:
    pass
"""


def test_samples_a_process_tree() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BUSY_TREE])
    try:
        sampler = SystemSampler(proc.pid, interval=0.2, autostart=False)
        deadline = time.time() + 10
        values = sampler.sample()
        while values is not None and values["sys/num_procs"] < 2 and time.time() < deadline:
            time.sleep(0.1)
            values = sampler.sample()
        time.sleep(0.3)
        values = sampler.sample()
        assert values is not None
        assert values["sys/num_procs"] >= 2
        assert values["sys/rss_mb"] > 5
        assert values["sys/cpu_percent"] > 20  # the busy loop
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.1)
    assert sampler.sample() is None  # the process is gone


def test_thread_calls_back_until_stopped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    got: list[tuple[dict[str, float], float]] = []
    seen = threading.Event()

    def on_sample(values: dict[str, float], t: float) -> None:
        got.append((values, t))
        if len(got) >= 2:
            seen.set()

    try:
        sampler = SystemSampler(proc.pid, interval=0.05, on_sample=on_sample)
        assert seen.wait(10)
        sampler.stop()
        count = len(got)
        time.sleep(0.2)
        assert len(got) == count
        values, t = got[0]
        assert abs(t - time.time()) < 10
        assert {"sys/cpu_percent", "sys/rss_mb", "sys/num_procs"} <= set(values)
    finally:
        proc.kill()
        proc.wait()


def test_failing_callback_does_not_stop_sampling() -> None:
    calls: list[float] = []

    def on_sample(values: dict[str, float], t: float) -> None:
        calls.append(t)
        raise RuntimeError("boom")

    sampler = SystemSampler(os.getpid(), interval=0.02, on_sample=on_sample)
    deadline = time.time() + 10
    while len(calls) < 3 and time.time() < deadline:
        time.sleep(0.02)
    sampler.stop()
    assert len(calls) >= 3


def test_parse_smi_sample() -> None:
    assert parse_smi_sample("87, 40123\n0, 3\n") == {
        "sys/gpu0/util_percent": 87.0,
        "sys/gpu0/mem_mb": 40123.0,
        "sys/gpu1/util_percent": 0.0,
        "sys/gpu1/mem_mb": 3.0,
    }
    assert parse_smi_sample("[N/A], [N/A]\n") == {}
