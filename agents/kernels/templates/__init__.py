"""Template candidates for the none policy: ``cpu`` (plain torch) and ``triton_ops`` (GPU).

A candidate is named ``module:function``; ``TEMPLATES[(op, device)]`` gives the name.
"""

CPU = "geak.agents.kernels.templates.cpu"
TRITON = "geak.agents.kernels.templates.triton_ops"
OPS = ("rmsnorm", "fused_add_rmsnorm", "silu_and_mul", "rotary")

FUSED = "geak.agents.kernels.templates.rope_kvcache"

TEMPLATES: dict[tuple[str, str], str] = {
    **{(op, "cpu"): f"{CPU}:{op}" for op in OPS},
    **{(op, "cuda"): f"{TRITON}:{op}" for op in OPS},
    # rotary fused with the KV-cache write (agents/kernels/spec_rope_kvcache.py): its own module,
    # so the four ops' template files (candidates named by their sha256) keep their bytes
    ("rope_kvcache", "cpu"): f"{FUSED}:rope_kvcache_torch",
    ("rope_kvcache", "cuda"): f"{FUSED}:rope_kvcache",
}
