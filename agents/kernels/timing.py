"""Clocks of the op harness: CUDA events on GPU (L2 flushed before every rep), perf_counter on
CPU; a device-to-device copy measured in the same process as the bandwidth ceiling.

Reps of baseline and candidate are interleaved (A B A B ...) so that clock drift or a
neighbour's load hits both sides alike; warm-up calls are never recorded.
"""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable

import torch

from .stats import median

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class Clock:
    method = "perf_counter"
    l2_flush = False

    def __init__(self, device: str):
        self.device = device

    def sync(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def set_lead(self, calls: dict[str, Call], reps: int = 5) -> None:
        pass  # CPU calls are synchronous: nothing to lead

    def interleaved(self, calls: dict[str, Call], reps: int) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(reps):
            for k, (fn, args) in calls.items():
                t0 = time.perf_counter()
                fn(*args)
                out[k].append((time.perf_counter() - t0) * 1e3)
        return out

    def copy_gbps(self, nbytes: int, reps: int = 10) -> float:
        """Bytes read + bytes written per second (GB/s, 1e9) of a plain copy, median of reps."""
        src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=self.device)
        dst = torch.empty_like(src)
        dst.copy_(src)
        ts = self.interleaved({"copy": (dst.copy_, (src,))}, reps)["copy"]
        m = median(ts)
        assert m is not None
        return 2 * nbytes / (m * 1e-3) / 1e9

    def name(self) -> str:
        import platform

        return platform.processor() or platform.machine()


class CudaClock(Clock):
    method = "cuda_events"
    l2_flush = True

    def __init__(self, device: str):
        super().__init__(device)
        props = torch.cuda.get_device_properties(torch.device(device))
        l2 = int(getattr(props, "L2_cache_size", 0) or 50 * 2**20)
        # at least 256 MiB (do_bench's size, > 2x any current L2), written before each rep, so no
        # rep reads its inputs from a warm cache
        self._flush_buf = torch.empty(max(2 * l2, 256 * 2**20) // 4, dtype=torch.int32, device=device)
        self.flush_bytes = self._flush_buf.numel() * 4
        self.lead_ms: dict[str, float] = {}

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)  # device-wide: every stream

    def flush(self) -> None:
        self._flush_buf.zero_()

    def interleaved(self, calls: dict[str, Call], reps: int, flush: bool = True) -> dict[str, list[float]]:
        ev = {
            k: [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
            for k in calls
        }
        for i in range(reps):
            for k, (fn, args) in calls.items():
                if flush:
                    self._flush_buf.zero_()
                if self.lead_ms.get(k):
                    # keep the GPU busy while the host enqueues the call, so the events time the
                    # device work and not a host launch gap (~2e6 cycles per ms at H100 clocks)
                    torch.cuda._sleep(int(self.lead_ms[k] * 2e6))
                s, e = ev[k][i]
                s.record()
                fn(*args)
                e.record()
        self.sync()
        return {k: [s.elapsed_time(e) for s, e in ev[k]] for k in calls}

    def set_lead(self, calls: dict[str, Call], reps: int = 5) -> None:
        """Measure each call's host-side time (enqueue only) and lead each timed rep by twice it."""
        self.lead_ms = {}
        for k, (fn, args) in calls.items():
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn(*args)
                ts.append((time.perf_counter() - t0) * 1e3)
            self.sync()
            self.lead_ms[k] = 2.0 * (median(ts) or 0.0) + 0.005

    def in_graph(self, calls: dict[str, Call], per_graph: int, reps: int) -> dict[str, list[float]]:
        """Per-call ms of each call as a compiled server replays it: ``per_graph`` calls captured in
        one CUDA graph (device gaps between kernels as in a replayed step, no host launches), the
        inputs left warm in L2 (a served op reads what the GEMM before it just wrote), replays
        interleaved and led by ``interleaved`` itself (unflushed). A second, labelled reading: the
        headline stays the flushed one; H12 holds both to the engine's own kernel times."""
        graphs: dict[str, Any] = {}
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # capture wants its warm-up off the default stream
            for fn, args in calls.values():
                fn(*args)
        torch.cuda.current_stream(self.device).wait_stream(side)
        for k, (fn, args) in calls.items():
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _ in range(per_graph):
                    fn(*args)
            graphs[k] = g
        self.sync()
        replays: dict[str, Call] = {k: (g.replay, ()) for k, g in graphs.items()}
        self.interleaved(replays, 2, flush=False)  # warm-up, never recorded
        self.set_lead(replays)  # the headline's leads are spent: every shape was timed before this
        got = self.interleaved(replays, reps, flush=False)
        return {k: [t / per_graph for t in ts] for k, ts in got.items()}

    def name(self) -> str:
        return torch.cuda.get_device_name(torch.device(self.device))


def clock_for(device: str) -> Clock:
    return CudaClock(device) if device.startswith("cuda") else Clock(device)
