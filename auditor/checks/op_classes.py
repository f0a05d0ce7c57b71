"""Which class of op a profiler event's time belongs to: one classifier for the profile gate
(R1-R3), the profiler role's breakdown and the routing.

Families (the routing's names; the op harness's specs use the first three): rmsnorm (norm),
silu_and_mul (activation), rotary, attention, moe, communication, gemm, sampling, memcpy,
compiled_region (a torch.compile region's own CPU time), and other: elementwise ops and glue
no named op owns (aten::mul/add/cat..., which in an eager model are often a norm's or a
rotary's pieces: the profiler cannot tell, and neither can this).

A name is an aten op, a CPU-side annotation, or a GPU kernel. GPU kernel names say what they
are when they come from a library (cuBLAS/cuBLASLt incl. its nvjet kernels, CUTLASS, cuDNN,
FlashAttention, FlashInfer, NCCL) or from Inductor, whose Triton kernels list the ops they
fuse (triton_poi_fused_add_mean_mul_pow_rsqrt_0). ATen's own kernels are generic templates
(elementwise_kernel<...>, reduce_kernel<...>, CatArrayBatchedCopy): their time belongs to the
op that launched them (device_name() does that), as the profiler's key_averages has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# the trace categories of device time (a kernel, a copy, a memset on the GPU)
DEVICE_CATS = ("kernel", "gpu_memcpy", "gpu_memset")

# Order matters: first match wins.
FAMILIES: list[tuple[str, re.Pattern[str]]] = [
    # a torch.compile region's own time on CPU: inductor's fused C++ kernels (norms,
    # activations, rotary, residual adds) run inside it with no profiler event of their own
    ("compiled_region", re.compile(r"CompiledFxGraph|Torch-Compiled Region|CompiledFunction", re.I)),
    ("rmsnorm", re.compile(r"rms_?norm|layernorm|layer_norm", re.I)),
    ("silu_and_mul", re.compile(r"silu|act_and_mul|gelu|swiglu", re.I)),
    ("rotary", re.compile(r"rotary|rope", re.I)),
    # writing the KV cache belongs to attention (GPU reshape_and_cache_flash matched "flash" already)
    ("attention", re.compile(r"attn|attention|flash|fmha|sdpa|paged|kv_cache|reshape_and_cache|flashinfer", re.I)),
    ("moe", re.compile(r"moe|fused_experts|topk_", re.I)),
    ("communication", re.compile(r"nccl|all_?reduce|all_?gather|reduce_scatter|rccl|cross_device", re.I)),
    # onednn/mkldnn: vLLM-on-CPU's linear layers run as _C::onednn_mm ("\bmm" misses "_mm");
    # nvjet_*: cuBLASLt's own Hopper kernels (what aten::mm runs on an H100/H200)
    (
        "gemm",
        re.compile(
            r"gemm|matmul|\bmm\b|_mm\b|aten::mm|addmm|cutlass|cublas|nvjet|xmma|linear|sgemm|bmm|onednn|mkldnn|dnnl",
            re.I,
        ),
    ),
    ("sampling", re.compile(r"sampl|softmax|argmax|top_?p|top_?k", re.I)),
    ("memcpy", re.compile(r"memcpy|memset|copy_", re.I)),
]

_TRITON = re.compile(r"^triton_(poi|red|per|tem)_fused_?(.*?)(_\d+)?$")
# ops Inductor names in a fused kernel that only move or reshape data
_MOVES = {
    "",
    "view",
    "unsafe",
    "cat",
    "transpose",
    "clone",
    "to",
    "copy",
    "slice",
    "unsqueeze",
    "squeeze",
    "expand",
    "permute",
    "select",
    "index",
    "reshape",
    "t",
    "contiguous",
    "split",
    "alias",
    "lift",
    "fresh",
    "inputs",
}


def _triton_family(kind: str, ops: str) -> str:
    """An Inductor kernel by the ops it fuses (priority: what the kernel is for)."""
    words = set(ops.lower().split("_"))
    if kind == "tem" and words & {"mm", "bmm", "addmm"}:
        return "gemm"
    if words & {"cos", "sin"}:
        return "rotary"
    # vLLM 0.26's IR ops reach Inductor as named ops: triton_red_fused_fused_add_rms_norm_2
    if "rsqrt" in words or {"mean", "pow"} <= words or "var" in words or {"rms", "norm"} <= words:
        return "rmsnorm"
    if words & {"silu", "gelu", "sigmoid", "tanh"} and "mul" in words:
        return "silu_and_mul"
    if words & {"attention", "sdpa", "flash"}:
        return "attention"
    if words & {"argmax", "softmax", "topk"}:
        return "sampling"
    return "memcpy" if words <= _MOVES else "other"


# ops that fuse across a boundary: besides their own family's time they replace named kernels of
# another family (rope_kvcache replaces the KV-cache write, booked under attention), which their
# share of time must include, or an Amdahl bound (P8) would understate what they can move
FUSED_ALSO: dict[str, re.Pattern[str]] = {
    "rope_kvcache": re.compile(r"reshape_and_cache|kv_cache_update", re.I),
}


def op_share(times_us: dict[str, float], op: str) -> float | None:
    """The share of op time an op (by its spec name) holds: its family's, plus the kernels a
    fused op replaces in another family; None for a trace with no op time."""
    total = sum(times_us.values())
    if not total:
        return None
    fam, also = op_family(op), FUSED_ALSO.get(op)
    mine = sum(t for n, t in times_us.items() if op_family(n) == fam or (also is not None and also.search(n)))
    return mine / total


def op_family(name: str) -> str:
    # a trace names a few thousand kernels and ops over hundreds of thousands of events, and every
    # aggregation asks each event's family: the answer depends on the name alone. The cache is
    # bounded, and a name longer than any real kernel's (hostile) is classed without it
    return _op_family_cached(name) if len(name) <= 1024 else _op_family(name)


@lru_cache(maxsize=1 << 16)
def _op_family_cached(name: str) -> str:
    return _op_family(name)


def _op_family(name: str) -> str:
    a = _AS.search(name)
    if a:
        return a.group(1)
    m = _TRITON.match(name.strip())
    if m:
        return _triton_family(m.group(1), m.group(2))
    for fam, pat in FAMILIES:
        if pat.search(name):
            return fam
    return "other"


def compiled_region(name: str) -> bool:
    return op_family(name) == "compiled_region"


# ATen's generic kernel templates: the name says how, not what (the launching op says what)
_GENERIC = re.compile(
    r"^void (at::native::|\(anonymous namespace\)::|at::)|elementwise_kernel|reduce_kernel|CatArrayBatchedCopy|"
    r"^void (cutlass::|cub::)?(Device|Reduce)|index_elementwise|vectorized_gather",
    re.I,
)


def generic_kernel(name: str) -> bool:
    return bool(_GENERIC.search(name)) and op_family(name) in ("other", "memcpy", "sampling")


@dataclass(frozen=True)
class Launches:
    """What a trace's CPU side says about its kernels: the op that launched each (by External
    id), and the Inductor kernels whose names say nothing but whose launches' recorded shapes do."""

    by_id: dict[Any, str] = field(default_factory=dict)
    inferred: dict[str, str] = field(default_factory=dict)
    shapes: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # External id -> (Input Dims, Input type)

    def get(self, ext: Any, default: str) -> str:
        return self.by_id.get(ext, default) if isinstance(ext, (int, str)) else default

    def shape_of(self, kernel: dict[str, Any]) -> tuple[Any, Any]:
        """The (Input Dims, Input type) its launch recorded; (None, None) for a CUDA-graph replay."""
        args = kernel.get("args")
        ext = args.get("External id") if isinstance(args, dict) else None
        return self.shapes.get(ext, (None, None)) if isinstance(ext, (int, str)) else (None, None)


def _kind(t: Any) -> str:
    t = str(t).lower()
    if any(k in t for k in ("float", "half", "double")):
        return "float"
    return "int" if "int" in t or "long" in t else ""


def rotary_signature(dims: Any, types: Any) -> bool:
    """The rotary's shape signature in a launch's recorded inputs: integer positions [T], a
    floating table [P, D] (cos and sin halves, D even) and per-head vectors [T, H, D] of the
    same T and D. An embedding gather ([T] ids, [V, hidden] table) has no [T, H, D] beside it."""
    if not isinstance(dims, list) or not isinstance(types, list):
        return False
    ts = [(d, _kind(t)) for d, t in zip(dims, types) if isinstance(d, list) and all(isinstance(x, int) for x in d)]
    pos = [d[0] for d, k in ts if k == "int" and len(d) == 1]
    width = [d[1] for d, k in ts if k == "float" and len(d) == 2 and d[1] > 0 and d[1] % 2 == 0]
    heads = [(d[0], d[2]) for d, k in ts if k == "float" and len(d) == 3]
    return any((t, w) in heads for t in pos for w in width)


def _unnamed(name: str) -> bool:
    """An Inductor kernel whose name does not say what it computes (triton_poi_fused_3)."""
    return bool(_TRITON.match(name.strip())) and op_family(name) in ("other", "memcpy")


def launch_ops(events: list[dict[str, Any]]) -> Launches:
    """External id -> the name of the CPU op that carries it (torch.profiler gives a kernel the
    External id of the innermost op that launched it); and, per unnamed Inductor kernel, the
    family its launches' recorded shapes show, when every launch of that name shows the same
    one (a name Inductor reused across compiled graphs for different ops stays unattributed).
    Kernels replayed from a CUDA graph carry no launch of their own: they follow their name."""
    by_id: dict[Any, str] = {}
    shapes: dict[Any, tuple[Any, Any]] = {}
    seen: dict[str, set[bool]] = {}
    for e in events:
        if str(e.get("cat", "")).lower() == "cpu_op" and isinstance(e.get("args"), dict):
            args = e["args"]
            x = args.get("External id")
            if isinstance(x, (int, str)):  # a hostile trace's list or dict id is no id
                by_id[x] = str(e.get("name"))
                shapes[x] = (args.get("Input Dims"), args.get("Input type"))
            name = str(e.get("name"))
            if _unnamed(name):
                seen.setdefault(name, set()).add(rotary_signature(args.get("Input Dims"), args.get("Input type")))
    return Launches(by_id, {n: "rotary" for n, v in seen.items() if v == {True}}, shapes)


# a kernel booked by its launch's shapes: the name keeps the kernel's own and says why
_AS = re.compile(r" \[as (rotary): by its launch shapes\]$")


def device_name(kernel: dict[str, Any], launchers: Launches) -> str:
    """The name a device event's time is booked under: the kernel's own when it says what it
    is, else the op that launched it (a generic ATen kernel), else the kernel's; an unnamed
    Inductor kernel whose launches show a family is booked as that family, saying so."""
    name = str(kernel.get("name"))
    fam = launchers.inferred.get(name)
    if fam is not None:
        return f"{name} [as {fam}: by its launch shapes]"
    if not generic_kernel(name):
        return name
    args = kernel.get("args")
    ext = args.get("External id") if isinstance(args, dict) else None
    return launchers.get(ext, name)
