"""One leg = one server lifetime: launch, capture config, parity outputs, accuracy probe,
warm-up + N benchmark repetitions with the engine's own client, teardown.

A leg never raises for an engine failure: it is recorded as ``status: failed`` with the
reason (the engine's own error line when there is one) and the run goes on. Whatever was
measured before the failure stays on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass
from typing import Any

from geak.auditor.evidence.layout import LAUNCH, SERVER_INFO, leg_dir
from geak.auditor.evidence.ledger import Head, seal
from geak.auditor.evidence.models import LegLaunch, RepPlan
from geak.auditor.evidence.store import RunStore

from . import inflight
from .base import EngineAdapter, LaunchConfig, get_engine
from .host import fingerprint
from .http import http_bytes
from .leg_quality import answer_quality
from .leg_reps import BenchClient, run_reps
from .leg_server import LegServer, bring_up, file_size, plan_server, release
from .leg_spec import LegHooks, LegSpec, Serving
from .process import LaunchError, ServerProcess, cancelled, group_members
from .rep_barrier import PartnerLost


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


def run_leg(
    store: RunStore,
    engine: str | EngineAdapter,
    spec: LegSpec,
    hooks: LegHooks = LegHooks(),
    serving: Serving = Serving(),
) -> LegResult:
    """Measure one leg; never raises for an engine failure (launch.json says why)."""
    ad = get_engine(engine) if isinstance(engine, str) else engine
    python = serving.python or sys.executable
    d = leg_dir(spec.leg_id)
    store.path(d).mkdir(parents=True, exist_ok=True)
    srv = plan_server(ad, spec.cfg, hooks, serving, python)
    launch = LegLaunch(
        leg_id=spec.leg_id,
        role=spec.role,
        engine=ad.name,
        command=srv.argv,
        env=ad.server_env(spec.cfg),
        launch_config=spec.cfg.knobs(),
        workload=spec.workload,
        started_at=time.time(),
        status="failed",
        failure_reason=UNFINISHED,
        kernel_plugin=hooks.plugin,
        engagement_markers=list(hooks.engagement_markers or []),
        reps_planned=RepPlan(counted=spec.reps, warmup=1 if spec.warmup else 0),
    )
    counted, startup, registered = 0, None, False
    try:
        if srv.kept is None:
            srv.lock.acquire()
        inflight.register(
            store,
            spec.leg_id,
            spec.cfg.devices,
            role=spec.role,
            reps_planned=spec.reps + (1 if spec.warmup else 0),
            requests_per_rep=spec.workload.num_prompts,
        )
        registered = True
        startup = bring_up(store, ad, spec, hooks, serving, srv, launch)
        server = srv.process
        assert server is not None
        launch.resolved_config = record_server_info(store, d, ad, srv.base_url)
        launch.host = _fingerprint(store, spec.leg_id, spec.cfg, server)
        answer_quality(store, d, srv.base_url, spec, hooks)
        plan = ([True] if spec.warmup else []) + [False] * spec.reps
        client = BenchClient(
            ad, python, srv.base_url, spec.cfg.model, spec.workload, srv.env, serving.bench_timeout_s, spec.cfg
        )
        for _, is_warm in run_reps(store, client, spec.leg_id, plan, server, hooks.rep_barrier):
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


def _close(
    store: RunStore,
    spec: LegSpec,
    hooks: LegHooks,
    serving: Serving,
    srv: LegServer,
    launch: LegLaunch,
    registered: bool,
) -> Head | None:
    """Record, seal and tear down, whatever happened: launch.json first, so nothing after it
    can cost the leg its record."""
    if launch.status != "ok" and cancelled():
        # torn down by Ctrl-C, not by the engine: a resumed run measures it again
        launch.failure_reason = f"{UNFINISHED} (the run was cancelled): {launch.failure_reason}"
    if srv.life is not None and srv.process is not None:
        srv.life.log_offset_end = file_size(srv.process.log_path)
    launch.ended_at = time.time()
    store.write_json(f"{leg_dir(spec.leg_id)}/{LAUNCH}", launch)
    sealed = _seal(store, spec.leg_id)
    if hooks.rep_barrier is not None and launch.status != "ok":
        hooks.rep_barrier.abort()
    if registered:
        inflight.unregister(store, spec.leg_id)
    release(
        srv.process,
        srv.lock,
        srv.kept,
        srv.key if serving.keep and launch.status == "ok" else None,
        spec.cfg,
        spec.leg_id,
        srv.base_url,
    )
    return sealed


def _seal(store: RunStore, leg_id: str) -> Head | None:
    """Seal what the tool and the engine wrote, the moment the leg closes (evidence/ledger.py).
    A seal that cannot be written loses no measurement: the audit then FAILs W2, fail-closed."""
    try:
        return seal(store, leg_id)
    except (OSError, ValueError) as e:
        print(
            f"geak: leg {leg_id} could not be sealed ({type(e).__name__}: {e}); its audit will say so", file=sys.stderr
        )
        return None


def _fingerprint(store: RunStore, leg_id: str, cfg: LaunchConfig, server: ServerProcess) -> Any:
    sibs = {s.leg_id: set(group_members(s.pgid)) for s in inflight.siblings(store, leg_id)}
    fp = fingerprint(
        own_pids=set(group_members(server.pgid or -1)), devices=cfg.devices, sibling_pids=sibs, server_pid=server.pgid
    )
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
