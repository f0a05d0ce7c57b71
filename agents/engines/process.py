"""A server process in its own process group: start, wait healthy (failing fast), tear down.

Every engine server geak starts lives in a new session (``start_new_session``), so the
whole tree (API server, engine core, workers) is signalled at once by process group. The
context manager tears it down on normal exit, exceptions, timeouts and Ctrl-C; an atexit
hook catches anything left at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

from geak.auditor.evidence.models import TEARDOWN_MARKER

_LIVE: set[ServerProcess] = set()
_CANCELLED = False  # set by cancel_all(): no new server starts in this process until reset_cancel()


def cancel_all() -> int:
    """Ctrl-C with legs in flight: refuse new servers and tear every live one down (their legs
    then fail with the teardown recorded). Returns how many were torn down."""
    global _CANCELLED
    _CANCELLED = True
    live = list(_LIVE)
    for s in live:
        s.stop(grace_s=3.0)
    return len(live)


def cancelled() -> bool:
    return _CANCELLED


def reset_cancel() -> None:
    global _CANCELLED
    _CANCELLED = False


class LaunchError(RuntimeError):
    """The server did not become healthy. ``quote`` is the engine's own error line, if any."""

    def __init__(self, message: str, quote: str | None = None, log_path: Path | None = None):
        super().__init__(
            message + (f"\n  engine said: {quote}" if quote else "") + (f"\n  full log: {log_path}" if log_path else "")
        )
        self.quote = quote
        self.log_path = log_path


@dataclass
class FatalPattern:
    regex: re.Pattern[str]
    what: str


class ServerProcess:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        log_path: Path,
        cwd: Path | None = None,
        fatal: Sequence[FatalPattern] = (),
    ):
        self.argv = list(argv)
        self.env = env
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.fatal = list(fatal)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> ServerProcess:
        if _CANCELLED:
            raise LaunchError("the run was cancelled: no new server is started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
            )
        finally:
            log.close()
        self.started_at = time.time()
        _LIVE.add(self)
        return self

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None  # session leader: pgid == pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after ``grace_s``."""
        if self.proc is None:
            return
        pgid = self.pgid
        if self.proc.poll() is None:
            try:
                with open(self.log_path, "ab") as f:
                    f.write(f"\n{TEARDOWN_MARKER}\n".encode())
            except OSError:
                pass
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)  # type: ignore[arg-type]
            except ProcessLookupError:
                break
            deadline = time.time() + wait
            while time.time() < deadline and group_alive(pgid):  # type: ignore[arg-type]
                try:
                    self.proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            if not group_alive(pgid):  # type: ignore[arg-type]
                break
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        _LIVE.discard(self)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ health
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def fatal_line(self) -> str | None:
        """The first log line matching a fatal pattern, quoted. Warning lines never count:
        vLLM's ulimit warning mentions "OSError: [Errno 24]" in every healthy log."""
        lines = self.log_text().splitlines()
        for i, line in enumerate(lines):
            # warnings never count; indented lines are traceback source context ("    raise X(")
            if "WARNING" in line or "Warning:" in line or line[:1].isspace():
                continue
            for fp in self.fatal:
                if fp.regex.search(line):
                    # pydantic puts the reason on indented continuation lines
                    cont = [c.strip() for c in lines[i + 1 : i + 3] if c[:1].isspace() and c.strip()]
                    return f"{fp.what}: " + " ".join([line.strip()] + cont)[:600]
        return None

    def wait_healthy(self, url: str, deadline_s: float, poll_s: float = 0.5) -> float:
        """Poll ``url`` until HTTP 200. Fail fast on a fatal log line or an exited process."""
        t0 = time.time()
        while True:
            quote = self.fatal_line()
            if quote:
                raise LaunchError(f"server failed to start after {time.time() - t0:.1f} s", quote, self.log_path)
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                raise LaunchError(
                    f"server exited with code {code} after {time.time() - t0:.1f} s before becoming healthy",
                    last_error_line(self.log_text()),
                    self.log_path,
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.time() - t0 > deadline_s:
                raise LaunchError(
                    f"server not healthy within {deadline_s:.0f} s", last_error_line(self.log_text()), self.log_path
                )
            time.sleep(poll_s)


_ERR = re.compile(r"(Error|error|ERROR|Exception|Traceback|Killed|fatal)")


def last_error_line(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        # vLLM warns about ulimit with the word "error" in every log: skip warnings
        if _ERR.search(line) and "WARNING" not in line:
            return line.strip()[:400]
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process of the group lives."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(d.name))
    return pids


@atexit.register
def _reap_all() -> None:
    for s in list(_LIVE):
        s.stop(grace_s=3.0)
