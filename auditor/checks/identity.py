"""What a leg served and with what: its model and its engine, from the tool's own rows first.

A comparison of two models, or of two engines, is not a config change whatever the decision
declares about knobs; the rows say which: vLLM's and SGLang's clients write the model they asked
(``model_id``) and the serving backend they spoke to (``backend``: vllm, sglang, tgi, ...; an
OpenAI-compatible backend names no engine). Where the rows are silent, the engine's server info
(SGLang's ``model_path`` in its rows, vLLM's ``/server_info``), then launch.json, which geak wrote.
Used by P4.
"""

from __future__ import annotations

from typing import Any

from ..evidence.loader import LegData
from ..evidence.models import EvidencePointer
from ..evidence.layout import LAUNCH

ENGINES = {
    "vllm": "vllm",
    "sglang": "sglang",
    "sglang-oai": "sglang",
    "tgi": "tgi",
    "lmdeploy": "lmdeploy",
    "trt": "tensorrt-llm",
    "tensorrt-llm": "tensorrt-llm",
    "scalellm": "scalellm",
    "deepspeed-mii": "deepspeed-mii",
}
_MODEL_KEYS = ("model_config.model", "model_path", "model")


def _rows(leg: LegData) -> list[Any]:
    return [r.raw for r in leg.counted if r.raw is not None]


Said = tuple[str, EvidencePointer]  # a value, and where it is written


def leg_model(leg: LegData) -> Said | None:
    """The model the leg served, and where that is said."""
    for rr in _rows(leg):
        m = rr.workload.get("model_id")
        if isinstance(m, str) and m.strip():
            return m.strip(), EvidencePointer(file=rr.file, field="model_id")
        if rr.server_info and isinstance(rr.server_info.get("model_path"), str):
            return rr.server_info["model_path"], EvidencePointer(file=rr.file, field="server_info.model_path")
    cfg, src = leg.resolved()
    for k in _MODEL_KEYS:
        if cfg and isinstance(cfg.get(k), str):
            return cfg[k], EvidencePointer(file=src, field=k)
    return None


def leg_engine(leg: LegData) -> Said | None:
    """The serving engine, and where that is said."""
    for rr in _rows(leg):
        b = rr.workload.get("backend")
        if isinstance(b, str) and b.strip().lower() in ENGINES:
            return ENGINES[b.strip().lower()], EvidencePointer(file=rr.file, field="backend")
    if leg.launch is not None and leg.launch.engine and leg.launch.engine != "unknown":
        return leg.launch.engine, EvidencePointer(file=f"{leg.dir}/{LAUNCH}", field="engine")
    return None


def _same_model(a: str, b: str) -> bool:
    # a path and a hub id of one model (/models/Qwen3-8B vs Qwen/Qwen3-8B) are one model
    return a == b or a.rstrip("/").rsplit("/", 1)[-1].lower() == b.rstrip("/").rsplit("/", 1)[-1].lower()


def changed(ref: LegData, cand: LegData) -> list[tuple[str, Said, Said]]:
    """(what, the reference's, the candidate's) for a model or an engine that differs between the two legs."""
    out = []
    for what, fn, same in (("model", leg_model, _same_model), ("engine", leg_engine, lambda a, b: a == b)):
        sa, sb = fn(ref), fn(cand)
        if sa is not None and sb is not None and not same(sa[0], sb[0]):
            out.append((what, sa, sb))
    return out
