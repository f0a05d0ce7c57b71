"""Paired A/A designs found from the bytes, not from the manifest (issue 18).

The manifest's ``aa_designs`` is geak's claim of which A/A legs form a paired design; a
producer that left a noisy A/A crossover out of it would narrow the paired band. So the
auditor finds every A/A crossover itself: two A/A legs whose repetitions ran at the same time
(the benchmark tool's request times) on disjoint cores (the engines' own logs) are one period;
two periods on the same two core sets are one crossover (in an A/A the sides' labels are
arbitrary, so the leg on the first set of one period and the leg on the other set of the next
form side A). Periods are taken in time order; one left without a partner makes the paired
band unknown rather than dropped, since dropping it is what a producer would want.

An A B B A A/A is found the same way: the A/A legs in no crossover, grouped by the cores they
bound, in time order, are pairs of adjacent legs, labelled A B, B A, A B ...
(labels are arbitrary in an A/A, and this order is the counterbalanced one, so a steady drift
cancels as it does in a gate's A B B A), cut into designs of ``min_pairs`` pairs (the rest
joins the last), so one noisy stretch is not averaged away by a long quiet chain. A chain whose
legs overlap in time, or with a leg left over, makes the band unknown, for the same reason.

An A/A design is also only an A/A if its legs launched the same config (devices aside): two
legs that differ in a knob measure a change, not the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from .evidence.devices import DeviceSet, describe
from .evidence.loader import LegData
from .evidence.pairing import RepWindow, same_clock, window_of

MIN_SHARED = 0.5  # two legs are one period when they ran at once for half the shorter one's span, or more


@dataclass(frozen=True)
class Span:
    leg_id: str
    cores: DeviceSet
    start: float
    end: float
    first: RepWindow

    def shared(self, o: Span) -> float:
        return max(0.0, min(self.end, o.end) - max(self.start, o.start)) / max(
            1e-9, min(self.end - self.start, o.end - o.start)
        )


def span_of(leg: LegData) -> Span | None:
    """Cores and time span of a leg's counted reps; None when the bytes do not show them."""
    got = leg.devices
    ws = [w for r in leg.counted if r.raw is not None and (w := window_of(r.raw)) is not None]
    if not got or not ws:
        return None
    return Span(leg.leg_id, got, min(w.start for w in ws), max(w.end for w in ws), ws[0])


def periods(spans: list[Span]) -> list[tuple[Span, Span]]:
    """Pairs of legs that ran at once on disjoint cores, in time order; each leg in one pair at most."""
    out = []
    used: set[str] = set()
    order = sorted(spans, key=lambda s: s.start)
    for i, x in enumerate(order):
        if x.leg_id in used:
            continue
        for y in order[i + 1 :]:
            if y.leg_id in used or x.cores & y.cores or same_clock(x.first, y.first) is False:
                continue
            if x.shared(y) >= MIN_SHARED:
                out.append((x, y))
                used |= {x.leg_id, y.leg_id}
                break
    return out


def crossovers(spans: list[Span]) -> tuple[list[tuple[list[str], list[str]]], list[str]]:
    """(A/A crossovers as (A legs, B legs), why a period is left over) from the legs' spans."""
    found: list[tuple[list[str], list[str]]] = []
    waiting: dict[frozenset[frozenset[int | str]], tuple[Span, Span]] = {}
    for x, y in periods(spans):
        key = frozenset({x.cores, y.cores})
        first = waiting.pop(key, None)
        if first is None:
            waiting[key] = (x, y)
            continue
        p, q = first
        # side A: the leg on p's cores in period 1, then the leg on q's cores in period 2 (swapped)
        a2, b2 = (x, y) if x.cores == q.cores else (y, x)
        found.append(([p.leg_id, a2.leg_id], [q.leg_id, b2.leg_id]))
    left = [
        f"A/A legs {x.leg_id} and {y.leg_id} ran at once on disjoint cores, but no second period on those core sets "
        "completes a crossover"
        for x, y in waiting.values()
    ]
    return found, left


def sequences(
    spans: list[Span], used: set[str], per_design: int
) -> tuple[list[tuple[list[str], list[str]]], list[str]]:
    """(A/A A B B A designs as (A legs, B legs), why a chain is not one) from the spans of the
    legs not in ``used`` (those of a crossover): one chain per core set, cut every ``per_design`` pairs."""
    chains: dict[DeviceSet, list[Span]] = {}
    for x in sorted(spans, key=lambda s: s.start):
        if x.leg_id not in used:
            chains.setdefault(x.cores, []).append(x)
    found: list[tuple[list[str], list[str]]] = []
    left = []
    for cores, chain in chains.items():
        on = describe(cores)
        clash = next(((x, y) for x, y in zip(chain, chain[1:]) if y.start < x.end), None)
        if clash:
            left.append(
                f"A/A legs {clash[0].leg_id} and {clash[1].leg_id} ran at once on {on}: not an A B B A sequence"
            )
            continue
        if len(chain) % 2:
            left.append(f"A/A leg {chain[-1].leg_id} on {on} is left over after {len(chain) // 2} A B B A pair(s)")
            continue
        pairs = [
            (chain[k].leg_id, chain[k + 1].leg_id) if k % 4 == 0 else (chain[k + 1].leg_id, chain[k].leg_id)
            for k in range(0, len(chain), 2)
        ]  # (A, B): A B, then B A, ...
        cuts = list(range(0, len(pairs), max(1, per_design)))
        if len(cuts) > 1 and len(pairs) - cuts[-1] < per_design:
            cuts.pop()  # the rest joins the last design
        for lo, hi in zip(cuts, cuts[1:] + [len(pairs)]):
            found.append(([x for x, _ in pairs[lo:hi]], [y for _, y in pairs[lo:hi]]))
    return found, left


def config_differs(legs: list[LegData]) -> str | None:
    """Why these legs are not one config against itself; None when they are. Compared as P4
    compares a gate's halves (checks/config_diff.py) on each engine's resolved config (its own
    server_info bytes where the leg has them), the device binding aside: the sets differ by design."""
    from .checks.config_diff import DEVICE_BINDING, config_diff

    first, base = legs[0], legs[0].resolved()[0]
    for lg in legs[1:]:
        got = lg.resolved()[0]
        if base is None or got is None:
            return f"A/A leg {(lg if got is None else first).leg_id} has no resolved config to compare"
        diff = [k for k in config_diff(base, got) if not DEVICE_BINDING.search(k)]
        if diff:
            return (
                f"A/A legs {first.leg_id} and {lg.leg_id} launched different configs ({', '.join(diff[:5])}, by "
                f"{lg.resolved()[1]}): that is a change, not noise"
            )
    return None
