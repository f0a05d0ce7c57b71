"""Device sets: what one leg holds (GPUs, or CPU cores), and how a box splits into disjoint sets.

A device set is a string in ``LaunchConfig.devices`` (so it is recorded in launch.json with the
other knobs): ``cpu`` (the whole host, the engine on the last core and the client on the rest),
``cpu:0`` / ``cpu:2-3`` (a core set: server and client pinned to those cores), ``cuda:0`` /
``cuda:0,1`` (GPUs, exported as CUDA_VISIBLE_DEVICES). Locks are taken per unit (one core, one
GPU), so two sets that share a unit exclude each other even if their names differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DeviceSet:
    kind: Literal["cpu", "cuda"]
    ids: tuple[int, ...]  # () for "cpu": the whole host

    @property
    def name(self) -> str:
        if not self.ids:
            return self.kind
        return f"{self.kind}:{id_list(self.ids)}"

    def units(self, cpu_count: int | None = None) -> list[str]:
        """The lock keys: one per core or GPU (the whole host holds every core)."""
        if self.kind == "cpu" and not self.ids:
            return [f"cpu{i}" for i in range(cpu_count or os.cpu_count() or 1)]
        return [f"{self.kind}{i}" for i in self.ids]


def id_list(ids: tuple[int, ...] | list[int]) -> str:
    """0,1,2,5 -> '0-2,5' (the list format vLLM's VLLM_CPU_OMP_THREADS_BIND and taskset read)."""
    out: list[str] = []
    xs = sorted(ids)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)


def parse_ids(text: str, what: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                ids += range(lo, hi + 1)
            else:
                ids.append(int(part))
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not a device id or range (write e.g. 0,1,2,3 or 0-3)") from None
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what}: {text!r} names a device twice")
    if any(i < 0 for i in ids):
        raise ValueError(f"{what}: device ids are >= 0")
    return tuple(ids)


def parse(devices: str) -> DeviceSet:
    """One device set from its name. ValueError says which forms exist."""
    d = devices.strip()
    if d == "cpu":
        return DeviceSet("cpu", ())
    if d and all(c.isdigit() or c in ",-" for c in d):
        d = "cuda:" + d  # bare GPU ids, as CUDA_VISIBLE_DEVICES writes them
    for kind in ("cpu", "cuda"):
        if d.startswith(kind + ":"):
            ids = parse_ids(d[len(kind) + 1 :], f"device set {devices!r}")
            if not ids:
                break
            return DeviceSet(kind, ids)
    raise ValueError(f"device set {devices!r}: use cpu, cpu:CORES (e.g. cpu:0-1) or cuda:GPUS (e.g. cuda:0,1)")


def split(
    devices: str, *, tp: int | None = None, cores_per_leg: int | None = None, gpu_count: int | None = None
) -> list[DeviceSet]:
    """The disjoint device sets legs may run on at once.

    ``devices``: ``cpu`` | ``cpu:CORES`` | ``GPUS`` or ``cuda:GPUS`` | ``all`` (every GPU NVML sees).
    GPUs are grouped ``tp`` at a time (``0,1,2,3`` with tp 2 -> cuda:0,1 and cuda:2,3); cores
    ``cores_per_leg`` at a time (default: all listed cores, one set)."""
    d = devices.strip()
    if d == "cpu":
        return [DeviceSet("cpu", ())]
    if d == "all":
        n = gpu_count if gpu_count is not None else nvml_gpu_count()
        if not n:
            raise ValueError(
                "--devices all: no GPU is visible through NVML (pynvml); pass --devices cpu or list the GPUs"
            )
        d = "cuda:" + id_list(tuple(range(n)))
    if d.startswith("cpu:"):
        ids = parse_ids(d[4:], f"--devices {devices!r}")
        size, what = cores_per_leg or len(ids), "--cores-per-leg"
        kind = "cpu"
    else:
        ids = parse_ids(d[5:] if d.startswith("cuda:") else d, f"--devices {devices!r}")
        size, what = tp or 1, "--tp"
        kind = "cuda"
        if gpu_count is not None and any(i >= gpu_count for i in ids):
            raise ValueError(f"--devices {devices!r}: this box has {gpu_count} GPU(s) (ids 0-{gpu_count - 1})")
    if size < 1:
        raise ValueError(f"{what} must be >= 1")
    if len(ids) % size:
        raise ValueError(
            f"--devices {devices!r}: {len(ids)} device(s) do not split into sets of {size} ({what} {size}); "
            f"list a multiple of {size}"
        )
    return [DeviceSet(kind, ids[i : i + size]) for i in range(0, len(ids), size)]  # type: ignore[arg-type]


def nvml_gpu_count() -> int:
    """GPUs NVML reports (0 without pynvml or a driver)."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return 0
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: NVMLError_LibraryNotFound and friends
        return 0
    try:
        return int(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()
