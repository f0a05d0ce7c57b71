"""Which devices a leg's engine ran on, from the engine's own bytes (issue 18; on a GPU, issue 33).

A paired design rests on where each leg ran: a crossover on two disjoint sets that swap, an
A B B A on one set throughout. The set is never taken from launch.json (geak's claim):

- vLLM on CPU prints the cores it bound its OpenMP threads to (``local_rank=0, core ids=[1]``;
  engine_log.omp_core_ids): the set is those core ids (ints).
- vLLM on a GPU prints no device id, but its ``/server_info`` answer (kept verbatim as
  legs/<leg>/server_info.json) carries collect_env's ``system_env``: ``env_vars``, the
  environment the engine process saw, where ``CUDA_VISIBLE_DEVICES`` names the cards it may
  use, and ``nvidia_gpu_models``, the cards nvidia-smi listed on the host. The set is the
  visible cards (``cuda:<id>`` strings); with no CUDA_VISIBLE_DEVICES, a host that lists
  exactly one card ran on that card; otherwise the set cannot be shown (None).

Everything here is total: odd bytes give None, never an exception.
"""

from __future__ import annotations

import re
from typing import Any

from .engine_log import omp_core_ids

DeviceSet = frozenset[int | str]  # core ids (CPU), or "cuda:<id>" (GPU)
_GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)
# what CUDA_VISIBLE_DEVICES may name: an index, or a GPU / MIG UUID; anything else (a producer's
# text) shows no set, so no odd value reaches a message or a set comparison
_CARD_ID = re.compile(r"[0-9]{1,3}|(?:GPU|MIG)-[0-9A-Za-z/-]{1,80}")
MAX_ENV_CHARS = 200_000
MAX_CARDS = 64


def gpu_set(info: Any) -> DeviceSet | None:
    """The cards a vLLM engine could use, from its /server_info answer; None when not shown."""
    env = info.get("system_env") if isinstance(info, dict) else None
    if not isinstance(env, dict):
        return None
    text = env.get("env_vars")
    seen: set[str] = set()
    if isinstance(text, str):
        for line in text[:MAX_ENV_CHARS].splitlines():
            k, sep, v = line.partition("=")
            if sep and k.strip() == "CUDA_VISIBLE_DEVICES":
                seen.add(v.strip())
    if len(seen) > 1:
        return None  # two values for one variable: which one the engine used cannot be shown
    if seen:
        ids = [x.strip() for x in seen.pop().split(",") if x.strip()]
        if not ids or len(ids) > MAX_CARDS or not all(_CARD_ID.fullmatch(x) for x in ids):
            return None
        return frozenset(f"cuda:{x}" for x in ids)
    models = env.get("nvidia_gpu_models")
    cards = _GPU_LINE.findall(models) if isinstance(models, str) else []
    return frozenset({f"cuda:{cards[0]}"}) if len(cards) == 1 else None


def device_set(server_log: str | None, engine_gpus: DeviceSet | None) -> DeviceSet | None:
    """A leg's device set: the cores its engine's log says it bound, else the cards its
    /server_info answer shows; None when neither shows one."""
    got = omp_core_ids(server_log)
    if got and got[0]:
        return frozenset(got[0])
    return engine_gpus


def describe(s: DeviceSet) -> str:
    """'cores [0, 1]' or 'GPUs [cuda:0]': sorted within a kind (a set holds one kind)."""
    ints = sorted(x for x in s if isinstance(x, int))
    strs = sorted(str(x) for x in s if not isinstance(x, int))
    return (
        " and ".join(([f"cores {ints}"] if ints else []) + ([f"GPUs [{', '.join(strs)}]"] if strs else []))
        or "no device"
    )
