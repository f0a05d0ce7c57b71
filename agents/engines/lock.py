"""One leg per device set at a time: an advisory file lock that dies with its holder."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path


class DeviceBusy(RuntimeError):
    pass


class DeviceLock:
    def __init__(self, devices: str, lock_dir: Path | None = None, timeout_s: float = 0.0):
        safe = "".join(c if c.isalnum() else "_" for c in devices) or "cpu"
        self.path = (lock_dir or Path(tempfile.gettempdir()) / "geak-locks") / f"{safe}.lock"
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> "DeviceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise DeviceBusy(f"device set locked by another leg ({self.path}, holder pid {holder or '?'}); "
                                     "wait for it or use other devices") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DeviceLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
