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
from typing import Any, Callable

from geak.auditor.evidence.models import (AccuracyItem, AccuracyProbe, KernelPlugin, LegLaunch, ParityOutput, ParityProbe, RepPlan, ServerLifetime, TopKLogprobs,
                                         WorkloadSpec)
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
from .questions import Prompt, QuestionSet, load_prompts  # noqa: F401  (Prompt and load_prompts: the leg's public names)
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


def http_bytes(url: str, payload: dict[str, Any] | None = None, timeout: float = 60.0) -> bytes:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    return json.loads(http_bytes(url, payload, timeout))


def record_server_info(store: RunStore, leg_dir: str, ad: EngineAdapter, base_url: str) -> dict[str, Any]:
    """The engine's own answer about its config, kept verbatim in <leg>/server_info.json (the
    auditor derives the resolved config from these bytes; launch.json's copy is a claim)."""
    raw = http_bytes(base_url + ad.server_info_path)
    store.write_text(f"{leg_dir}/{SERVER_INFO}", raw)
    return ad.resolved_config(json.loads(raw))


def complete(base_url: str, model: str, prompt: str, max_tokens: int, stop: list[str] | None = None) -> str:
    body: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "seed": 0}
    if stop:
        body["stop"] = stop
    out = http_json(f"{base_url}/v1/completions", body)
    return out["choices"][0]["text"]


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


def run_leg(store: RunStore, *, leg_id: str, role: str, engine: str | EngineAdapter, cfg: LaunchConfig, workload: WorkloadSpec,
            reps: int = 3, warmup: bool = True, parity: list[Prompt] | None = None, accuracy: list[Prompt] | QuestionSet | None = None,
            max_tokens: int = 8, health_deadline_s: float = 600.0, bench_timeout_s: float = 900.0,
            python: str | None = None, port: int | None = None,
            on_started: Callable[[ServerProcess], None] | None = None,
            topk: Callable[[str, str], list[TopKLogprobs]] | None = None,
            probe: Callable[[str, str], tuple[ParityProbe, list[TopKLogprobs]]] | None = None,
            plugin: KernelPlugin | None = None, engagement_markers: list[str] | None = None,
            reuse: bool = False, keep: bool = False, rep_barrier: RepBarrier | None = None) -> LegResult:
    """``topk(base_url, model)``: record first-token top-k logprobs (a reference for a later
    parity probe). ``probe(base_url, model)``: the one-token parity probe of a kernel candidate,
    run before anything is benchmarked; an ejected candidate fails the leg (fail closed) with
    the probe's tagged line as the reason. ``plugin``/``engagement_markers`` are recorded in
    launch.json as what the leg loaded and what its log must show. ``reuse``: measure on a
    server an earlier leg of the same launch kept up (pool.py), declared in launch.json's
    ``server``; ``keep``: leave this leg's server up for such a leg (a kernel leg never does).
    ``rep_barrier``: the leg is one half of a pair (paired.py): each repetition starts when the
    partner leg's starts, and a failure here ends the partner's wait."""
    ad = get_engine(engine) if isinstance(engine, str) else engine
    python = python or sys.executable
    d = leg_dir(leg_id)
    store.path(d).mkdir(parents=True, exist_ok=True)
    env_extra = ad.server_env(cfg)
    key = None
    if (reuse or keep) and ad.cache_reset_path and not (plugin or probe or topk or on_started):
        key = server_key(ad.name, server_command(ad, cfg, "PORT", python), env_extra)
    kept = _take_kept(ad, cfg, key) if key and reuse else None
    port = port or free_port()
    argv = kept.server.argv if kept else server_command(ad, cfg, port, python)
    env = {**os.environ, **env_extra}
    base_url = kept.base_url if kept else f"http://127.0.0.1:{port}"
    launch = LegLaunch(leg_id=leg_id, role=role, engine=ad.name, command=argv, env=env_extra,  # type: ignore[arg-type]
                       launch_config=cfg.knobs(), workload=workload, started_at=time.time(), status="failed",
                       failure_reason=UNFINISHED, kernel_plugin=plugin, engagement_markers=list(engagement_markers or []),
                       reps_planned=RepPlan(counted=reps, warmup=1 if warmup else 0))
    counted = 0
    startup = None
    sealed: Head | None = None
    registered = False
    lock = kept.lock if kept else DeviceLock(cfg.devices, timeout_s=health_deadline_s)
    server = kept.server if kept else None
    life: ServerLifetime | None = None
    try:
        if kept is None:
            lock.acquire()
        inflight.register(store, leg_id, cfg.devices, role=role, reps_planned=reps + (1 if warmup else 0),
                          requests_per_rep=workload.num_prompts)
        registered = True
        if kept is None:
            server = ServerProcess(argv, env=env, log_path=store.path(f"{d}/{SERVER_LOG}"), fatal=ad.fatal_patterns)
            server.start()
            life = launch.server = ServerLifetime(owner_leg=leg_id, pid=server.pgid, started_at=server.started_at, log_offset_start=0)
            inflight.started(store, leg_id, server.pgid or -1)  # its start-up's CPU is a sibling's, not foreign
            if on_started:
                on_started(server)
            startup = server.wait_healthy(base_url + ad.health_path, deadline_s=health_deadline_s)
            # /health answers before the first forward pass; an unsupported kernel config
            # (vLLM CPU attention with head_dim 16) fails only on the first request
            try:
                complete(base_url, cfg.model, "1", 1)
            except (urllib.error.URLError, OSError, KeyError) as e:
                time.sleep(1)
                raise LaunchError(f"first request failed after a healthy start: {e}", server.fatal_line() or _tail(server.log_text())) from None
        else:
            inflight.started(store, leg_id, server.pgid or -1)  # type: ignore[union-attr]
            life = launch.server = ServerLifetime(
                owner_leg=kept.owner_leg, pid=server.pgid, started_at=server.started_at, reused=True,  # type: ignore[union-attr]
                log_offset_start=kept.reset_offset, cache_reset=kept.reset_answer)
        assert server is not None
        launch.resolved_config = record_server_info(store, d, ad, base_url)
        launch.host = _fingerprint(store, leg_id, cfg, server)
        served = cfg.model
        if topk:
            _write_rows(store, f"{d}/{TOPK}", topk(base_url, served))
        if probe:
            pp, rows = probe(base_url, served)
            _write_rows(store, f"{d}/{TOPK}", rows)  # the candidate's side: P10 re-derives from both
            store.write_json(f"{d}/{PARITY_PROBE}", pp)
            if pp.ejected:
                raise LaunchError(f"parity probe ejected the candidate before benchmarking: {pp.log_line}")
        if parity:
            for rerun in (0, 1):  # the second pass is the determinism check (P9)
                for p in parity:
                    text = complete(base_url, served, p.prompt, max_tokens)
                    store.append_jsonl(f"{d}/{OUTPUTS}", ParityOutput(prompt_id=p.prompt_id, prompt=p.prompt,
                                                                          output_text=text, expected=p.expected, rerun=rerun))
        if accuracy:
            _accuracy_probe(store, d, base_url, served, QuestionSet.of(accuracy))
        plan = ([True] if warmup else []) + [False] * reps
        for idx, is_warm in _run_reps(store, ad, d, leg_id, plan, python, base_url, served, workload, env, bench_timeout_s, server,
                                      cfg=cfg, barrier=rep_barrier):
            counted += 0 if is_warm else 1
        launch.host = _worst(launch.host, _fingerprint(store, leg_id, cfg, server))
        launch.status, launch.failure_reason = "ok", None
    except LaunchError as e:
        launch.failure_reason = str(e).splitlines()[0] + (f" | engine said: {e.quote}" if e.quote else "")
    except (OSError, ValueError, subprocess.SubprocessError, urllib.error.URLError, KeyError, PartnerLost) as e:
        launch.failure_reason = f"{type(e).__name__}: {e}"
    finally:
        if launch.status != "ok" and cancelled():
            # torn down by Ctrl-C, not by the engine: a resumed run measures it again
            launch.failure_reason = f"{UNFINISHED} (the run was cancelled): {launch.failure_reason}"
        if life is not None and server is not None:
            life.log_offset_end = _size(server.log_path)
        launch.ended_at = time.time()
        store.write_json(f"{d}/{LAUNCH}", launch)  # first: nothing after it may cost the leg its record
        sealed = _seal(store, leg_id)
        if rep_barrier is not None and launch.status != "ok":
            rep_barrier.abort()
        if registered:
            inflight.unregister(store, leg_id)
        _release(server, lock, kept, key if keep and launch.status == "ok" else None, cfg, leg_id, base_url)
    return LegResult(leg_id, launch.status, launch.failure_reason, counted, startup, sealed)


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
                                                         scoring=qs.scoring, max_tokens=qs.max_tokens))  # type: ignore[arg-type]


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


def _fingerprint(store: RunStore, leg_id: str, cfg: LaunchConfig, server: ServerProcess):
    sibs = {s.leg_id: set(group_members(s.pgid)) for s in inflight.siblings(store, leg_id)}
    fp = fingerprint(own_pids=set(group_members(server.pgid or -1)), devices=cfg.devices, sibling_pids=sibs,
                     server_pid=server.pgid)
    fp.sibling_legs = sorted(set(fp.sibling_legs) | set(inflight.overlapped(store, leg_id)))
    return fp


def _worst(first, last):
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


def _run_reps(store: RunStore, ad: EngineAdapter, d: str, leg_id: str, plan: list[bool], python: str, base_url: str,
              model: str, workload: WorkloadSpec, env: dict[str, str], timeout_s: float, server: ServerProcess,
              cfg: LaunchConfig | None = None, barrier: RepBarrier | None = None):
    """Run the repetitions with the engine's own client; yield (index, warm-up?) per recorded rep.

    One client process for all reps when the adapter supports it (the server stays hot), else
    one per rep. Each rep's output is kept verbatim in raw/ and normalized into bench_runs.jsonl
    as soon as it exists, so a failure part-way keeps what was measured.
    """
    raw_dir = store.path(f"{d}/raw")
    raw_dir.mkdir(parents=True, exist_ok=True)
    files = [f"rep_{i}.json" for i in range(len(plan))]
    kw = dict(python=python, base_url=base_url, model=model, workload=workload, result_dir=str(raw_dir))
    multi = ad.bench_argv_multi(result_files=files, **kw)
    if multi and barrier is not None:
        multi += ["--geak-rep-barrier", barrier.spec]  # the client meets its partner before each rep
    batches = [(multi, list(range(len(plan))))] if multi else [(ad.bench_argv(result_file=f, **kw), [i]) for i, f in enumerate(files)]
    if cfg is not None:
        batches = [(client_command(argv, cfg), idxs) for argv, idxs in batches]
    for argv, idxs in batches:
        if barrier is not None and not multi:
            barrier.meet(idxs[0], token=leg_id)  # one client per rep: meet here, right before it starts
        log = store.path(f"{d}/{BENCH_LOG}")
        with open(log, "ab") as f:
            try:
                r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout_s * len(idxs), start_new_session=True)
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
