"""Start-up hook of every Python process of a CPU engine geak launches (PYTHONPATH).

Linux hands out AMX tile state per process, on request (arch_prctl ARCH_REQ_XCOMP_PERM), and
execve() drops it. vLLM's CPU attention uses AMX on CPUs that have it but never asks: under
torch.compile, Inductor's ISA probe asks for it (torch.cpu._init_amx) before the first forward;
with --enforce-eager nothing does, and the first request kills the worker with SIGILL
("Illegal instruction" in cpu_attention_with_kv_cache). vLLM spawns its workers (exec), so the
request has to happen in each process: Python imports sitecustomize in every one of them.
Asking changes no number; on a CPU without AMX the kernel refuses and nothing changes.
"""

import sys


def _request_amx() -> None:
    import platform

    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return
    import ctypes

    SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 158, 0x1023, 18
    try:
        ctypes.CDLL(None, use_errno=True).syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
    except (OSError, AttributeError):
        pass


def _chain() -> None:
    # this module shadows any other sitecustomize on the path: run that one as well
    import importlib.machinery
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None and spec.origin != os.path.abspath(__file__):
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)


_request_amx()
_chain()
