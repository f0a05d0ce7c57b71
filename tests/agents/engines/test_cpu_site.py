"""The CPU engine start-up hook: every process of a vLLM-on-CPU leg asks for AMX tile state
(vLLM's eager CPU attention dies of SIGILL on AMX hosts otherwise; see cpu_site/sitecustomize.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.vllm import CPU_SITE, VllmAdapter

PROBE = (
    "import ctypes, sys; v = ctypes.c_ulong(0); "
    "ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(v)); print(bool(v.value & (1 << 18)), 'sitecustomize' in sys.modules)"
)


def test_cpu_legs_put_the_hook_first_and_keep_a_plugin_path():
    ad = VllmAdapter()
    env = ad.server_env(LaunchConfig(model="m", env={"PYTHONPATH": "/plugins/geak_rmsnorm"}))
    assert env["PYTHONPATH"].split(os.pathsep) == [str(CPU_SITE), "/plugins/geak_rmsnorm"]
    assert "PYTHONPATH" not in ad.server_env(LaunchConfig(model="m", devices="0"))


def amx_host() -> bool:
    try:
        return "amx_tile" in open("/proc/cpuinfo").read()
    except OSError:
        return False


@pytest.mark.skipif(
    not (sys.platform == "linux" and os.uname().machine == "x86_64" and amx_host()),
    reason="needs an x86_64 CPU with AMX",
)
def test_a_process_started_with_the_hook_holds_amx_permission_and_one_without_does_not():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    without = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    with_ = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(CPU_SITE)},
        check=True,
    ).stdout.split()
    assert without[0] == "False" and with_ == ["True", "True"]
