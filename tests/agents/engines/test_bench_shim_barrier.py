"""The bench shim's meeting point (vllm.py BENCH_SHIM's _meet) in two real processes: the
clients of a pair wait for each other before a repetition, and a partner's abort ends it (exit 3)."""

from __future__ import annotations

import subprocess
import sys
import time

from geak.agents.engines.vllm import BENCH_SHIM


def _snippet(folder, rep: int) -> str:
    i, j = BENCH_SHIM.index("def _meet(k):"), BENCH_SHIM.index("p = FlexibleArgumentParser()")
    return (
        f"import os, sys\nbarrier = {str(folder) + ':2'!r}\n"
        + BENCH_SHIM[i:j]
        + f"_meet({rep}); print('met', flush=True)\n"
    )


def test_the_first_client_waits_for_its_partner(tmp_path):
    t = time.monotonic()
    a = subprocess.Popen([sys.executable, "-c", _snippet(tmp_path, 0)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert a.poll() is None  # still waiting: the partner has not arrived
    b = subprocess.Popen([sys.executable, "-c", _snippet(tmp_path, 0)], stdout=subprocess.PIPE, text=True)
    assert a.communicate(timeout=30)[0].strip() == b.communicate(timeout=30)[0].strip() == "met"
    assert time.monotonic() - t >= 1.0


def test_a_failed_partner_ends_the_wait_with_exit_3(tmp_path):
    (tmp_path / "abort").touch()
    r = subprocess.run([sys.executable, "-c", _snippet(tmp_path, 1)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "partner leg failed" in r.stdout
