"""The host record on this machine, and the nvidia-smi parser on recorded output."""

from __future__ import annotations

import os
import shutil
import socket

from cairn.capture.host import capture_host, parse_gpu_csv
from cairn.store.record_parts import Gpu, Host


def test_host_describes_this_machine() -> None:
    host = capture_host()
    assert host.hostname == socket.gethostname()
    assert host.cpu_count == os.cpu_count()
    assert host.os
    if os.path.exists("/proc/meminfo"):
        assert host.ram_bytes is not None and host.ram_bytes > 0
        assert host.cpu_model
    if shutil.which("nvidia-smi") is None:
        assert host.gpus == () and host.cuda_version is None
    assert Host.from_json(host.to_json()) == host


def test_host_is_computed_once() -> None:
    assert capture_host() is capture_host()


def test_parse_gpu_csv() -> None:
    text = "NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15\nTesla T4, 15360 MiB, 535.104.05\n\n"
    assert parse_gpu_csv(text) == (
        Gpu("NVIDIA H100 80GB HBM3", 81559, "550.54.15"),
        Gpu("Tesla T4", 15360, "535.104.05"),
    )
    assert parse_gpu_csv("No devices were found\n") == ()
