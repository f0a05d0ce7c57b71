"""Server process management against real processes: a real HTTP server with a child."""

import signal
import subprocess
import sys
import time

import pytest

from geak.agents.engines.lock import DeviceBusy, DeviceLock
from geak.agents.engines.ports import free_port, port_in_use
from geak.agents.engines.process import FatalPattern, LaunchError, ServerProcess, group_alive, group_members

import re

# a server that also forks a long-lived child, as vLLM's API server forks its engine core
SERVER = """
import http.server, socketserver, subprocess, sys, time
port = int(sys.argv[1]); delay = float(sys.argv[2])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("starting", flush=True)
time.sleep(delay)
if len(sys.argv) > 3:
    print(sys.argv[3], flush=True); time.sleep(600)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
socketserver.TCPServer(("127.0.0.1", port), H).serve_forever()
"""


def _server(tmp_path, delay=0.2, say=None, fatal=()):
    port = free_port()
    argv = [sys.executable, "-c", SERVER, str(port), str(delay)] + ([say] if say else [])
    return ServerProcess(argv, env={"PATH": "/usr/bin:/bin"}, log_path=tmp_path / "server.log", fatal=fatal), port


def test_healthy_server_then_whole_group_torn_down(tmp_path):
    srv, port = _server(tmp_path)
    with srv:
        srv.wait_healthy(f"http://127.0.0.1:{port}/health", deadline_s=20)
        pgid = srv.pgid
        time.sleep(0.3)
        assert len(group_members(pgid)) >= 2  # server + its child
    assert not group_alive(pgid)


def test_fatal_log_line_fails_fast_and_is_quoted(tmp_path):
    fatal = [FatalPattern(re.compile(r"CUDA out of memory"), "OOM")]
    srv, port = _server(
        tmp_path, delay=0.1, say="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", fatal=fatal
    )
    t = time.time()
    with srv, pytest.raises(LaunchError) as e:
        srv.wait_healthy(f"http://127.0.0.1:{port}/health", deadline_s=60)
    assert time.time() - t < 10
    assert "Tried to allocate 2.00 GiB" in str(e.value) and e.value.quote.startswith("OOM")
    assert not group_alive(srv.pgid)


def test_process_that_exits_is_reported_with_its_last_error(tmp_path):
    srv = ServerProcess(
        [sys.executable, "-c", "import sys; print('ValueError: bad model path /nope'); sys.exit(3)"],
        env={"PATH": "/usr/bin:/bin"},
        log_path=tmp_path / "s.log",
    )
    with srv, pytest.raises(LaunchError, match="exited with code 3") as e:
        srv.wait_healthy("http://127.0.0.1:1/health", deadline_s=30)
    assert "bad model path" in e.value.quote


def test_deadline(tmp_path):
    srv, port = _server(tmp_path, delay=60)
    with srv, pytest.raises(LaunchError, match="not healthy within"):
        srv.wait_healthy(f"http://127.0.0.1:{port}/health", deadline_s=1)


def test_teardown_on_exception(tmp_path):
    srv, port = _server(tmp_path)
    with pytest.raises(RuntimeError):
        with srv:
            pgid = srv.pgid
            raise RuntimeError("leg failed")
    assert not group_alive(pgid)


def test_sigterm_ignoring_child_is_killed(tmp_path):
    code = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    srv = ServerProcess([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin"}, log_path=tmp_path / "s.log")
    srv.start()
    time.sleep(0.3)
    t = time.time()
    srv.stop(grace_s=1.0)
    assert not group_alive(srv.pgid) and time.time() - t < 8


def test_ctrl_c_in_the_parent_tears_down_the_group(tmp_path):
    # a parent process running a leg gets SIGINT: the context manager must stop the server
    parent = f"""
import signal, sys, time
sys.path.insert(0, {str(tmp_path)!r})
# as in a terminal: a shell starts background jobs (e.g. a CI runner's) with SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
from geak.agents.engines.process import ServerProcess
srv = ServerProcess([sys.executable, "-c", "import time; time.sleep(600)"], env={{"PATH": "/usr/bin:/bin"}}, log_path={str(tmp_path / "p.log")!r})
with srv:
    print(srv.pgid, flush=True)
    time.sleep(600)
"""
    p = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    pgid = int(p.stdout.readline())
    assert group_alive(pgid)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and group_alive(pgid):
        time.sleep(0.1)
    assert not group_alive(pgid)


def test_port_in_use_detected():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        assert port_in_use(s.getsockname()[1])
    finally:
        s.close()
    assert not port_in_use(free_port())


def test_device_lock_excludes_a_second_leg(tmp_path):
    with DeviceLock("cuda:0,1", lock_dir=tmp_path):
        code = f"from geak.agents.engines.lock import DeviceLock; from pathlib import Path; DeviceLock('cuda:0,1', lock_dir=Path({str(tmp_path)!r})).acquire()"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode != 0 and "DeviceBusy" in r.stderr
    with DeviceLock("cuda:0,1", lock_dir=tmp_path):
        pass
    _ = DeviceBusy
