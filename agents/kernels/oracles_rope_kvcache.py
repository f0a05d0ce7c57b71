"""The oracle's cases for rope_kvcache (spec_rope_kvcache.py): the rotary cases of oracles.py,
each with a paged cache whose old entries are random and finite, v, and a slot mapping on the
boundaries a scatter gets wrong: slot 0, the cache's last slot, slots straddling a block,
padding (-1, writes nothing), descending slots. Expected caches are the old contents with the
rotated k and v written at the slots, element by element in Python."""

from __future__ import annotations

import random
from typing import Any

import torch

from .oracles import Case, _Rope, _rotary_case, _t, _vals
from .specs import OpSpec

BLOCK = 16


def _slot_sets(T: int, blocks: int) -> list[tuple[str, list[int]]]:
    last = blocks * BLOCK - 1
    pad = [-1] * T
    return [
        ("slot 0 and the cache's last slot", ([0, last] + list(range(1, T - 1)))[:T]),
        ("slots straddling a block boundary", ([BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK] + pad)[:T]),
        ("padding slots (-1) write nothing", ([3, -1, 2 * BLOCK + 5, -1] + pad)[:T]),
        ("descending slots across blocks", [last - 7 * i for i in range(T)]),
    ]


def _written(old: list[float], slots: list[int], rows: list[float], width: int) -> list[float]:
    out = list(old)
    for t, s in enumerate(slots):
        if s >= 0:
            out[s * width : (s + 1) * width] = rows[t * width : (t + 1) * width]
    return out


def cases(spec: OpSpec, dt: torch.dtype, device: str) -> list[Case]:
    p = spec.params
    rope = _Rope(
        int(p["head_size"]), int(p["num_heads"]), int(p["num_kv_heads"]), int(p["max_position"]), float(p["rope_theta"])
    )
    rng = random.Random(4242)
    hs, nkv = rope.hs, rope.nkv
    blocks, width = 4, nkv * hs  # 64 slots: every set above fits
    out: list[Case] = []
    positions = [[0, rope.P - 1, 5, 5, 9], [3, 17, 16, 15, 2], [1, 2, 3, 4, 5], [rope.P - 1, 0, 7, 7, 30]]
    for (name, slots), pos in zip(_slot_sets(5, blocks), positions):
        out.append(_case(name, [x % rope.P for x in pos], slots, rope, 1.0, dt, device, rng, blocks, width))
    pos7 = [rng.randrange(rope.P) for _ in range(7)]
    slots7 = rng.sample(range(blocks * BLOCK), 7)
    out.append(_case("odd T=7, random positions and slots", pos7, slots7, rope, 1.0, dt, device, rng, blocks, width))
    out.append(_case("large magnitudes (|x|~1e4)", [1, 2], [7, 40], rope, 1e4, dt, device, rng, blocks, width))
    out.append(_case("zeros k and v over a nonzero cache", [2, 9], [8, 9], rope, 0.0, dt, device, rng, blocks, width))
    return out


def _case(
    name: str,
    pos: list[int],
    slots: list[int],
    rope: _Rope,
    scale: float,
    dt: torch.dtype,
    device: str,
    rng: random.Random,
    blocks: int,
    width: int,
) -> Case:
    hs, nkv = rope.hs, rope.nkv
    _, (pt, qt, kt, cache, _hs), (q_rot, k_rot) = _rotary_case(name, pos, rope, scale, dt, device, rng)
    T = len(pos)
    vt = _t([rng.gauss(0, 1) * scale for _ in range(T * width)], (T, width), dt, device)
    kv = _t([rng.gauss(0, 1) for _ in range(blocks * BLOCK * 2 * width)], (blocks, BLOCK, nkv, 2 * hs), dt, device)
    kc, vc = kv[..., :hs], kv[..., hs:]
    st = torch.tensor(slots, dtype=torch.int64, device=device)
    args: tuple[Any, ...] = (pt, qt, kt, vt, cache, kc, vc, st, hs)
    exp_k = _written(_vals(kc), slots, _rounded(k_rot, dt), width)
    exp_v = _written(_vals(vc), slots, _vals(vt), width)
    return f"{name} (rope_kvcache)", args, [q_rot, exp_k, exp_v]


def _rounded(vals: list[float], dt: torch.dtype) -> list[float]:
    """The rotated k as the cache stores it: one rounding to the model dtype (the cache holds
    that dtype, and the judge compares the cache's old entries exactly)."""
    return torch.tensor(vals, dtype=torch.float64).to(dt).to(torch.float64).tolist()
