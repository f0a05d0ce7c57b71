"""Capture one torch-profiler trace of the live server under the workload (issue 6, item 1).

One server lifetime, like a leg: device lock, launch with vLLM's ``--profiler-config``
pointing into the run dir, wait healthy, a short warm-up, ``POST /start_profile``, the
built-in client workload, ``POST /stop_profile``, wait for the engine worker's trace, tear
the process group down. Written under ``profile/<round_id>/``:

    trace.json.gz    the worker's trace, verbatim (the file the profile gate re-aggregates)
    launch.json      ProfileLaunch: command, env, knobs, resolved config, workload, requests, status
    server.log       the server's output
    torch_profiler/  what else the profiler wrote (key_averages table ``*profiler_out*.txt``)

A failure is recorded (``status: failed`` + reason), never raised; whatever was written
stays. vLLM only: SGLang's profiler endpoints differ and are not wired.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from geak.auditor.evidence.models import Record, WorkloadSpec
from geak.auditor.evidence.store import RunStore

from .base import EngineAdapter, LaunchConfig, get_engine
from .client import random_prompts, run_benchmark
from .http import complete, http_json
from .lock import DeviceLock
from .ports import free_port
from .process import LaunchError, ServerProcess
from geak.auditor.evidence.layout import LAUNCH, SERVER_LOG, TRACE, profile_dir

TRACE_FILE = TRACE
RAW_DIR = "torch_profiler"


class ProfileLaunch(Record):
    """profile/<round_id>/launch.json: the one server lifetime a profile round was captured in.

    A LegLaunch in spirit (command, env, knobs, resolved config, workload, status), but not a
    leg: its numbers are profiler-perturbed and never compared with a leg's."""

    kind: Literal["profile_capture"] = "profile_capture"
    round_id: str
    engine: str
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    launch_config: dict[str, Any] = Field(default_factory=dict)
    resolved_config: dict[str, Any] | None = None
    profiler_config: dict[str, Any] = Field(default_factory=dict)
    workload: WorkloadSpec | None = None
    num_requests: int = 0
    warmup_requests: int = 0
    completed: int | None = None
    failed_requests: int | None = None
    profiled_s: float | None = Field(None, description="wall time between start_profile and stop_profile returning")
    trace_file: str | None = Field(None, description="relative to profile/<round_id>/; None when no trace was captured")
    worker_trace: str | None = Field(None, description="the profiler's own file name for the trace kept")
    started_at: float | None = None
    ended_at: float | None = None
    status: Literal["ok", "failed"] = "ok"
    failure_reason: str | None = None


class ProfileCaptureResult(BaseModel):
    round_id: str
    status: Literal["ok", "failed"]
    reason: str | None = None
    dir: str = Field(description="profile/<round_id>, relative to the run root")
    trace_path: Path | None = Field(None, description="absolute path of trace.json.gz when captured")
    startup_s: float | None = None
    server_pgid: int | None = Field(None, description="process group the server ran in (torn down on return)")


def _post(url: str, timeout: float) -> None:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


def _complete_gzip(path: Path) -> bool:
    """True when ``path`` is a whole gzip stream (the profiler may still be writing it)."""
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                d.decompress(chunk)
        return d.eof
    except (OSError, zlib.error):
        return False


def worker_traces(raw: Path) -> list[Path]:
    """The engine workers' traces: ``rank<N>.*.pt.trace.json[.gz]`` (the API server's own
    front-end trace, ``*.async_llm.*``, is not one), rank 0 first."""
    found = [p for p in raw.rglob("*.pt.trace.json*") if "async_llm" not in p.name and p.is_file()]
    return sorted(found, key=lambda p: (not p.name.startswith("rank0."), p.name))


def wait_worker_trace(raw: Path, deadline_s: float, poll_s: float = 0.5) -> Path | None:
    t0 = time.time()
    while True:
        for p in worker_traces(raw):
            if p.suffix != ".gz" or _complete_gzip(p):
                return p
        if time.time() - t0 > deadline_s:
            return None
        time.sleep(poll_s)


def _without_profiler_arg(extra: list[str]) -> list[str]:
    out, skip = [], False
    for a in extra:
        if skip:
            skip = False
            continue
        if a == "--profiler-config":
            skip = True
            continue
        if a.startswith("--profiler-config="):
            continue
        out.append(a)
    return out


@dataclass(frozen=True)
class ProfileLimits:
    """How long a profile round waits: for a healthy server, for each request, for the worker's trace."""

    health_deadline_s: float = 600.0
    request_timeout_s: float = 300.0
    trace_deadline_s: float = 300.0


# requests profiled by default: a GPU workload's decode batch (max_num_seqs 64) fills with them
PROFILE_REQUESTS = 64


def capture_profile(
    store: RunStore,
    *,
    round_id: str,
    engine: str | EngineAdapter,
    cfg: LaunchConfig,
    workload: WorkloadSpec,
    num_requests: int = PROFILE_REQUESTS,
    warmup_requests: int | None = None,
    python: str | None = None,
    limits: ProfileLimits = ProfileLimits(),
) -> ProfileCaptureResult:
    ad = get_engine(engine) if isinstance(engine, str) else engine
    if ad.name != "vllm":
        raise NotImplementedError(
            f"capture_profile supports the vLLM adapter only, not {ad.name!r}: SGLang's profiler "
            "(/start_profile with SGLANG_TORCH_PROFILER_DIR, per-rank traces) is not wired"
        )
    python = python or sys.executable
    d = profile_dir(round_id)
    store.path(d).mkdir(parents=True, exist_ok=True)
    raw = store.path(f"{d}/{RAW_DIR}")
    if raw.exists():
        shutil.rmtree(raw)  # a re-capture of the same round must not pick up the last one's trace
    raw.mkdir(parents=True)
    pconf = {
        "profiler": "torch",
        "torch_profiler_dir": str(raw.resolve()),
        "torch_profiler_record_shapes": True,
        "torch_profiler_with_stack": False,
        "torch_profiler_use_gzip": True,
        # the API server's own trace covers the client's whole window and is no op's time
        "ignore_frontend": True,
    }
    pcfg = cfg.model_copy(
        update={"extra_args": _without_profiler_arg(list(cfg.extra_args)) + ["--profiler-config", json.dumps(pconf)]}
    )
    port = free_port()
    argv = ad.server_argv(pcfg, port, python)
    n_warm = warmup_requests if warmup_requests is not None else max(4, min(16, workload.max_concurrency or 8))
    launch = ProfileLaunch(
        round_id=round_id,
        engine=ad.name,
        command=argv,
        env=ad.server_env(pcfg),
        launch_config=pcfg.knobs(),
        profiler_config=pconf,
        workload=workload,
        num_requests=num_requests,
        warmup_requests=n_warm,
        started_at=time.time(),
        status="failed",
        failure_reason="profile capture did not finish",
    )
    res = ProfileCaptureResult(round_id=round_id, status="failed", dir=d)
    server: ServerProcess | None = None
    try:
        with DeviceLock(pcfg.devices, timeout_s=limits.health_deadline_s):
            server = ServerProcess(
                argv,
                env={**os.environ, **ad.server_env(pcfg)},
                log_path=store.path(f"{d}/{SERVER_LOG}"),
                fatal=ad.fatal_patterns,
            )
            with server:
                src = _profile_requests(server, ad, pcfg, f"http://127.0.0.1:{port}", launch, res, limits, raw)
            # the server is down here: the trace is complete or will never be
            _keep_trace(store, d, src, launch, res, limits)
    except LaunchError as e:
        launch.failure_reason = str(e).splitlines()[0] + (f" | engine said: {e.quote}" if e.quote else "")
    except Exception as e:  # recorded, never raised: the run goes on without this profile
        launch.failure_reason = f"{type(e).__name__}: {e}"[:600]
    finally:
        if server is not None:
            server.stop()  # idempotent; the context manager already did on every normal path
        launch.ended_at = time.time()
        store.write_json(f"{d}/{LAUNCH}", launch)
    res.status, res.reason = launch.status, launch.failure_reason
    return res


def _profile_requests(
    server: ServerProcess,
    ad: EngineAdapter,
    pcfg: LaunchConfig,
    base_url: str,
    launch: ProfileLaunch,
    res: ProfileCaptureResult,
    limits: ProfileLimits,
    raw: Path,
) -> Path | None:
    """On the healthy server: warm-up requests, then the profiled ones between /start_profile and
    /stop_profile; the worker's trace file (None if it never came)."""
    w = launch.workload or WorkloadSpec(dataset="random", num_prompts=1)  # the launch record always carries one
    in_len, out_len, conc, seed = w.input_len or 32, w.output_len or 16, w.max_concurrency or 8, w.seed or 0
    res.server_pgid = server.pgid
    res.startup_s = server.wait_healthy(base_url + ad.health_path, deadline_s=limits.health_deadline_s)
    try:
        complete(base_url, pcfg.model, "1", 1)
    except (urllib.error.URLError, OSError, KeyError) as e:
        time.sleep(1)
        raise LaunchError(f"first request failed after a healthy start: {e}", server.fatal_line()) from None
    try:
        launch.resolved_config = ad.resolved_config(http_json(base_url + ad.server_info_path))
    except (urllib.error.URLError, OSError, ValueError):
        launch.resolved_config = None  # the profile does not depend on it
    if launch.warmup_requests:
        # other prompts than the profiled ones: nothing profiled is a prefix-cache hit
        asyncio.run(
            run_benchmark(
                base_url,
                pcfg.model,
                random_prompts(launch.warmup_requests, in_len, seed + 10_000),
                output_len=out_len,
                max_concurrency=conc,
                timeout_s=limits.request_timeout_s,
            )
        )
    _post(base_url + "/start_profile", timeout=120)
    t0 = time.time()
    try:
        r = asyncio.run(
            run_benchmark(
                base_url,
                pcfg.model,
                random_prompts(launch.num_requests, in_len, seed),
                output_len=out_len,
                max_concurrency=conc,
                timeout_s=limits.request_timeout_s,
            )
        )
    finally:
        _post(base_url + "/stop_profile", timeout=limits.trace_deadline_s)
    launch.profiled_s = time.time() - t0
    launch.completed, launch.failed_requests = r["completed"], r["failed"]
    src = wait_worker_trace(raw, limits.trace_deadline_s)
    if not server.alive():
        raise LaunchError("server died during the profiled workload", server.fatal_line())
    return src


def _keep_trace(
    store: RunStore, d: str, src: Path | None, launch: ProfileLaunch, res: ProfileCaptureResult, limits: ProfileLimits
) -> None:
    """The worker's trace kept once, as trace.json.gz; the round ok unless a profiled request failed."""
    if src is None:
        raise LaunchError(
            f"no worker trace under {d}/{RAW_DIR} within {limits.trace_deadline_s:.0f} s after stop_profile"
        )
    dst = store.path(f"{d}/{TRACE_FILE}")
    if src.suffix == ".gz":
        shutil.copyfile(src, dst)
    else:
        dst.write_bytes(gzip.compress(src.read_bytes(), mtime=0))
    src.unlink()
    launch.trace_file, launch.worker_trace = TRACE_FILE, src.name
    res.trace_path = dst
    if launch.failed_requests:
        launch.status, launch.failure_reason = (
            "failed",
            f"{launch.failed_requests} of {launch.num_requests} profiled requests failed",
        )
    else:
        launch.status, launch.failure_reason = "ok", None
