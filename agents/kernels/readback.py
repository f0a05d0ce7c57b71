"""Reading a candidate's outputs back at a chosen point in stream order, for the H4 ready probe
(probes.ready_probe): on a high-priority stream so the readback cannot lose a tie to side work,
last element first so a late writer is caught while it is still at work."""

from __future__ import annotations

from typing import Any

import torch

_READBACK: dict[int, torch.cuda.Stream] = {}


def readback_stream() -> torch.cuda.Stream:
    # highest priority: once the end event has completed, the block scheduler serves the
    # readback before any block still queued on a normal-priority side stream, so a tie
    # between the two (both released by the same lead) cannot go to the side work
    d = torch.cuda.current_device()
    if d not in _READBACK:
        _READBACK[d] = torch.cuda.Stream(priority=-100)
    return _READBACK[d]


def tail_first(o: torch.Tensor) -> torch.Tensor:
    # flip reads the output from its last element back: the part a late writer writes last is
    # read first, while that writer is still at work
    return torch.flip(o.detach().reshape(-1), [0])


def tails_first(outs: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tail_first(o) if isinstance(o, torch.Tensor) else o for o in outs)


def read_under_lead(outs: tuple[Any, ...], lead_ev: torch.cuda.Event | None) -> tuple[Any, ...] | None:
    """The outputs read now, while the lead still holds the current stream: an honest kernel is
    queued behind the lead and cannot have written them yet, so outputs already complete were
    made elsewhere (side work that did not wait, or a cache). None when the lead ran out before
    the read was done (then the read says nothing)."""
    rs = readback_stream()
    with torch.cuda.stream(rs):
        early_dev = tails_first(outs)
    ev = torch.cuda.Event()
    ev.record(rs)
    ev.synchronize()
    return early_dev if lead_ev is not None and not lead_ev.query() else None


def read_at_end(outs: tuple[Any, ...], cuda: bool) -> tuple[Any, ...]:
    """The outputs as they are where the timing's end event sits: GPU, on the readback stream
    behind an event recorded right after the call; CPU, at return."""
    if not cuda:
        return tuple(o.detach().clone() if isinstance(o, torch.Tensor) else o for o in outs)
    end = torch.cuda.Event()
    end.record()  # where the timing's end event sits
    rs = readback_stream()
    rs.wait_event(end)
    with torch.cuda.stream(rs):
        return tails_first(outs)


def differing_bytes(a: Any, b: Any) -> float:
    """Fraction of bytes that differ (bitwise, so NaN == NaN); 1.0 when not comparable."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape or a.dtype != b.dtype:
        return 1.0
    if not a.numel():
        return 0.0
    x, y = a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8)
    return (x != y).float().mean().item()
