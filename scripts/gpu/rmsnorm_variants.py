"""RMSNorm kernel variants at one shape (default [4096, 4096] bf16), timed with the harness's clock
(timing.CudaClock: flush, lead sleep, events), as a ratio of the device-to-device copy measured
by the same clock (256 MiB, read + write) -- the template's bandwidth goal is >= 0.85. Also the
copy at the kernel's own traffic, for context: a short copy pays the same fixed costs.

Variants: the shipped template (autotuned); one [ROWS, BLOCK] tile per program at fixed
warps; a persistent grid (k programs per SM looping over rows, optionally software-pipelined
with tl.range(num_stages)); each with and without streaming cache hints.

    python scripts/gpu/rmsnorm_variants.py [--tokens 4096] [--hidden 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
import triton
import triton.language as tl
from geak.agents.kernels import specs
from geak.agents.kernels.loading import load_candidate
from geak.agents.kernels.stats import gbps, median
from geak.agents.kernels.templates import TEMPLATES
from geak.agents.kernels.timing import CudaClock


@triton.jit
def _tile(x_ptr, w_ptr, o_ptr, M, H, sx, so, eps, BLOCK: tl.constexpr, ROWS: tl.constexpr, STREAM: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK)
    mask = (rows[:, None] < M) & (cols[None, :] < H)
    if STREAM:
        x = tl.load(x_ptr + rows[:, None] * sx + cols[None, :], mask=mask, other=0.0, eviction_policy="evict_first")
    else:
        x = tl.load(x_ptr + rows[:, None] * sx + cols[None, :], mask=mask, other=0.0)
    xf = x.to(tl.float32)
    inv = tl.rsqrt(tl.sum(xf * xf, axis=1) / H + eps)
    w = tl.load(w_ptr + cols, mask=cols < H, other=0.0, eviction_policy="evict_last").to(tl.float32)
    y = (xf * inv[:, None] * w[None, :]).to(o_ptr.dtype.element_ty)
    if STREAM:
        tl.store(o_ptr + rows[:, None] * so + cols[None, :], y, mask=mask, cache_modifier=".cs")
    else:
        tl.store(o_ptr + rows[:, None] * so + cols[None, :], y, mask=mask)


@triton.jit
def _persistent(
    x_ptr,
    w_ptr,
    o_ptr,
    M,
    H,
    sx,
    so,
    eps,
    BLOCK: tl.constexpr,
    ROWS: tl.constexpr,
    STAGES: tl.constexpr,
    STREAM: tl.constexpr,
):
    cols = tl.arange(0, BLOCK)
    cm = cols < H
    w = tl.load(w_ptr + cols, mask=cm, other=0.0).to(tl.float32)  # once per program, not per row
    n_tiles = tl.cdiv(M, ROWS)
    for t in tl.range(tl.program_id(0), n_tiles, tl.num_programs(0), num_stages=STAGES):
        rows = t * ROWS + tl.arange(0, ROWS).to(tl.int64)
        mask = (rows[:, None] < M) & cm[None, :]
        if STREAM:
            x = tl.load(x_ptr + rows[:, None] * sx + cols[None, :], mask=mask, other=0.0, eviction_policy="evict_first")
        else:
            x = tl.load(x_ptr + rows[:, None] * sx + cols[None, :], mask=mask, other=0.0)
        xf = x.to(tl.float32)
        inv = tl.rsqrt(tl.sum(xf * xf, axis=1) / H + eps)
        y = (xf * inv[:, None] * w[None, :]).to(o_ptr.dtype.element_ty)
        if STREAM:
            tl.store(o_ptr + rows[:, None] * so + cols[None, :], y, mask=mask, cache_modifier=".cs")
        else:
            tl.store(o_ptr + rows[:, None] * so + cols[None, :], y, mask=mask)


def tile_fn(rows, warps, stream):
    def f(x, w, eps):
        m, h = x.shape
        o = torch.empty_like(x)
        _tile[(triton.cdiv(m, rows),)](
            x,
            w,
            o,
            m,
            h,
            x.stride(0),
            o.stride(0),
            eps,
            BLOCK=triton.next_power_of_2(h),
            ROWS=rows,
            STREAM=stream,
            num_warps=warps,
        )
        return o

    return f


def persistent_fn(per_sm, rows, warps, stages, stream):
    n_sm = torch.cuda.get_device_properties(0).multi_processor_count

    def f(x, w, eps):
        m, h = x.shape
        o = torch.empty_like(x)
        grid = (min(n_sm * per_sm, triton.cdiv(m, rows)),)
        _persistent[grid](
            x,
            w,
            o,
            m,
            h,
            x.stride(0),
            o.stride(0),
            eps,
            BLOCK=triton.next_power_of_2(h),
            ROWS=rows,
            STAGES=stages,
            STREAM=stream,
            num_warps=warps,
        )
        return o

    return f


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/geak_rms"))
    a = ap.parse_args()
    spec = specs.spec_for("rmsnorm", "llama-gpu")
    shape = [a.tokens, a.hidden]
    x, w, eps = specs.make_inputs(spec, shape, "bf16", "cuda", 4003)
    nb = specs.bytes_moved(spec, shape, "bf16")
    clock = CudaClock("cuda")
    copy = clock.copy_gbps(256 * 2**20)
    copy_own = clock.copy_gbps(nb // 2)
    ref, _ = load_candidate(TEMPLATES[("rmsnorm", "cuda")])
    want = ref(x, w, eps)
    variants = {"template (autotuned)": ref}
    for stream in (False, True):
        sfx = " stream" if stream else ""
        for rows, warps in ((1, 4), (1, 8), (1, 16), (1, 32), (2, 8), (2, 16), (4, 16), (4, 32)):
            variants[f"tile r{rows} w{warps}{sfx}"] = tile_fn(rows, warps, stream)
        for per_sm, rows, warps, stages in (
            (1, 1, 16, 1),
            (2, 1, 16, 1),
            (4, 1, 8, 1),
            (8, 1, 4, 1),
            (2, 1, 16, 2),
            (4, 1, 8, 2),
            (8, 1, 4, 2),
            (4, 1, 8, 3),
            (2, 2, 16, 2),
            (16, 1, 4, 2),
        ):
            variants[f"persist {per_sm}/SM r{rows} w{warps} s{stages}{sfx}"] = persistent_fn(
                per_sm, rows, warps, stages, stream
            )
    rows_out = []
    for name, f in variants.items():
        try:
            got = f(x, w, eps)
            torch.cuda.synchronize()
            err = (got.float() - want.float()).abs().max().item()
            call = (f, (x, w, eps))
            for _ in range(3):
                clock.interleaved({"c": call}, 1)
            clock.set_lead({"c": call})
            ms = median(clock.interleaved({"c": call}, a.reps)["c"])
            g = gbps(nb, ms)
            r = {"variant": name, "ms": ms, "gbps": g, "ratio": g / copy, "max_abs_diff_vs_template": err}
        except Exception as e:  # a config that does not compile (registers, shared memory) is a result too
            r = {"variant": name, "error": f"{type(e).__name__}: {str(e)[:200]}"}
        rows_out.append(r)
        print(json.dumps(r), flush=True)
    print(
        f"\nrmsnorm {shape} bf16, {nb} bytes/call; copy 256 MiB {copy:.0f} GB/s; copy of {nb // 2} B {copy_own:.0f} GB/s "
        f"(ratio at own size {copy_own / copy:.3f})"
    )
    for r in sorted((r for r in rows_out if "ms" in r), key=lambda r: r["ms"]):
        print(
            f"{r['variant']:<36} {r['ms'] * 1e3:8.2f} us  {r['gbps']:6.0f} GB/s  {r['ratio']:.3f}  diff {r['max_abs_diff_vs_template']:.3g}"
        )
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "rmsnorm_variants.json").write_text(
        json.dumps({"copy_gbps": copy, "copy_own_gbps": copy_own, "rows": rows_out}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
