"""Servers kept up between legs of one launch: the baseline, its re-measures and a gate's
reference leg may measure on the live server an earlier leg of the same launch started,
instead of paying its start-up again (65% of engine time on the shipped model, issue 17).

A kept server is idle: it holds its device set's lock and nothing else. Any lock request of
this process on one of its units (a leg of another launch, a profile capture, an op harness
run) stops it first. A reused leg asks the engine to drop its prefix cache before measuring,
since every leg sends the same prompts (seed + rep), and records the engine's answer; the
auditor holds that to the engine's own log line (E2). A/A legs and candidates never reuse: the
noise band must include launch-to-launch variance, and a candidate served warm is a cached result.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from . import lock as lock_mod
from .lock import DeviceLock
from .process import ServerProcess


@dataclass
class KeptServer:
    key: str
    devices: str
    server: ServerProcess
    lock: DeviceLock
    base_url: str
    owner_leg: str
    legs: list[str] = field(default_factory=list)  # every leg measured on it, in order
    reset_offset: int | None = None  # the owner's log size before the last cache reset
    reset_answer: str | None = None  # the engine's raw answer to it

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.lock.release()


def server_key(engine: str, argv: list[str], env: dict[str, str]) -> str:
    """Two legs share a server only if its argv (port aside) and env are the same bytes."""
    blob = json.dumps([engine, argv, sorted(env.items())], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ServerPool:
    """At most one kept server per device set, in this process."""

    def __init__(self) -> None:
        self._kept: dict[str, KeptServer] = {}
        self._mu = threading.Lock()

    def take(self, devices: str, key: str) -> KeptServer | None:
        """The kept server of this launch on this set, alive, now owned by the caller; a kept
        server of another launch on the set is stopped (the caller starts its own)."""
        with self._mu:
            k = self._kept.pop(devices, None)
        if k is None:
            return None
        if k.key == key and k.server.alive():
            return k
        k.stop()
        return None

    def keep(self, k: KeptServer) -> None:
        with self._mu:
            old = self._kept.pop(k.devices, None)
            self._kept[k.devices] = k
        if old is not None and old is not k:
            old.stop()

    def evict(self, units: set[str]) -> int:
        """Stop every kept server holding one of ``units``; how many were stopped."""
        with self._mu:
            gone = [d for d, k in self._kept.items() if k.lock.units() & units]
            ks = [self._kept.pop(d) for d in gone]
        for k in ks:
            k.stop()
        return len(ks)

    def close(self) -> int:
        with self._mu:
            ks = list(self._kept.values())
            self._kept.clear()
        for k in ks:
            k.stop()
        return len(ks)

    def kept(self) -> dict[str, Any]:
        with self._mu:
            return {
                d: {"owner_leg": k.owner_leg, "legs": list(k.legs), "pid": k.server.pgid} for d, k in self._kept.items()
            }


POOL = ServerPool()
lock_mod.BEFORE_ACQUIRE.append(POOL.evict)
