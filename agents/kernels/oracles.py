"""Author-independent oracles: each op's spec evaluated with Python's math module, element by
element, on boundary cases a candidate's own test tends to miss.

Independent of the candidate and of specs.py's torch references: expected values are computed
from the inputs' actual (dtype-rounded) values with math.fsum / math.sqrt / math.exp in double
precision, so a bug shared by a candidate and a torch-vectorised reference cannot pass here.
Boundary cases (cf. the symbolic-oracle seed): one row, odd row counts, hidden sizes that are
not powers of two or that cross a block (H+1, a row wider than one register block), single
elements, zeros, eps-dominated rows, large magnitudes; for rotary, positions 0 and P-1,
positions straddling a 16-token block boundary, ragged/repeated/descending positions and
positions that are not the token index; cache rows no token uses are NaN, so a kernel that
reads the wrong row cannot pass.

A case passes when the output has the spec's shape and dtype, is finite, and its relative
error against the exact answer rounded once to the dtype is within the spec's tolerance (an
all-zero answer must be matched exactly).
"""

from __future__ import annotations

import math
import random
from typing import Any, NamedTuple
from collections.abc import Callable

import torch

from geak.auditor.evidence.models import OracleResult

from .specs import DTYPES, INPLACE_ARGS, OpSpec

Case = tuple[str, tuple[Any, ...], list[list[float]]]  # name, args, expected outputs (flat, exact)


def _t(vals: list[float], shape: tuple[int, ...], dt: torch.dtype, device: str) -> torch.Tensor:
    return torch.tensor(vals, dtype=torch.float64).reshape(shape).to(dt).to(device)


def _vals(t: torch.Tensor) -> list[float]:
    return t.detach().to("cpu", torch.float64).reshape(-1).tolist()


def _rows(rng: random.Random, m: int, h: int, scale: float) -> list[float]:
    return [rng.gauss(0.0, 1.0) * scale for _ in range(m * h)]


def _rms_exact(row: list[float], w: list[float], eps: float) -> list[float]:
    inv = 1.0 / math.sqrt(math.fsum(v * v for v in row) / len(row) + eps)
    return [v * inv * wi for v, wi in zip(row, w)]


def _round(vals: list[float], dt: torch.dtype) -> list[float]:
    return torch.tensor(vals, dtype=torch.float64).to(dt).to(torch.float64).tolist()


# ---------------------------------------------------------------- per-op cases


def _norm_cases(spec: OpSpec, dt: torch.dtype, device: str, fused: bool) -> list[Case]:
    h0, eps = int(spec.params["hidden"]), float(spec.params["eps"])
    big = 1e4 if dt in (torch.bfloat16, torch.float16) else 1e15
    rng = random.Random(1234)
    shapes = [
        ("M=1, served H", 1, h0, 1.0),
        ("odd rows M=7, H=127", 7, 127, 1.0),
        ("H=1", 3, 1, 1.0),
        ("H=1000 (not a power of two)", 2, 1000, 1.0),
        (f"H={h0 + 1} crosses a block", 3, h0 + 1, 1.0),
        ("H=16385 wider than a register block", 1, 16385, 1.0),
        ("eps-dominated rows (|x|~1e-4)", 3, 96, 1e-4),
        (f"large magnitudes (|x|~{big:g})", 3, h0, big),
    ]
    cases: list[Case] = []
    for name, m, h, scale in shapes:
        cases.append(
            _norm_case(
                name,
                m,
                h,
                _rows(rng, m, h, scale),
                _rows(rng, m, h, scale) if fused else None,
                [1.0 + 0.2 * rng.gauss(0, 1) for _ in range(h)],
                eps,
                dt,
                device,
            )
        )
    # a zero row between two others: the answer is exactly 0, not NaN (eps keeps it finite)
    h = 200
    x = _rows(rng, 3, h, 1.0)
    x[h : 2 * h] = [0.0] * h
    r = [-v for v in x] if fused else None  # fused: x + r cancels to zero on every row
    cases.append(
        _norm_case(
            "zero row" + (" by cancellation x = -residual" if fused else ""),
            3,
            h,
            x,
            r,
            [rng.uniform(-2, 2) for _ in range(h)],
            eps,
            dt,
            device,
        )
    )
    # one large element among small ones: the norm is dominated by one term
    x = [1e-3 * rng.gauss(0, 1) for _ in range(333)]
    x[217] = 50.0
    cases.append(
        _norm_case("single spike, H=333", 1, 333, x, [0.0] * 333 if fused else None, [1.0] * 333, eps, dt, device)
    )
    return cases


def _norm_case(
    name: str,
    m: int,
    h: int,
    x: list[float],
    r: list[float] | None,
    w: list[float],
    eps: float,
    dt: torch.dtype,
    device: str,
) -> Case:
    xt, wt = _t(x, (m, h), dt, device), _t(w, (h,), dt, device)
    xv, wv = _vals(xt), _vals(wt)
    if r is None:
        exp = [v for i in range(m) for v in _rms_exact(xv[i * h : (i + 1) * h], wv, eps)]
        return name, (xt, wt, eps), [exp]
    rt = _t(r, (m, h), dt, device)
    s = _round([a + b for a, b in zip(xv, _vals(rt))], dt)  # the stored residual stream, per the spec
    exp = [v for i in range(m) for v in _rms_exact(s[i * h : (i + 1) * h], wv, eps)]
    return name, (xt, rt, wt, eps), [exp, s]


def _silu_cases(spec: OpSpec, dt: torch.dtype, device: str) -> list[Case]:
    d0 = int(spec.params["intermediate"])
    rng = random.Random(4321)
    big = 1e4 if dt != torch.float32 else 1e6
    specs_ = [
        ("M=1, served d", 1, d0, lambda: rng.gauss(0, 2)),
        ("d=1", 3, 1, lambda: rng.gauss(0, 2)),
        ("odd rows M=7, d=127", 7, 127, lambda: rng.gauss(0, 2)),
        (f"d={d0 + 1} crosses a block", 2, d0 + 1, lambda: rng.gauss(0, 2)),
        ("d=1000 (not a power of two)", 3, 1000, lambda: rng.gauss(0, 2)),
        (
            "large magnitudes, both signs (exp overflow side)",
            2,
            300,
            lambda: rng.choice([-1, 1]) * rng.uniform(80, big),
        ),
        ("zeros", 2, 64, lambda: 0.0),
    ]
    cases: list[Case] = []
    for name, m, d, draw in specs_:
        xt = _t([draw() for _ in range(m * 2 * d)], (m, 2 * d), dt, device)
        xv = _vals(xt)
        exp = []
        for i in range(m):
            row = xv[i * 2 * d : (i + 1) * 2 * d]
            exp += [_silu(a) * b for a, b in zip(row[:d], row[d:])]
        cases.append((name, (xt,), [exp]))
    return cases


def _silu(a: float) -> float:
    # the numerically stable form, so the oracle itself never overflows
    if a >= 0:
        return a / (1.0 + math.exp(-a))
    e = math.exp(a)
    return a * e / (1.0 + e)


def _rotary_cases(spec: OpSpec, dt: torch.dtype, device: str) -> list[Case]:
    p = spec.params
    rope = _Rope(
        int(p["head_size"]), int(p["num_heads"]), int(p["num_kv_heads"]), int(p["max_position"]), float(p["rope_theta"])
    )
    P = rope.P
    rng = random.Random(777)
    block = 16
    pos_sets = [
        ("T=1 at position 0", [0]),
        (f"T=1 at the last cache row P-1={P - 1}", [P - 1]),
        ("positions straddling a 16-token block boundary", [block - 2, block - 1, block, block + 1]),
        ("ragged: repeated, descending, first and last rows", [5, 5, 0, P - 1, min(P - 1, 2 * block + 1), 3]),
        ("positions are not the token index (decode at an offset)", [min(P - 3, 40) + i for i in range(3)]),
        ("odd T=7, random positions", [rng.randrange(P) for _ in range(7)]),
    ]
    cases: list[Case] = []
    for name, pos in pos_sets:
        cases.append(_rotary_case(name, pos, rope, 1.0, dt, device, rng))
    cases.append(_rotary_case("large magnitudes q/k (|x|~1e4)", [1, P // 2], rope, 1e4, dt, device, rng))
    cases.append(_rotary_case("zeros q/k", [2, 9], rope, 0.0, dt, device, rng))
    return cases


class _Rope(NamedTuple):
    """A rotary embedding's shape: head size, query and KV heads, cache rows (max position), base."""

    hs: int
    nq: int
    nkv: int
    P: int
    theta: float


def _rotary_case(
    name: str, pos: list[int], rope: _Rope, scale: float, dt: torch.dtype, device: str, rng: random.Random
) -> Case:
    hs, nq, nkv, P, theta = rope
    half = hs // 2
    # cache rows from the spec formula; rows no token uses are NaN, so reading a wrong row shows
    c64 = torch.full((P, hs), math.nan, dtype=torch.float64)
    for q_pos in set(pos):
        ang = [q_pos * theta ** (-2.0 * i / hs) for i in range(half)]
        c64[q_pos] = torch.tensor([math.cos(a) for a in ang] + [math.sin(a) for a in ang], dtype=torch.float64)
    cache = c64.to(dt).to(device)
    rounded = cache.detach().to("cpu", torch.float64)
    cv = {q_pos: rounded[q_pos].tolist() for q_pos in set(pos)}
    T = len(pos)
    qt = _t([rng.gauss(0, 1) * scale for _ in range(T * nq * hs)], (T, nq * hs), dt, device)
    kt = _t([rng.gauss(0, 1) * scale for _ in range(T * nkv * hs)], (T, nkv * hs), dt, device)
    pt = torch.tensor(pos, dtype=torch.int64, device=device)

    def rot(xv: list[float], nh: int) -> list[float]:
        out = []
        for t, q_pos in enumerate(pos):
            cos, sin = cv[q_pos][:half], cv[q_pos][half:]
            for h in range(nh):
                base = (t * nh + h) * hs
                x1, x2 = xv[base : base + half], xv[base + half : base + hs]
                out += [a * c - b * s for a, b, c, s in zip(x1, x2, cos, sin)]
                out += [b * c + a * s for a, b, c, s in zip(x1, x2, cos, sin)]
        return out

    return name, (pt, qt, kt, cache, hs), [rot(_vals(qt), nq), rot(_vals(kt), nkv)]


CASES: dict[str, Callable[[OpSpec, torch.dtype, str], list[Case]]] = {
    "rmsnorm": lambda s, d, dev: _norm_cases(s, d, dev, fused=False),
    "fused_add_rmsnorm": lambda s, d, dev: _norm_cases(s, d, dev, fused=True),
    "silu_and_mul": _silu_cases,
    "rotary": _rotary_cases,
    "rope_kvcache": lambda s, d, dev: _rope_kvcache_cases(s, d, dev),
}


def _rope_kvcache_cases(spec: OpSpec, dt: torch.dtype, device: str) -> list[Case]:
    from .oracles_rope_kvcache import cases  # it builds on the rotary cases above

    return cases(spec, dt, device)


# ---------------------------------------------------------------- judging


def judge(outs: Any, expected: list[list[float]], args: tuple[Any, ...], dt: torch.dtype, tol: float) -> str | None:
    """None when the case passes, else why it failed."""
    outs = outs if isinstance(outs, tuple) else (outs,)
    if len(outs) != len(expected):
        return f"{len(outs)} output(s), the spec has {len(expected)}"
    num = den = 0.0
    for i, (o, e) in enumerate(zip(outs, expected)):
        if not isinstance(o, torch.Tensor):
            return f"output {i} is {type(o).__name__}"
        if o.dtype != dt:
            return f"output {i} dtype {o.dtype} != {dt}"
        if o.numel() != len(e):
            return f"output {i} has {o.numel()} elements, the spec {len(e)}"
        ov = _vals(o)
        if not all(math.isfinite(v) for v in ov):
            return f"output {i} has non-finite values"
        er = _round(e, dt)
        num += math.fsum((a - b) ** 2 for a, b in zip(ov, er))
        den += math.fsum(b * b for b in e)
    if den == 0.0:
        return None if num == 0.0 else "answer is all zeros but the output is not"
    rel = math.sqrt(num / den)
    return None if rel <= tol else f"rel_err {rel:.3g} > {tol:g}"


def run_oracle(
    spec: OpSpec,
    fn: Callable[..., Any],
    device: str,
    dtype: str,
    call: Callable[[Callable[..., Any], tuple[Any, ...]], Any] | None = None,
) -> OracleResult:
    """Run every boundary case of ``spec.op`` through ``fn``; a raising case is a failure.
    ``call(fn, args)`` runs one case and returns finished, materialised outputs (the harness
    synchronises streams and threads there); default: a plain call."""
    call = call or (lambda f, a: f(*a))
    dt = DTYPES[dtype]
    tol = spec.tolerances[dtype]
    names: list[str] = []
    failed: list[dict[str, str]] = []
    for name, args, expected in CASES[spec.op](spec, dt, device):
        names.append(name)
        inplace = INPLACE_ARGS.get(spec.op, ())  # written by design; judged as outputs
        before = [a.clone() for i, a in enumerate(args) if isinstance(a, torch.Tensor) and i not in inplace]
        try:
            out = call(fn, args)
            why = judge(out, expected, args, dt, tol)
            after = [a for i, a in enumerate(args) if isinstance(a, torch.Tensor) and i not in inplace]
            if why is None and any(
                not torch.allclose(b.double(), a.double(), rtol=0, atol=0, equal_nan=True)
                for b, a in zip(before, after)
            ):
                why = "an input was modified (the spec returns new tensors)"
        except Exception as e:  # a candidate that raises on a valid input fails the case
            why = f"raised {type(e).__name__}: {e}"[:300]
        if why:
            failed.append({"case": name, "why": why})
    res = OracleResult(
        name=f"spec_{spec.op}_pymath",
        author_independent=True,
        cases=len(names),
        failures=len(failed),
        boundary_cases=names,
    )
    res.failed_cases = failed  # type: ignore[attr-defined]
    res.dtype = dtype  # type: ignore[attr-defined]
    return res
