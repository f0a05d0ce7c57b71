"""Cases of paired A/B designs (issue 18): a config gate measured as a 2x2 crossover (two servers
at once on two one-core sets, reps started together, sets swapped) or as A B B A short legs, with
paired A/A crossovers for the band. Honest, it must PASS where the same legs judged as blocks
are within noise (the host slowed 30% between the periods); a design the bytes do not show
(sets never swapped, halves apart in time, shared cores, an order that is not counterbalanced,
an A/A design of two configs, a noisy A/A crossover the manifest leaves out) is caught by P3. Keys are written from the flaw."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

from geak.auditor.evidence.models import Decision, Manifest, PairedAA
from geak.auditor.evidence.store import RunStore

from .plants import Plant, plant
from .synthetic import LegSpec, seal_legs, write_leg
from geak.auditor.evidence.layout import DECISIONS, MANIFEST

T0 = 1_700_000_000.0
CORE = "(EngineCore pid=4{n}) INFO 11-23 12:00:05 [ompmultiprocessing.py:185] \tlocal_rank=0, core ids=[{c}]\n"
WOB = [1.00, 0.97, 1.03, 0.99, 1.02]  # per-rep wobble both halves of a pair share
SEQS = {"scheduler_config.max_num_seqs": 512}
GATE = "g"


def _leg(
    s: RunStore,
    leg_id: str,
    role: str,
    vals: list[float],
    *,
    start: float,
    core: int | None,
    resolved: dict | None = None,
) -> None:
    log = CORE.format(n=len(leg_id) + start % 97, c=core) if core is not None else ""
    # the set a server holds is in its env as vLLM CPU binds it (the leg runner's VLLM_CPU_OMP_THREADS_BIND)
    write_leg(
        s,
        LegSpec(
            leg_id,
            role,
            vals,
            counted=len(vals),
            started_at=start,
            log_extra=log,
            resolved=resolved if resolved is not None else SEQS if role == "candidate" else {},
            env={"VLLM_CPU_OMP_THREADS_BIND": str(core)} if core is not None else {},
        ),
    )


def crossover(
    s: RunStore,
    gate: str,
    role_a: str,
    role_b: str,
    gain: float,
    *,
    swap: bool = True,
    cores=((0, 1), (1, 0)),
    b_shift_s: float = 0.0,
    logged: bool = True,
    noise: float = 0.0,
    t0: float = T0,
    b_resolved: dict | None = None,
) -> tuple[list[str], list[str]]:
    """Two periods of a crossover; the host runs 30% slower in the second (a drift both halves see)."""
    a_legs, b_legs = [], []
    for p, (drift, t) in enumerate(((1.0, t0), (0.7, t0 + 300)), start=1):
        ca, cb = cores[p - 1] if swap else cores[0]
        a = [1000 * drift * w for w in WOB]
        b = [1000 * drift * w * gain * (1 + noise * (-1) ** i) for i, w in enumerate(WOB)]
        _leg(s, f"{gate}_a_p{p}", role_a, a, start=t, core=ca if logged else None)
        _leg(s, f"{gate}_b_p{p}", role_b, b, start=t + b_shift_s, core=cb if logged else None, resolved=b_resolved)
        a_legs.append(f"{gate}_a_p{p}")
        b_legs.append(f"{gate}_b_p{p}")
    return a_legs, b_legs


def crossover_run(
    root: Path,
    design: str = "crossover",
    aa: bool = True,
    aa_gains: tuple[float, ...] = (0.996, 1.004),
    declared: int | None = None,
    aa_b_resolved: dict | None = None,
    gain: float = 1.08,
    **kw,
) -> None:
    """``aa_gains``: one A/A crossover per entry (B's offset from A: noise); ``declared``: how many
    of them manifest.json names (None: all); ``aa_b_resolved``: the A/A B legs' config overrides."""
    s = RunStore(root)
    designs, aa_legs = [], []
    for k, g in enumerate(aa_gains if aa else (), start=1):
        a, b = crossover(s, f"aa{k}", "aa", "aa", g, noise=0.003, t0=T0 - 1000 * k, b_resolved=aa_b_resolved)
        if declared is None or k <= declared:
            designs.append(PairedAA(design="crossover", a_legs=a, b_legs=b))
            aa_legs += a + b
    ref, cand = crossover(s, GATE, "reference", "candidate", gain, **kw)
    s.write_json(MANIFEST, Manifest(run_id=root.parent.name, aa_legs=aa_legs, aa_designs=designs))
    s.append_jsonl(
        DECISIONS,
        Decision(
            decision_id=f"d-{GATE}",
            gate_id=GATE,
            scope="patch",
            producer="config_tuner",
            reference_legs=ref,
            candidate_legs=cand,
            design=design,  # type: ignore[arg-type]
            declared_knobs=["scheduler_config.max_num_seqs"],
        ),
    )
    seal_legs(s)  # as the leg runner seals each leg it closes


def abba_aa(
    s: RunStore, k: int, gain: float, t0: float, pairs: int = 6, extra: bool = False
) -> tuple[list[str], list[str]]:
    """An A/A A B B A chain on core 1 (B's offset from A: noise) under the same steady drift;
    ``extra``: one more A/A leg after it on the same core."""
    a_legs, b_legs = [], []
    t = t0
    for j in range(pairs):
        drift = 1.0 - 0.03 * j
        for side in "ab" if j % 2 == 0 else "ba":
            leg = f"aa{k}_{side}_{j + 1}"
            _leg(s, leg, "aa", [1000 * drift * (gain if side == "b" else 1.0) * w for w in WOB[:3]], start=t, core=1)
            (a_legs if side == "a" else b_legs).append(leg)
            t += 200
    if extra:
        _leg(s, f"aa{k}_extra", "aa", [1000 * w for w in WOB[:3]], start=t, core=1)
    return a_legs, b_legs


def abba_run(
    root: Path,
    orders: list[str],
    gain: float = 1.08,
    overlap: bool = False,
    aa_gains: tuple[float, ...] = (),
    declared: int | None = None,
    extra: bool = False,
) -> None:
    """``aa_gains``: one A/A A B B A chain per entry, each on core 1 before the gate;
    ``declared``: how many of them manifest.json names (None: all); ``extra``: a leftover A/A leg."""
    s = RunStore(root)
    designs, aa_legs = [], []
    for k, g in enumerate(aa_gains, start=1):
        a, b = abba_aa(s, k, g, T0 - 5000 * k, extra=extra and k == 1)
        if declared is None or k <= declared:
            designs.append(PairedAA(design="abba", a_legs=a, b_legs=b))
            aa_legs += a + b
    ref, cand = [], []
    t = T0
    for k, order in enumerate(orders, start=1):
        drift = 1.0 - 0.05 * k  # the host slows steadily: a linear drift
        for side in order:
            leg = f"{GATE}_{side}{k}"
            v = [1000 * drift * (gain if side == "b" else 1.0) * w for w in WOB[:3]]
            _leg(s, leg, "reference" if side == "a" else "candidate", v, start=t, core=1)
            (ref if side == "a" else cand).append(leg)
            t += 20 if overlap else 200
    s.write_json(MANIFEST, Manifest(run_id=root.parent.name, aa_legs=aa_legs, aa_designs=designs))
    s.append_jsonl(
        DECISIONS,
        Decision(
            decision_id=f"d-{GATE}",
            gate_id=GATE,
            scope="patch",
            producer="config_tuner",
            reference_legs=ref,
            candidate_legs=cand,
            design="abba",
            declared_knobs=["scheduler_config.max_num_seqs"],
        ),
    )
    seal_legs(s)  # as the leg runner seals each leg it closes


def _x(**kw) -> Callable[[Path], None]:
    return lambda root: crossover_run(root, **kw)


def _ab(orders: list[str], **kw) -> Callable[[Path], None]:
    return lambda root: abba_run(root, orders, **kw)


TAG = ("paired",)
plant(
    Plant(
        "x_crossover_honest",
        (),
        "max_num_seqs +8% measured as a verified crossover (sets swapped, every rep of a period "
        "at once on disjoint cores) with two paired A/A crossovers for the band; the host ran 30% slower in period 2, so "
        "the same legs as blocks overlap: honest, and only the paired design can bank it",
        {GATE: ("PASS", [])},
        build=_x(),
        source="issue 18",
        tags=TAG,
    )
)
# an unverified crossover excuses nothing: its halves' different core binding is a confounded launch (P4)
plant(
    Plant(
        "x_crossover_no_swap",
        ("P3", "P4"),
        "the crossover's reference ran on core 0 in both periods and the candidate on "
        "core 1: a faster set lands on the delta, and the binding difference is a confound",
        {GATE: ("FAIL", ["P3", "P4"])},
        build=_x(swap=False),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_crossover_apart",
        ("P3", "P4"),
        "a design claimed as a crossover whose candidate legs ran 150 s after the reference "
        "legs: no rep of one side ran beside one of the other, so the claim excuses nothing of the two sets' binding",
        {GATE: ("FAIL", ["P3", "P4"])},
        build=_x(b_shift_s=150.0),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_crossover_shared_cores",
        ("P3", "B5"),
        "both halves of each period bound core 0 (the engines' own logs): each slowed the other",
        {GATE: ("FLAG", ["P3", "B5"])},
        build=_x(cores=((0, 0), (0, 0))),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_crossover_uneven",
        ("P3",),
        "the candidate's reps started 50 ms after the reference's (a rep spans ~150 ms): "
        "every pair is dropped as uneven, and fewer than the pairs a claim needs remain",
        {GATE: ("FLAG", ["P3"])},
        build=_x(b_shift_s=0.05),
        source="issue 18",
        tags=TAG,
    )
)
# the auditor finds the A/A crossovers from the bytes: one the manifest leaves out still sets the band
plant(
    Plant(
        "x_paired_aa_undeclared",
        ("P3",),
        "a second A/A crossover read +12% B over A (noise) and manifest.json declares "
        "only the quiet first one: the auditor finds both from the request times and the engines' core ids, so the +8% "
        "change is within the paired band",
        {GATE: ("FLAG", ["P3"])},
        build=_x(aa_gains=(0.996, 1.12), declared=1),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_paired_aa_differs",
        ("P3",),
        "the paired A/A crossovers' B legs launched max_num_seqs 512, not the A legs' "
        "config: a change, not noise, so the paired band is unknown",
        {GATE: ("FLAG", ["P3"])},
        build=_x(aa_b_resolved=SEQS),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_abba_no_aa",
        ("P3",),
        "max_num_seqs +8% as six A B / B A pairs of short legs on one core while the host slowed "
        "steadily, and no A/A legs of any kind: the band is unknown, not the policy's 0.5% default (issue 32)",
        {GATE: ("FLAG", ["P3"])},
        build=_ab(["ab", "ba"] * 3),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_abba_unbalanced",
        ("P3",),
        "an 'A B B A' design that ran the reference first in every pair: the drift favours one side",
        {GATE: ("FLAG", ["P3"])},
        build=_ab(["ab"] * 6),
        source="issue 18",
        tags=TAG,
    )
)
# A B B A A/A chains are found from the bytes too (legs that ran alone on one core, in time order)
plant(
    Plant(
        "x_abba_aa_honest",
        (),
        "max_num_seqs +8% as six A B / B A pairs, with a quiet A/A A B B A chain on the same core "
        "for the paired band: honest",
        {GATE: ("PASS", [])},
        build=_ab(["ab", "ba"] * 3, aa_gains=(1.004,)),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_abba_aa_undeclared",
        ("P3",),
        "a second A/A A B B A chain read +12% B over A (noise) and manifest.json declares "
        "only the quiet first one: the auditor finds both chains from the legs' times and cores, so the +8% change is "
        "within the paired band",
        {GATE: ("FLAG", ["P3"])},
        build=_ab(["ab", "ba"] * 3, aa_gains=(1.004, 1.12), declared=1),
        source="issue 18",
        tags=TAG,
    )
)
plant(
    Plant(
        "x_abba_aa_leftover",
        ("P3",),
        "one more A/A leg ran on the A/A chain's core after its six pairs: which leg a chain "
        "leaves out decides its pairs, so the paired band is unknown",
        {GATE: ("FLAG", ["P3"])},
        build=_ab(["ab", "ba"] * 3, aa_gains=(1.004,), extra=True),
        source="issue 18",
        tags=TAG,
    )
)
