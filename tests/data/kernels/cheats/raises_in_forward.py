"""A candidate that raises inside forward (an unsupported shape, a bad launch). Integrated into
vLLM it must crash the server or the request, and geak must record it (leg failed / probe
ejected) within its timeouts, never hang: tests/agents/kernels/test_integrate.py."""


def rmsnorm(x, weight, eps):
    raise RuntimeError("geak planted crash: candidate rmsnorm raised inside forward")
