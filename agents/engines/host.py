"""Host fingerprint per leg: what was running, on what, while it was measured (B5)."""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path

from geak.auditor.evidence.models import GpuInfo, HostFingerprint


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return None


def _gpus(own_pids: set[int]) -> list[GpuInfo]:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    out = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
            foreign = [str(p.pid) for p in procs if p.pid not in own_pids]
            out.append(GpuInfo(
                index=i, name=str(pynvml.nvmlDeviceGetName(h)), driver=str(pynvml.nvmlSystemGetDriverVersion()),
                sm_clock_mhz=float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)),
                mem_clock_mhz=float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)),
                temperature_c=float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)),
                foreign_processes=foreign,
            ))
    finally:
        pynvml.nvmlShutdown()
    return out


def _cpu_ticks() -> dict[int, int]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            f = stat[stat.rfind(")") + 2:].split()
            out[int(d.name)] = int(f[11]) + int(f[12])  # utime + stime
    return out


def foreign_cpu_busy(own_pids: set[int], window_s: float = 1.0) -> float | None:
    """Cores' worth of CPU used by processes outside ``own_pids`` (and this one) over a window."""
    if not Path("/proc/self/stat").exists():
        return None
    skip = set(own_pids) | {os.getpid()}
    a = _cpu_ticks()
    time.sleep(window_s)
    b = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    ticks = sum(t - a.get(pid, t) for pid, t in b.items() if pid not in skip)
    return round(ticks / hz / window_s, 3)


def fingerprint(own_pids: set[int] | None = None, other_legs: list[str] | None = None, sample_s: float = 1.0) -> HostFingerprint:
    own = own_pids or set()
    return HostFingerprint(
        hostname=socket.gethostname(), cpu_model=_cpu_model(), cpu_count=os.cpu_count(),
        load_avg_1m=os.getloadavg()[0], foreign_cpu_busy_cores=foreign_cpu_busy(own, sample_s) if sample_s else None,
        cpu_governor=_governor(), gpus=_gpus(own), other_legs_running=other_legs or [],
    )
