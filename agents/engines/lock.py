"""One leg per device at a time: advisory file locks, one per core or GPU, that die with their holder.

A set is locked unit by unit in sorted order (so two legs asking for overlapping sets cannot
deadlock); ``cpu`` (the whole host) takes every core's lock, so it excludes every core set.
"""

from __future__ import annotations

from typing import Any

import fcntl
import os
import tempfile
import time
from pathlib import Path


class DeviceBusy(RuntimeError):
    pass


# called with a lock request's units before it blocks: the server pool stops a kept (idle)
# server of this process holding any of them, which would otherwise wait on itself
BEFORE_ACQUIRE: list[Any] = []


def _units(devices: str) -> list[str]:
    from .devices import parse

    try:
        return sorted(parse(devices).units())
    except ValueError:  # a name that is not a device set still locks as one opaque unit
        return ["".join(c if c.isalnum() else "_" for c in devices) or "cpu"]


class DeviceLock:
    def __init__(self, devices: str, lock_dir: Path | None = None, timeout_s: float = 0.0):
        self.dir = lock_dir or Path(tempfile.gettempdir()) / "geak-locks"
        self.devices = devices
        self.paths = [self.dir / f"{u}.lock" for u in _units(devices)]
        self.timeout_s = timeout_s
        self._fds: list[int] = []

    def units(self) -> set[str]:
        return {p.stem for p in self.paths}

    def acquire(self) -> DeviceLock:
        for hook in list(BEFORE_ACQUIRE):
            hook(self.units())
        self.dir.mkdir(parents=True, exist_ok=True)
        deadline = time.time() + self.timeout_s
        try:
            for path in self.paths:
                self._fds.append(self._take(path, deadline))
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: Path, deadline: float) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise DeviceBusy(
                        f"device set {self.devices} is locked by another leg ({path}, holder pid {holder or '?'}); "
                        "wait for it or use other devices"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def release(self) -> None:
        for fd in reversed(self._fds):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._fds = []

    def __enter__(self) -> DeviceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
