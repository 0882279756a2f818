"""The machine a run ran on: OS, CPU, RAM, GPUs, host name and user.

Everything here reads cheap sources (``platform``, ``/proc``) and is computed once per
process; ``nvidia-smi`` is only run where it exists. A source that is missing leaves its
field empty.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import re
import shutil
import socket
import subprocess

from cairn.store.record_parts import Gpu, Host

_NVIDIA_TIMEOUT_S = 10.0


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Processor", "cpu model"):
            return value.strip()
    return platform.processor()


def _ram_bytes() -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", _read("/proc/meminfo"), re.MULTILINE)
    if m:
        return int(m.group(1)) * 1024
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or unsupported here: leave the field empty
        return None


def _distro() -> str:
    text = _read("/etc/os-release")
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
    if m:
        return m.group(1)
    if platform.system() == "Darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for this uid, as in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else ""


def parse_gpu_csv(text: str) -> tuple[Gpu, ...]:
    """Rows of ``nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader``."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        mem = re.match(r"(\d+)", parts[1])
        gpus.append(
            Gpu(
                name=parts[0], memory_mb=int(mem.group(1)) if mem else None, driver=parts[2] or None
            )
        )
    return tuple(gpus)


def _gpus() -> tuple[tuple[Gpu, ...], str | None]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return (), None
    query = [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        # The CUDA version is only in the plain report's header; run both at once.
        header = subprocess.Popen(
            [exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
    except OSError:
        return (), None
    try:
        rows = subprocess.run(
            query, capture_output=True, text=True, timeout=_NVIDIA_TIMEOUT_S, check=False
        )
        head, _ = header.communicate(timeout=_NVIDIA_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        header.kill()
        header.communicate()
        return (), None
    if rows.returncode != 0:
        return (), None
    m = re.search(r"CUDA Version:\s*([\d.]+)", head or "")
    return parse_gpu_csv(rows.stdout), m.group(1) if m else None


@functools.lru_cache(maxsize=1)
def capture_host() -> Host:
    """The host record, computed once per process (it does not change while we run)."""
    uname = platform.uname()
    gpus, cuda = _gpus()
    return Host(
        hostname=socket.gethostname(),
        user=_user(),
        os=uname.system,
        os_release=uname.release,
        kernel=uname.version,
        platform=platform.platform(),
        distro=_distro(),
        machine=uname.machine,
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 0,
        ram_bytes=_ram_bytes(),
        gpus=gpus,
        cuda_version=cuda,
    )
