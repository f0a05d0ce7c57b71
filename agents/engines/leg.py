"""One leg = one server lifetime: launch, capture config, parity outputs, accuracy probe,
warm-up + N benchmark repetitions with the engine's own client, teardown.

A leg never raises for an engine failure: it is recorded as ``status: failed`` with the
reason (the engine's own error line when there is one) and the run goes on. Whatever was
measured before the failure stays on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from geak.auditor.evidence.models import AccuracyItem, AccuracyProbe, LegLaunch, ParityOutput, RepPlan, ServerLifetime, WorkloadSpec
from geak.auditor.evidence.ledger import Head, seal
from geak.auditor.evidence.store import RunStore
from geak.auditor.scoring import count_correct

from .base import EngineAdapter, LaunchConfig, get_engine
from . import inflight
from .host import fingerprint
from .lock import DeviceLock
from .pool import POOL, KeptServer, server_key
from .rep_barrier import PartnerLost, RepBarrier
from .ports import free_port
from .process import LaunchError, ServerProcess, cancelled, group_members
from .http import complete, http_bytes
from .questions import Prompt, QuestionSet, load_prompts  # noqa: F401  (Prompt and load_prompts: the leg's public names)
from .leg_spec import LegHooks, LegSpec, Serving, leg_parts  # noqa: F401  (leg_parts: the leg's public name)
from geak.auditor.evidence.layout import (
    ACCURACY,
    ACCURACY_ITEMS,
    BENCH_LOG,
    BENCH_RUNS,
    LAUNCH,
    OUTPUTS,
    PARITY_PROBE,
    SERVER_INFO,
    SERVER_LOG,
    TOPK,
    leg_dir,
)


UNFINISHED = "leg did not finish"  # a launch.json reason that means: measure this leg again on resume


@dataclass
class LegResult:
    leg_id: str
    status: str
    reason: str | None
    counted_reps: int
    startup_s: float | None
    sealed: Head | None = None  # the ledger's head after this leg's seal (None: not sealed by this call)


def record_server_info(store: RunStore, leg_dir: str, ad: EngineAdapter, base_url: str) -> dict[str, Any]:
    """The engine's own answer about its config, kept verbatim in <leg>/server_info.json (the
    auditor derives the resolved config from these bytes; launch.json's copy is a claim)."""
    raw = http_bytes(base_url + ad.server_info_path)
    store.write_text(f"{leg_dir}/{SERVER_INFO}", raw)
    return ad.resolved_config(json.loads(raw))


def server_command(ad: EngineAdapter, cfg: LaunchConfig, port: int | str, python: str) -> list[str]:
    """The server's argv. A core set holds the whole server (API process, engine core, workers),
    not only the OpenMP threads vLLM binds, so a sibling leg has the other cores to itself."""
    argv = ad.server_argv(cfg, port, python)  # type: ignore[arg-type]
    pin = cfg.pin_plan()
    if pin and cfg.device_set().ids and cfg.device_set().kind == "cpu" and shutil.which("taskset"):
        argv = ["taskset", "-c", pin[0]] + argv
    return argv


def client_command(argv: list[str], cfg: LaunchConfig) -> list[str]:
    """The benchmark client's argv, pinned where the leg's pin plan says."""
    pin = cfg.pin_plan()
    return (["taskset", "-c", pin[1]] + argv) if pin and shutil.which("taskset") else argv


@dataclass
class _Server:
    """The leg's server as it is being brought up: its own, or one the pool kept."""

    argv: list[str]
    env: dict[str, str]
    base_url: str
    lock: DeviceLock
    kept: KeptServer | None
    key: str | None
    process: ServerProcess | None = None
    life: ServerLifetime | None = None


def run_leg(store: RunStore, engine: str | EngineAdapter, spec: LegSpec, hooks: LegHooks = LegHooks(),
            serving: Serving = Serving()) -> LegResult:
    """Measure one leg; never raises for an engine failure (launch.json says why)."""
    ad = get_engine(engine) if isinstance(engine, str) else engine
    python = serving.python or sys.executable
    d = leg_dir(spec.leg_id)
    store.path(d).mkdir(parents=True, exist_ok=True)
    srv = _plan_server(ad, spec.cfg, hooks, serving, python)
    launch = LegLaunch(leg_id=spec.leg_id, role=spec.role, engine=ad.name, command=srv.argv, env=ad.server_env(spec.cfg),
                       launch_config=spec.cfg.knobs(), workload=spec.workload, started_at=time.time(), status="failed",
                       failure_reason=UNFINISHED, kernel_plugin=hooks.plugin, engagement_markers=list(hooks.engagement_markers or []),
                       reps_planned=RepPlan(counted=spec.reps, warmup=1 if spec.warmup else 0))
    counted, startup, registered = 0, None, False
    try:
        if srv.kept is None:
            srv.lock.acquire()
        inflight.register(store, spec.leg_id, spec.cfg.devices, role=spec.role, reps_planned=spec.reps + (1 if spec.warmup else 0),
                          requests_per_rep=spec.workload.num_prompts)
        registered = True
        startup = _bring_up(store, ad, spec, hooks, serving, srv, launch)
        server = srv.process
        assert server is not None
        launch.resolved_config = record_server_info(store, d, ad, srv.base_url)
        launch.host = _fingerprint(store, spec.leg_id, spec.cfg, server)
        _quality(store, d, srv.base_url, spec, hooks)
        plan = ([True] if spec.warmup else []) + [False] * spec.reps
        client = _Client(ad, python, srv.base_url, spec.cfg.model, spec.workload, srv.env, serving.bench_timeout_s, spec.cfg)
        for _, is_warm in _run_reps(store, client, spec.leg_id, plan, server, hooks.rep_barrier):
            counted += 0 if is_warm else 1
        launch.host = _worst(launch.host, _fingerprint(store, spec.leg_id, spec.cfg, server))
        launch.status, launch.failure_reason = "ok", None
    except LaunchError as e:
        launch.failure_reason = str(e).splitlines()[0] + (f" | engine said: {e.quote}" if e.quote else "")
    except (OSError, ValueError, subprocess.SubprocessError, urllib.error.URLError, KeyError, PartnerLost) as e:
        launch.failure_reason = f"{type(e).__name__}: {e}"
    finally:
        sealed = _close(store, spec, hooks, serving, srv, launch, registered)
    return LegResult(spec.leg_id, launch.status, launch.failure_reason, counted, startup, sealed)


def _plan_server(ad: EngineAdapter, cfg: LaunchConfig, hooks: LegHooks, serving: Serving, python: str) -> _Server:
    """The server the leg will use: a kept one of the same launch when reuse allows, else its own."""
    env_extra = ad.server_env(cfg)
    key = None
    if (serving.reuse or serving.keep) and ad.cache_reset_path and not hooks.own_server_only:
        key = server_key(ad.name, server_command(ad, cfg, "PORT", python), env_extra)
    kept = _take_kept(ad, cfg, key) if key and serving.reuse else None
    if kept is not None:
        return _Server(kept.server.argv, {**os.environ, **env_extra}, kept.base_url, kept.lock, kept, key, process=kept.server)
    port = serving.port or free_port()
    return _Server(server_command(ad, cfg, port, python), {**os.environ, **env_extra}, f"http://127.0.0.1:{port}",
                   DeviceLock(cfg.devices, timeout_s=serving.health_deadline_s), None, key)


def _bring_up(store: RunStore, ad: EngineAdapter, spec: LegSpec, hooks: LegHooks, serving: Serving, srv: _Server,
              launch: LegLaunch) -> float | None:
    """Start the leg's own server (healthy, and past its first request), or declare the kept one;
    the start-up time in seconds (None for a kept server)."""
    if srv.kept is not None:
        k, server = srv.kept, srv.process
        inflight.started(store, spec.leg_id, server.pgid or -1)  # type: ignore[union-attr]
        srv.life = launch.server = ServerLifetime(
            owner_leg=k.owner_leg, pid=server.pgid, started_at=server.started_at, reused=True,  # type: ignore[union-attr]
            log_offset_start=k.reset_offset, cache_reset=k.reset_answer)
        return None
    server = srv.process = ServerProcess(srv.argv, env=srv.env, log_path=store.path(f"{leg_dir(spec.leg_id)}/{SERVER_LOG}"),
                                         fatal=ad.fatal_patterns)
    server.start()
    srv.life = launch.server = ServerLifetime(owner_leg=spec.leg_id, pid=server.pgid, started_at=server.started_at, log_offset_start=0)
    inflight.started(store, spec.leg_id, server.pgid or -1)  # its start-up's CPU is a sibling's, not foreign
    if hooks.on_started:
        hooks.on_started(server)
    startup = server.wait_healthy(srv.base_url + ad.health_path, deadline_s=serving.health_deadline_s)
    # /health answers before the first forward pass; an unsupported kernel config (vLLM CPU
    # attention with head_dim 16) fails only on the first request
    try:
        complete(srv.base_url, spec.cfg.model, "1", 1)
    except (urllib.error.URLError, OSError, KeyError) as e:
        time.sleep(1)
        raise LaunchError(f"first request failed after a healthy start: {e}", server.fatal_line() or _tail(server.log_text())) from None
    return startup


def _quality(store: RunStore, d: str, base_url: str, spec: LegSpec, hooks: LegHooks) -> None:
    """What the leg answers besides the benchmark: top-k, the kernel probe, parity, accuracy."""
    served = spec.cfg.model
    if hooks.topk:
        _write_rows(store, f"{d}/{TOPK}", hooks.topk(base_url, served))
    if hooks.probe:
        pp, rows = hooks.probe(base_url, served)
        _write_rows(store, f"{d}/{TOPK}", rows)  # the candidate's side: P10 re-derives from both
        store.write_json(f"{d}/{PARITY_PROBE}", pp)
        if pp.ejected:
            raise LaunchError(f"parity probe ejected the candidate before benchmarking: {pp.log_line}")
    if spec.parity:
        for rerun in (0, 1):  # the second pass is the determinism check (P9)
            for p in spec.parity:
                text = complete(base_url, served, p.prompt, spec.max_tokens)
                store.append_jsonl(f"{d}/{OUTPUTS}", ParityOutput(prompt_id=p.prompt_id, prompt=p.prompt,
                                                                      output_text=text, expected=p.expected, rerun=rerun))
    if spec.accuracy:
        _accuracy_probe(store, d, base_url, served, QuestionSet.of(spec.accuracy))


def _close(store: RunStore, spec: LegSpec, hooks: LegHooks, serving: Serving, srv: _Server, launch: LegLaunch,
           registered: bool) -> Head | None:
    """Record, seal and tear down, whatever happened: launch.json first, so nothing after it
    can cost the leg its record."""
    if launch.status != "ok" and cancelled():
        # torn down by Ctrl-C, not by the engine: a resumed run measures it again
        launch.failure_reason = f"{UNFINISHED} (the run was cancelled): {launch.failure_reason}"
    if srv.life is not None and srv.process is not None:
        srv.life.log_offset_end = _size(srv.process.log_path)
    launch.ended_at = time.time()
    store.write_json(f"{leg_dir(spec.leg_id)}/{LAUNCH}", launch)
    sealed = _seal(store, spec.leg_id)
    if hooks.rep_barrier is not None and launch.status != "ok":
        hooks.rep_barrier.abort()
    if registered:
        inflight.unregister(store, spec.leg_id)
    _release(srv.process, srv.lock, srv.kept, srv.key if serving.keep and launch.status == "ok" else None, spec.cfg,
             spec.leg_id, srv.base_url)
    return sealed


def _accuracy_probe(store: RunStore, d: str, base_url: str, served: str, qs: QuestionSet) -> None:
    """Ask every question (greedy, 8 at a time), keep each answer verbatim in accuracy_items.jsonl
    and the count in accuracy.json. The count is a claim: the auditor re-scores the items."""
    def ask(p: Prompt) -> tuple[str, str | None]:
        # a question the server refuses (too long for its context, say) scores wrong and says
        # why; it does not end the leg
        try:
            return complete(base_url, served, p.prompt, qs.max_tokens, qs.stop), None
        except urllib.error.HTTPError as e:
            return "", f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"

    with ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(ask, qs.prompts))
    correct = count_correct([(t, p.expected) for (t, _), p in zip(answers, qs.prompts)], qs.scoring)
    store.write_text(f"{d}/{ACCURACY_ITEMS}", "".join(
        AccuracyItem(prompt_id=p.prompt_id, prompt=p.prompt, expected=p.expected, output=t, error=err).model_dump_json() + "\n"
        for p, (t, err) in zip(qs.prompts, answers)))
    store.write_json(f"{d}/{ACCURACY}", AccuracyProbe(task=qs.task, n=len(qs.prompts), correct=correct, items_file=ACCURACY_ITEMS,
                                                         scoring=qs.scoring, max_tokens=qs.max_tokens))


def _seal(store: RunStore, leg_id: str) -> Head | None:
    """Seal what the tool and the engine wrote, the moment the leg closes (evidence/ledger.py).
    A seal that cannot be written loses no measurement: the audit then FAILs W2, fail-closed."""
    try:
        return seal(store, leg_id)
    except (OSError, ValueError) as e:
        print(f"geak: leg {leg_id} could not be sealed ({type(e).__name__}: {e}); its audit will say so", file=sys.stderr)
        return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _take_kept(ad: EngineAdapter, cfg: LaunchConfig, key: str) -> KeptServer | None:
    """The pool's server of this launch with its prefix cache dropped, or None (then the leg
    starts its own). A reset the engine refuses (requests still hold blocks) stops the server:
    a leg on a warm cache would be a cached result."""
    k = POOL.take(cfg.devices, key)
    if k is None:
        return None
    k.reset_offset = _size(k.server.log_path)
    try:
        k.reset_answer = http_bytes(k.base_url + (ad.cache_reset_path or ""), {}, timeout=30).decode(errors="replace")
        ok = json.loads(k.reset_answer).get("success") is True
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        k.stop()
        return None
    return k


def _release(server: ServerProcess | None, lock: DeviceLock, kept: KeptServer | None, keep_key: str | None, cfg: LaunchConfig,
             leg_id: str, base_url: str) -> None:
    """Stop the server and free its set, or hand both to the pool for the next leg of this launch."""
    if keep_key and server is not None and server.alive() and not cancelled():
        k = kept or KeptServer(key=keep_key, devices=cfg.devices, server=server, lock=lock, base_url=base_url, owner_leg=leg_id)
        k.legs.append(leg_id)
        POOL.keep(k)
        return
    try:
        if server is not None:
            server.stop()
    finally:
        lock.release()


def _fingerprint(store: RunStore, leg_id: str, cfg: LaunchConfig, server: ServerProcess) -> Any:
    sibs = {s.leg_id: set(group_members(s.pgid)) for s in inflight.siblings(store, leg_id)}
    fp = fingerprint(own_pids=set(group_members(server.pgid or -1)), devices=cfg.devices, sibling_pids=sibs,
                     server_pid=server.pgid)
    fp.sibling_legs = sorted(set(fp.sibling_legs) | set(inflight.overlapped(store, leg_id)))
    return fp


def _worst(first: Any, last: Any) -> Any:
    """The leg's host record: the later sample's, with the worse of both loads and every sibling seen."""
    out = last.model_copy()
    for f in ("foreign_cpu_busy_cores", "sibling_cpu_busy_cores", "shared_core_busy_cores"):
        vals = [v for v in (getattr(first, f), getattr(last, f)) if v is not None]
        setattr(out, f, max(vals) if vals else None)
    out.sibling_legs = sorted(set(first.sibling_legs) | set(last.sibling_legs))
    return out


def _write_rows(store: RunStore, rel: str, rows: list[Any]) -> None:
    store.write_text(rel, "".join(r.model_dump_json() + "\n" for r in rows))


def _tail(text: str, n: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-n:])


@dataclass(frozen=True)
class _Client:
    """The engine's own benchmark client as a leg runs it."""

    ad: EngineAdapter
    python: str
    base_url: str
    model: str
    workload: WorkloadSpec
    env: dict[str, str]
    timeout_s: float
    cfg: LaunchConfig


def _run_reps(store: RunStore, client: _Client, leg_id: str, plan: list[bool], server: ServerProcess,
              barrier: RepBarrier | None = None) -> Iterator[tuple[int, bool]]:
    """Run the repetitions with the engine's own client; yield (index, warm-up?) per recorded rep.

    One client process for all reps when the adapter supports it (the server stays hot), else
    one per rep. Each rep's output is kept verbatim in raw/ and normalized into bench_runs.jsonl
    as soon as it exists, so a failure part-way keeps what was measured.
    """
    ad, d = client.ad, leg_dir(leg_id)
    raw_dir = store.path(f"{d}/raw")
    raw_dir.mkdir(parents=True, exist_ok=True)
    files = [f"rep_{i}.json" for i in range(len(plan))]
    kw: dict[str, Any] = dict(python=client.python, base_url=client.base_url, model=client.model, workload=client.workload,
                              result_dir=str(raw_dir))
    multi = ad.bench_argv_multi(result_files=files, **kw)
    if multi and barrier is not None:
        multi += ["--geak-rep-barrier", barrier.spec]  # the client meets its partner before each rep
    batches = [(multi, list(range(len(plan))))] if multi else [(ad.bench_argv(result_file=f, **kw), [i]) for i, f in enumerate(files)]
    batches = [(client_command(argv, client.cfg), idxs) for argv, idxs in batches]
    for argv, idxs in batches:
        if barrier is not None and not multi:
            barrier.meet(idxs[0], token=leg_id)  # one client per rep: meet here, right before it starts
        log = store.path(f"{d}/{BENCH_LOG}")
        with open(log, "ab") as f:
            try:
                r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=client.env, timeout=client.timeout_s * len(idxs),
                                   start_new_session=True)
                code: int | None = r.returncode
            except subprocess.TimeoutExpired:
                code = None
        for i in idxs:
            raw_path = raw_dir / files[i]
            if not raw_path.exists():
                break
            raw = json.loads(raw_path.read_text())
            store.append_jsonl(f"{d}/{BENCH_RUNS}", ad.normalize_bench(raw, leg_id=leg_id, rep_index=i, warmup=plan[i], raw_file=f"raw/{files[i]}"))
            yield i, plan[i]
        if not server.alive():
            raise LaunchError(f"server died during the benchmark (after {len(list(raw_dir.glob('rep_*.json')))} recorded repetition(s))",
                              server.fatal_line() or _tail(server.log_text()))
        if code != 0:
            why = "timed out" if code is None else f"exited {code}"
            raise LaunchError(f"benchmark client {why}", _tail(log.read_text(errors="replace")))
