"""Anti-gaming probes (FAILURES.md H4-H7). Each returns raw observations; the auditor judges.

Every probe can come out either way: each has a planted cheat in tests/data/kernels/cheats/
that makes it fire.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from collections.abc import Callable

import torch

from .correctness import as_outputs
from .readback import differing_bytes, read_at_end, read_under_lead, tails_first
from .timing import Clock

Fn = Callable[..., Any]


# ---------------------------------------------------------------- helpers


def native_threads() -> int | None:
    """OS threads of this process (Python threads and native ones alike), from /proc."""
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


QUIET_WINDOW_S = 0.01
QUIET_CPU_FRACTION = 0.25


def wait_quiet(end: float) -> tuple[bool, float]:
    """Wait until this process stops burning CPU (a worker thread started before the probe,
    e.g. a persistent queue consumer, is invisible to thread counts but not to CPU time).
    Returns (quiet before the deadline, perf_counter time at which the quiet window began)."""
    while True:
        t, c0 = time.perf_counter(), time.process_time()
        time.sleep(QUIET_WINDOW_S)
        if time.process_time() - c0 < QUIET_CPU_FRACTION * QUIET_WINDOW_S:
            return True, t
        if time.monotonic() >= end:
            return False, time.perf_counter()


def settle(clock: Clock, threads_before: set[threading.Thread], native_before: int | None, deadline_s: float) -> bool:
    """Synchronise everything a candidate may have left running: every device stream, every
    Python thread it started, the OS thread count back to what it was, and the process idle
    (no CPU burnt by anyone). True when all of that finished within ``deadline_s``."""
    return settle_at(clock, threads_before, native_before, deadline_s)[0]


def settle_at(
    clock: Clock, threads_before: set[threading.Thread], native_before: int | None, deadline_s: float
) -> tuple[bool, float]:
    """settle(), plus the perf_counter time at which everything was finished."""
    clock.sync()
    end = time.monotonic() + deadline_s
    for t in set(threading.enumerate()) - threads_before:
        t.join(max(0.0, end - time.monotonic()))
    done_py = not any(t.is_alive() for t in set(threading.enumerate()) - threads_before)
    done_native = True
    if native_before is not None:
        while (native_threads() or 0) > native_before and time.monotonic() < end:
            time.sleep(0.005)
        done_native = (native_threads() or 0) <= native_before
    quiet, t_done = wait_quiet(end)
    clock.sync()  # a thread may have launched device work before it ended
    return done_py and done_native and quiet, t_done


def materialize(out: Any) -> tuple[Any, ...]:
    """Real tensors for the correctness checks; a lazy object is evaluated here (H7 records
    that it had to be)."""
    res = []
    for o in as_outputs(out):
        if isinstance(o, torch.Tensor) and type(o) is not torch.Tensor:
            o = torch.Tensor.clone(o).as_subclass(torch.Tensor)
        elif not isinstance(o, torch.Tensor) and hasattr(o, "__torch_function__"):
            o = torch.clone(o)
        res.append(o)
    return tuple(res)


def is_plain(out: Any) -> bool:
    return all(
        type(o) is torch.Tensor and o.layout == torch.strided and o.device.type != "meta" for o in as_outputs(out)
    )


def snapshot(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(o.detach().to("cpu").clone() if isinstance(o, torch.Tensor) else o for o in materialize(out))


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Bitwise identical outputs (NaN equal to NaN)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (
            not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor))
            or x.shape != y.shape
            or x.dtype != y.dtype
        ):
            return False
        if not torch.equal(x.view(torch.uint8) if x.numel() else x, y.view(torch.uint8) if y.numel() else y):
            return False
    return True


def _ranges(t: torch.Tensor) -> tuple[int, int]:
    st = t.untyped_storage()
    return st.data_ptr(), st.data_ptr() + st.nbytes()


def aliases(out: Any, args: tuple[Any, ...], inplace: tuple[int, ...] = ()) -> bool:
    """True when any output's storage overlaps any input tensor's storage (an argument the op
    writes in place by its spec, such as a KV cache, is its output and not counted)."""
    ins = [_ranges(a) for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.numel() and i not in inplace]
    for o in as_outputs(out):
        if isinstance(o, torch.Tensor) and type(o) is torch.Tensor and o.numel():
            lo, hi = _ranges(o)
            if any(lo < b and a < hi for a, b in ins):
                return True
    return False


def call_settled(clock: Clock, fn: Fn, args: tuple[Any, ...], deadline_s: float) -> tuple[Any, bool]:
    before, nb = set(threading.enumerate()), native_threads()
    out = fn(*args)
    return out, settle(clock, before, nb, deadline_s)


# ---------------------------------------------------------------- H4


def escape_probe(clock: Clock, fn: Fn, args: tuple[Any, ...], n_calls: int, deadline_s: float) -> dict[str, Any]:
    """H4: the timer a harness stops when the calls return (CUDA events on the current stream;
    perf_counter on CPU) vs wall-clock time until every stream and thread is done and the
    result has been read. Work left on a side stream or a background thread shows as
    event_ms << wall_ms."""
    clock.sync()
    before, nb = set(threading.enumerate()), native_threads()
    cuda = clock.method == "cuda_events"
    if cuda:
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if cuda:
        s.record()
    out = None
    for _ in range(n_calls):
        out = fn(*args)
    if cuda:
        e.record()
    t1 = time.perf_counter()
    synced, t_done = settle_at(clock, before, nb, deadline_s)
    t_read = time.perf_counter()
    snapshot(out)  # read the result (forced evaluation); its host copy is not the candidate's work
    read_ms = (time.perf_counter() - t_read) * 1e3
    t2 = t_done  # wall = until every stream and thread was finished (start of the first idle window)
    cpu_ms = (time.process_time() - cpu0) * 1e3
    event_ms = s.elapsed_time(e) if cuda else (t1 - t0) * 1e3
    return {
        "all_streams_synced": synced,
        "event_ms": event_ms,
        "wall_ms": (t2 - t0) * 1e3,
        "escape_probe": {
            "n_calls": n_calls,
            "timer": clock.method,
            "returned_ms": (t1 - t0) * 1e3,
            "process_cpu_ms": cpu_ms,
            "read_ms": read_ms,
            "threads_before": nb,
            "threads_after": native_threads(),
            "cpu_ms_per_wall_ms": cpu_ms / max((t2 - t0) * 1e3, 1e-9),
        },
    }


def ready_probe(
    clock: Clock, fn: Fn, setup: Fn | None, inputs: list[tuple[Any, ...]], deadline_s: float
) -> dict[str, Any]:
    """H4 by effect: is the output already written when the timed stream says the call is done?

    One call per trial, each on inputs never seen before (so a stale buffer cannot hold the
    right answer by chance). GPU: a copy of the outputs is taken as soon as the current stream
    has passed the call, i.e. exactly where the end event sits, and compared with the outputs once
    every stream and thread has finished (the copy runs on a high-priority stream that waits on an
    event recorded right behind the call). Work on a side stream has not written them yet when
    that copy runs; work on the current stream always has (stream order), so an honest kernel
    can only come out ready, whatever its duration. Odd trials lead the call with a GPU sleep on
    the current stream: side work that waits on the current stream (as it must to read inputs
    safely) then starts no earlier than the copy, however short that work is; and side work that
    does not wait runs during the lead, so its outputs are already complete when read while the
    lead still holds the current stream (``complete_before_call``), which an honest kernel's
    cannot be. Even trials have no lead. CPU: the outputs are read at return."""
    cuda = clock.method == "cuda_events"
    trials = []
    host_ms = 0.0
    for i, args in enumerate(inputs):
        if setup is not None:
            setup(*args)
        clock.sync()
        before, nb = set(threading.enumerate()), native_threads()
        lead_ms = max(1.0, 4 * host_ms) if cuda and i % 2 else 0.0
        lead_ev = None
        if lead_ms:
            torch.cuda._sleep(int(lead_ms * 2e6))  # ~2e6 cycles per ms at H100 clocks
            lead_ev = torch.cuda.Event()
            lead_ev.record()
        t0 = time.perf_counter()
        out = fn(*args)
        host_ms = (time.perf_counter() - t0) * 1e3
        # whether the whole call was enqueued while the lead still held the GPU (else the lead
        # was too short to order anything)
        under_lead = (not lead_ev.query()) if lead_ev is not None else None
        outs = materialize(out)
        early = read_under_lead(outs, lead_ev) if under_lead else None
        at_end = read_at_end(outs, cuda)
        settle(clock, before, nb, deadline_s)
        final = snapshot(outs)
        at_end_h = tuple(o.to("cpu") if isinstance(o, torch.Tensor) else o for o in at_end)
        if cuda:
            final = tails_first(final)
        stale = [differing_bytes(a, b) for a, b in zip(at_end_h, final)]
        before_call = None
        if early is not None and any(isinstance(o, torch.Tensor) and o.numel() for o in final):
            before_call = same(tuple(o.to("cpu") if isinstance(o, torch.Tensor) else o for o in early), final)
        trials.append(
            {
                "lead_ms": lead_ms,
                "enqueued_under_lead": under_lead,
                "host_ms": host_ms,
                "ready": same(at_end_h, final),
                "stale_byte_fraction": max(stale, default=0.0),
                "complete_before_call": before_call,
            }
        )
    judged = [t["complete_before_call"] for t in trials if t["complete_before_call"] is not None]
    return {
        "output_ready_at_end_event": all(t["ready"] for t in trials) if trials else None,
        "output_complete_before_timed_call": any(judged) if judged else None,
        "ready_probe": {
            "timer": clock.method,
            "read_at": "high-priority stream, after an event behind the call" if cuda else "return",
            "trials": trials,
        },
    }


# ---------------------------------------------------------------- H5


def follows_inputs_probe(
    clock: Clock, fn: Fn, args: tuple[Any, ...], fresh: tuple[Any, ...], jittered: tuple[Any, ...], deadline_s: float
) -> dict[str, Any]:
    """H5: outputs on fresh inputs (another seed) and on jittered inputs must differ from the
    outputs on the original inputs."""
    base = snapshot(call_settled(clock, fn, args, deadline_s)[0])
    f = snapshot(call_settled(clock, fn, fresh, deadline_s)[0])
    j = snapshot(call_settled(clock, fn, jittered, deadline_s)[0])
    return {"fresh_input_output_identical": same(base, f), "jitter_output_unchanged": same(base, j)}


def jitter(args: tuple[Any, ...], seed: int, rel: float = 1e-2) -> tuple[Any, ...]:
    """New buffers: every float tensor times (1 + rel * N(0,1)); ints (positions) unchanged."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            n = torch.randn(a.shape, generator=g, dtype=torch.float32).to(a.device)
            a = (a.float() * (1 + rel * n)).to(a.dtype)
        elif isinstance(a, torch.Tensor):
            a = a.clone()
        out.append(a)
    return tuple(out)


# ---------------------------------------------------------------- H6


def provenance_probe(
    clock: Clock, fn: Fn, setup: Fn | None, args: tuple[Any, ...], new_values: tuple[Any, ...], deadline_s: float
) -> dict[str, Any]:
    """H6: run setup and warm-up on ``args``, then overwrite the same input buffers in place
    with ``new_values`` and call once more. An output computed in setup/warm-up (cached,
    keyed on the buffers) comes back unchanged."""
    if setup is not None:
        setup(*args)
    for _ in range(2):
        call_settled(clock, fn, args, deadline_s)
    before = snapshot(call_settled(clock, fn, args, deadline_s)[0])
    with torch.no_grad():
        for a, v in zip(args, new_values):
            if isinstance(a, torch.Tensor) and a.is_floating_point():
                a.copy_(v)
    clock.sync()
    after_out = call_settled(clock, fn, args, deadline_s)[0]
    after = snapshot(after_out)
    return {"output_from_timed_call": not same(before, after), "output_after_new_inputs": after}


# ---------------------------------------------------------------- H7


def evaluation_probe(
    clock: Clock, fn: Fn, args: tuple[Any, ...], deadline_s: float, inplace: tuple[int, ...] = ()
) -> dict[str, Any]:
    """H7: outputs must not alias an input, must be plain materialised tensors when the timed
    region ends, and what is read inside the region must be what is there after every
    stream and thread has finished (otherwise the region timed an unfinished result)."""
    clock.sync()
    before, nb = set(threading.enumerate()), native_threads()
    out = fn(*args)
    clock.sync()  # the end of a timed region: the device stream is drained
    plain = is_plain(out)
    inside = snapshot(out) if plain else None
    settle(clock, before, nb, deadline_s)
    after = snapshot(out) if plain else None
    stable = plain and inside is not None and after is not None and same(inside, after)
    return {
        "output_aliases_input": aliases(out, args, inplace),
        "forced_evaluation": bool(plain and stable),
        "evaluation_probe": {
            "plain_tensors": plain,
            "value_stable_after_settle": stable,
            "output_types": [type(o).__name__ for o in as_outputs(out)],
        },
    }
