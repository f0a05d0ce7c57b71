"""The server one leg measures, as the leg brings it up and lets it go (split from leg.py): its
own process under the device lock, or a kept one the pool hands over with its prefix cache
dropped; afterwards stopped, or kept for the next leg of the same launch."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from geak.auditor.evidence.layout import SERVER_LOG, leg_dir
from geak.auditor.evidence.models import LegLaunch, ServerLifetime
from geak.auditor.evidence.store import RunStore

from . import inflight
from .base import EngineAdapter, LaunchConfig
from .http import complete, http_bytes
from .leg_spec import LegHooks, LegSpec, Serving
from .lock import DeviceLock
from .pool import POOL, KeptServer, server_key
from .ports import free_port
from .process import LaunchError, ServerProcess, cancelled


def server_command(ad: EngineAdapter, cfg: LaunchConfig, port: int | str, python: str) -> list[str]:
    """The server's argv. A core set holds the whole server (API process, engine core, workers),
    not only the OpenMP threads vLLM binds, so a sibling leg has the other cores to itself."""
    argv = ad.server_argv(cfg, port, python)  # type: ignore[arg-type]
    pin = cfg.pin_plan()
    if pin and cfg.device_set().ids and cfg.device_set().kind == "cpu" and shutil.which("taskset"):
        argv = ["taskset", "-c", pin[0]] + argv
    return argv


@dataclass
class LegServer:
    """The leg's server as it is being brought up: its own, or one the pool kept."""

    argv: list[str]
    env: dict[str, str]
    base_url: str
    lock: DeviceLock
    kept: KeptServer | None
    key: str | None
    process: ServerProcess | None = None
    life: ServerLifetime | None = None


def plan_server(ad: EngineAdapter, cfg: LaunchConfig, hooks: LegHooks, serving: Serving, python: str) -> LegServer:
    """The server the leg will use: a kept one of the same launch when reuse allows, else its own."""
    env_extra = ad.server_env(cfg)
    key = None
    if (serving.reuse or serving.keep) and ad.cache_reset_path and not hooks.own_server_only:
        key = server_key(ad.name, server_command(ad, cfg, "PORT", python), env_extra)
    kept = take_kept(ad, cfg, key) if key and serving.reuse else None
    if kept is not None:
        return LegServer(
            kept.server.argv, {**os.environ, **env_extra}, kept.base_url, kept.lock, kept, key, process=kept.server
        )
    port = serving.port or free_port()
    return LegServer(
        server_command(ad, cfg, port, python),
        {**os.environ, **env_extra},
        f"http://127.0.0.1:{port}",
        DeviceLock(cfg.devices, timeout_s=serving.health_deadline_s),
        None,
        key,
    )


def bring_up(
    store: RunStore,
    ad: EngineAdapter,
    spec: LegSpec,
    hooks: LegHooks,
    serving: Serving,
    srv: LegServer,
    launch: LegLaunch,
) -> float | None:
    """Start the leg's own server (healthy, and past its first request), or declare the kept one;
    the start-up time in seconds (None for a kept server)."""
    if srv.kept is not None:
        k, server = srv.kept, srv.process
        assert server is not None, "a kept server comes with its process"
        inflight.started(store, spec.leg_id, server.pgid or -1)
        srv.life = launch.server = ServerLifetime(
            owner_leg=k.owner_leg,
            pid=server.pgid,
            started_at=server.started_at,
            reused=True,
            log_offset_start=k.reset_offset,
            cache_reset=k.reset_answer,
        )
        return None
    server = srv.process = ServerProcess(
        srv.argv, env=srv.env, log_path=store.path(f"{leg_dir(spec.leg_id)}/{SERVER_LOG}"), fatal=ad.fatal_patterns
    )
    server.start()
    srv.life = launch.server = ServerLifetime(
        owner_leg=spec.leg_id, pid=server.pgid, started_at=server.started_at, log_offset_start=0
    )
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
        raise LaunchError(
            f"first request failed after a healthy start: {e}", server.fatal_line() or log_tail(server.log_text())
        ) from None
    return startup


def take_kept(ad: EngineAdapter, cfg: LaunchConfig, key: str) -> KeptServer | None:
    """The pool's server of this launch with its prefix cache dropped, or None (then the leg
    starts its own). A reset the engine refuses (requests still hold blocks) stops the server:
    a leg on a warm cache would be a cached result."""
    k = POOL.take(cfg.devices, key)
    if k is None:
        return None
    k.reset_offset = file_size(k.server.log_path)
    try:
        k.reset_answer = http_bytes(k.base_url + (ad.cache_reset_path or ""), {}, timeout=30).decode(errors="replace")
        ok = json.loads(k.reset_answer).get("success") is True
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        k.stop()
        return None
    return k


def release(
    server: ServerProcess | None,
    lock: DeviceLock,
    kept: KeptServer | None,
    keep_key: str | None,
    cfg: LaunchConfig,
    leg_id: str,
    base_url: str,
) -> None:
    """Stop the server and free its set, or hand both to the pool for the next leg of this launch."""
    if keep_key and server is not None and server.alive() and not cancelled():
        k = kept or KeptServer(
            key=keep_key, devices=cfg.devices, server=server, lock=lock, base_url=base_url, owner_leg=leg_id
        )
        k.legs.append(leg_id)
        POOL.keep(k)
        return
    try:
        if server is not None:
            server.stop()
    finally:
        lock.release()


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def log_tail(text: str, n: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-n:])
