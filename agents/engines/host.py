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


def _gpus(own_pids: set[int], only: tuple[int, ...] = ()) -> list[GpuInfo]:
    """The GPUs NVML sees (only the leg's own when ``only`` names them), with the processes on
    each that are not the leg's server. A sibling leg's process on one of *these* GPUs is
    foreign: disjoint sets never share a GPU."""
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
            if only and i not in only:
                continue
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
            foreign = [str(p.pid) for p in procs if p.pid not in own_pids]
            out.append(
                GpuInfo(
                    index=i,
                    name=str(pynvml.nvmlDeviceGetName(h)),
                    driver=str(pynvml.nvmlSystemGetDriverVersion()),
                    sm_clock_mhz=float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)),
                    mem_clock_mhz=float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)),
                    temperature_c=float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)),
                    foreign_processes=foreign,
                )
            )
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
            f = stat[stat.rfind(")") + 2 :].split()
            out[int(d.name)] = int(f[11]) + int(f[12])  # utime + stime
    return out


def _busy(window_s: float) -> dict[int, float]:
    """Cores' worth of CPU each process used over a window."""
    a = _cpu_ticks()
    time.sleep(window_s)
    b = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    return {pid: (t - a[pid]) / hz / window_s for pid, t in b.items() if pid in a and t > a[pid]}


def _affinity(pid: int) -> set[int] | None:
    try:
        return set(os.sched_getaffinity(pid))
    except OSError:
        return None


def fingerprint(
    own_pids: set[int] | None = None,
    other_legs: list[str] | None = None,
    sample_s: float = 1.0,
    *,
    devices: str | None = None,
    sibling_pids: dict[str, set[int]] | None = None,
    server_pid: int | None = None,
) -> HostFingerprint:
    """``sibling_pids``: the processes of the run's other legs alive now (inflight.siblings), by
    leg id: their CPU is booked as sibling load, not foreign. On a core set (cpu:0-1) the load
    of every other process allowed on the leg's cores is booked too (``shared_core_busy_cores``):
    a sibling pinned elsewhere adds nothing there, an unpinned one does."""
    from .devices import parse

    own = set(own_pids or set())
    sibs = sibling_pids or {}
    ds = parse(devices) if devices else None
    cores = set(ds.ids) if ds is not None and ds.kind == "cpu" and ds.ids else None
    foreign = sibling = shared = None
    if sample_s and Path("/proc/self/stat").exists():
        busy = _busy(sample_s)
        skip = own | {os.getpid()}
        sib_all = set().union(*sibs.values()) if sibs else set()
        foreign = round(sum(v for p, v in busy.items() if p not in skip and p not in sib_all), 3)
        sibling = round(sum(v for p, v in busy.items() if p in sib_all and p not in skip), 3) if sibs else None
        if cores is not None:
            shared = round(sum(v for p, v in busy.items() if p not in skip and (_affinity(p) or set()) & cores), 3)
    return HostFingerprint(
        hostname=socket.gethostname(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        load_avg_1m=os.getloadavg()[0],
        foreign_cpu_busy_cores=foreign,
        cpu_governor=_governor(),
        gpus=_gpus(own, ds.ids if ds is not None and ds.kind == "cuda" else ()),
        other_legs_running=other_legs or [],
        device_set=devices,
        sibling_legs=sorted(sibs),
        sibling_cpu_busy_cores=sibling,
        shared_core_busy_cores=shared,
        server_cpu_affinity=sorted(a) if server_pid is not None and (a := _affinity(server_pid)) is not None else None,
    )
