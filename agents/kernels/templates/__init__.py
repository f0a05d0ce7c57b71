"""Template candidates for the none policy: ``cpu`` (plain torch) and ``triton_ops`` (GPU).

A candidate is named ``module:function``; ``TEMPLATES[(op, device)]`` gives the name.
"""

CPU = "geak.agents.kernels.templates.cpu"
TRITON = "geak.agents.kernels.templates.triton_ops"
OPS = ("rmsnorm", "fused_add_rmsnorm", "silu_and_mul", "rotary")

TEMPLATES: dict[tuple[str, str], str] = {
    **{(op, "cpu"): f"{CPU}:{op}" for op in OPS},
    **{(op, "cuda"): f"{TRITON}:{op}" for op in OPS},
}
