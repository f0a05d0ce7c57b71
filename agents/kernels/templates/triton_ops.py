"""GPU candidates: Triton kernels for the four served ops. One file, so it packages as a plugin
candidate (integrate.package_plugin copies the candidate's file alone: a sibling it imported
would be missing in the server, as a silu_and_mul candidate's was on an H100, 2026-12-07).

All arithmetic is float32 with one rounding to the output dtype at the store. The norms keep
whole rows in registers (hidden <= 16384; a tile of 1-4 rows per program, autotuned), so x is
read once: 2 bytes in + 2 bytes out per element, the copy floor. Wider rows take a two-pass loop.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

MAX_ROW_BLOCK = 16384  # above this a row no longer fits in registers at 16 warps


def _warps(block: int) -> int:
    # ~8-16 elements per thread keeps loads 16 bytes wide without spilling.
    return max(1, min(16, block // 512))


@triton.jit
def _rmsnorm_rows(x_ptr, r_ptr, w_ptr, out_ptr, rout_ptr, M, H, sx, sr, so, sro, eps,
                  HAS_RES: tl.constexpr, BLOCK: tl.constexpr, ROWS: tl.constexpr):
    # a [ROWS, BLOCK] tile per program: more bytes in flight per CTA than one short row
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK)
    mask = (rows[:, None] < M) & (cols[None, :] < H)
    x = tl.load(x_ptr + rows[:, None] * sx + cols[None, :], mask=mask, other=0.0)
    if HAS_RES:
        r = tl.load(r_ptr + rows[:, None] * sr + cols[None, :], mask=mask, other=0.0)
        s = (x.to(tl.float32) + r.to(tl.float32)).to(rout_ptr.dtype.element_ty)  # the stored residual stream
        tl.store(rout_ptr + rows[:, None] * sro + cols[None, :], s, mask=mask)
        xf = s.to(tl.float32)
    else:
        xf = x.to(tl.float32)
    ms = tl.sum(xf * xf, axis=1) / H
    inv = 1.0 / tl.sqrt(ms + eps)
    w = tl.load(w_ptr + cols, mask=cols < H, other=0.0).to(tl.float32)
    tl.store(out_ptr + rows[:, None] * so + cols[None, :], (xf * inv[:, None] * w[None, :]).to(out_ptr.dtype.element_ty), mask=mask)


# Autotuned over tile height and warps per (H, M) at first use (warm-up, never timed). The
# interpreter (TRITON_INTERPRET=1, used to test on CPU) cannot time configs: fixed config there.
_ROW_CONFIGS = [triton.Config({"ROWS": r}, num_warps=w) for r, w in ((1, 4), (1, 8), (1, 16), (2, 8), (2, 16), (4, 16))]
if os.environ.get("TRITON_INTERPRET") != "1":
    _rmsnorm_rows_tuned = triton.autotune(_ROW_CONFIGS, key=["H", "M", "HAS_RES"])(_rmsnorm_rows)
else:
    _rmsnorm_rows_tuned = None


@triton.jit
def _rmsnorm_loop(x_ptr, r_ptr, w_ptr, out_ptr, rout_ptr, H, sx, sr, so, sro, eps,
                  HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, H, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < H
        x = tl.load(x_ptr + row * sx + cols, mask=mask, other=0.0)
        if HAS_RES:
            r = tl.load(r_ptr + row * sr + cols, mask=mask, other=0.0)
            s = (x.to(tl.float32) + r.to(tl.float32)).to(rout_ptr.dtype.element_ty)
            tl.store(rout_ptr + row * sro + cols, s, mask=mask)
            xf = s.to(tl.float32)
        else:
            xf = x.to(tl.float32)
        acc += xf * xf
    inv = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / H + eps)
    for start in range(0, H, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < H
        if HAS_RES:
            # recompute the sum rather than re-read rout: another thread of this program wrote it
            x = tl.load(x_ptr + row * sx + cols, mask=mask, other=0.0)
            r = tl.load(r_ptr + row * sr + cols, mask=mask, other=0.0)
            xf = (x.to(tl.float32) + r.to(tl.float32)).to(rout_ptr.dtype.element_ty).to(tl.float32)
        else:
            xf = tl.load(x_ptr + row * sx + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(out_ptr + row * so + cols, (xf * inv * w).to(out_ptr.dtype.element_ty), mask=mask)


def _check_rows(*ts: torch.Tensor) -> None:
    for t in ts:
        if t.dim() != 2 or t.stride(-1) != 1:
            raise ValueError(f"expected 2-D tensors with a contiguous last dim, got shape {tuple(t.shape)} stride {t.stride()}")


def _norm(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    _check_rows(x, *( [residual] if residual is not None else []))
    m, h = x.shape
    out = torch.empty_like(x)
    rout = torch.empty_like(x) if residual is not None else out
    r = residual if residual is not None else x
    if m == 0:
        return out, (rout if residual is not None else None)
    block = triton.next_power_of_2(h)
    strides = (x.stride(0), r.stride(0), out.stride(0), rout.stride(0))
    has_res = residual is not None
    if block > MAX_ROW_BLOCK:
        _rmsnorm_loop[(m,)](x, r, weight, out, rout, h, *strides, float(eps), HAS_RES=has_res, BLOCK=4096, num_warps=16)
    elif _rmsnorm_rows_tuned is not None:
        _rmsnorm_rows_tuned[lambda meta: (triton.cdiv(m, meta["ROWS"]),)](x, r, weight, out, rout, m, h, *strides, float(eps),
                                                                          HAS_RES=has_res, BLOCK=block)
    else:
        rows = 2
        _rmsnorm_rows[(triton.cdiv(m, rows),)](x, r, weight, out, rout, m, h, *strides, float(eps), HAS_RES=has_res, BLOCK=block,
                                               ROWS=rows, num_warps=_warps(block))
    return out, (rout if residual is not None else None)


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return _norm(x, None, weight, eps)[0]


def fused_add_rmsnorm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    out, rout = _norm(x, residual, weight, eps)
    assert rout is not None
    return out, rout


@triton.jit
def _silu_mul(x_ptr, out_ptr, M, D, sx, so, BLOCK: tl.constexpr):  # M: only an autotune key
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < D
    a = tl.load(x_ptr + row * sx + cols, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(x_ptr + row * sx + D + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * so + cols, (a * tl.sigmoid(a) * b).to(out_ptr.dtype.element_ty), mask=mask)


_SILU_CONFIGS = [triton.Config({"BLOCK": b}, num_warps=w) for b, w in ((1024, 4), (2048, 4), (2048, 8), (4096, 8), (4096, 16))]
if os.environ.get("TRITON_INTERPRET") != "1":
    _silu_mul_tuned = triton.autotune(_SILU_CONFIGS, key=["D", "M"])(_silu_mul)
else:
    _silu_mul_tuned = None


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    _check_rows(x)
    m, d2 = x.shape
    if d2 % 2:
        raise ValueError(f"last dim {d2} is odd")
    d = d2 // 2
    out = torch.empty((m, d), dtype=x.dtype, device=x.device)
    if m == 0 or d == 0:
        return out
    if _silu_mul_tuned is not None:
        _silu_mul_tuned[lambda meta: (m, triton.cdiv(d, meta["BLOCK"]))](x, out, m, d, x.stride(0), out.stride(0))
    else:
        block = min(2048, triton.next_power_of_2(d))
        _silu_mul[(m, triton.cdiv(d, block))](x, out, m, d, x.stride(0), out.stride(0), BLOCK=block, num_warps=4)
    return out


@triton.jit
def _rope_heads(x_ptr, o_ptr, t, sx, NH, cos, sin, d, dm, HALF: tl.constexpr, HS: tl.constexpr, BLOCK_H: tl.constexpr):
    h = tl.arange(0, BLOCK_H)
    m = (h[:, None] < NH) & dm[None, :]
    src = x_ptr + t * sx + h[:, None] * HS + d[None, :]
    dst = o_ptr + t * (NH * HS) + h[:, None] * HS + d[None, :]
    x1 = tl.load(src, mask=m, other=0.0).to(tl.float32)
    x2 = tl.load(src + HALF, mask=m, other=0.0).to(tl.float32)
    c, s = cos[None, :], sin[None, :]
    tl.store(dst, (x1 * c - x2 * s).to(o_ptr.dtype.element_ty), mask=m)
    tl.store(dst + HALF, (x2 * c + x1 * s).to(o_ptr.dtype.element_ty), mask=m)


@triton.jit
def _rotary(pos_ptr, q_ptr, k_ptr, c_ptr, qo_ptr, ko_ptr, NQ, NKV, sq, sk, sc,
            HALF: tl.constexpr, HS: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + t).to(tl.int64)
    d = tl.arange(0, BLOCK_D)
    dm = d < HALF
    cos = tl.load(c_ptr + pos * sc + d, mask=dm, other=0.0).to(tl.float32)
    sin = tl.load(c_ptr + pos * sc + HALF + d, mask=dm, other=0.0).to(tl.float32)
    _rope_heads(q_ptr, qo_ptr, t, sq, NQ, cos, sin, d, dm, HALF, HS, BLOCK_HQ)
    _rope_heads(k_ptr, ko_ptr, t, sk, NKV, cos, sin, d, dm, HALF, HS, BLOCK_HK)


def rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cache: torch.Tensor, head_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    _check_rows(q, k, cache)
    t = q.shape[0]
    if head_size % 2 or q.shape[1] % head_size or k.shape[1] % head_size:
        raise ValueError("head_size must be even and divide the q/k widths")
    nq, nkv = q.shape[1] // head_size, k.shape[1] // head_size
    qo, ko = torch.empty_like(q), torch.empty_like(k)
    if t == 0:
        return qo, ko
    half = head_size // 2
    bd, bq, bk = triton.next_power_of_2(half), triton.next_power_of_2(nq), triton.next_power_of_2(nkv)
    _rotary[(t,)](positions, q, k, cache, qo, ko, nq, nkv, q.stride(0), k.stride(0), cache.stride(0),
                  HALF=half, HS=head_size, BLOCK_D=bd, BLOCK_HQ=bq, BLOCK_HK=bk, num_warps=4)
    return qo, ko
