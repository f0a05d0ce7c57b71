"""A pynvml stand-in: what NVML answers on a box with n GPUs (tests have no GPU)."""

import types


def fake_nvml(n: int, procs: dict[int, list[int]]):
    """A pynvml module with ``n`` H200s; ``procs``: GPU index -> pids running on it."""
    m = types.ModuleType("pynvml")
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU = 1, 2, 0
    m.nvmlInit = m.nvmlShutdown = lambda: None
    m.nvmlDeviceGetCount = lambda: n
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: [types.SimpleNamespace(pid=p) for p in procs.get(h, [])]
    m.nvmlDeviceGetName = lambda h: "NVIDIA H200"
    m.nvmlSystemGetDriverVersion = lambda: "580.95"
    m.nvmlDeviceGetClockInfo = lambda h, k: 1980.0 if k == 1 else 3201.0
    m.nvmlDeviceGetTemperature = lambda h, k: 41.0 + h
    return m
