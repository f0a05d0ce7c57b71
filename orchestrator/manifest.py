"""The run's manifest.json as the orchestrator writes it: created for a leg run outside the
workflow (`geak leg`), and its serving invariants pinned from the first good baseline leg."""

from __future__ import annotations

from typing import Any

from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Manifest, WorkloadSpec
from geak.auditor.evidence.store import RunStore

from geak.agents.engines.base import LaunchConfig
from geak.auditor.evidence.dialects import get as dialect
from geak.auditor.evidence.layout import MANIFEST


def ensure_manifest(
    store: RunStore, *, run_id: str, engine: str, cfg: LaunchConfig, workload: WorkloadSpec
) -> Manifest:
    m, _ = store.read_json(MANIFEST, Manifest)
    if m is not None:
        return m
    from geak import __version__

    m = Manifest(run_id=run_id, geak_version=__version__, model=cfg.model, engine=engine, workload=workload)
    store.write_json(MANIFEST, m)
    return m


def pin_invariants(store: RunStore, leg_id: str) -> dict[str, Any]:
    """Fill the manifest's invariants from the first leg's resolved config, if none were declared."""
    m, _ = store.read_json(MANIFEST, Manifest)
    if m is None or m.invariants:
        return m.invariants if m else {}
    launch = RunEvidence(store).leg(leg_id).launch
    rc = (launch.resolved_config or {}) if launch else {}
    try:  # serving settings every later leg must share unless a decision declares the knob (B4, P4): the engine's dialect names them
        keys = dialect(m.engine or "").invariant_keys
    except KeyError:
        keys = ()
    inv = {k.split(".")[-1]: rc[k] for k in keys if k in rc}
    if inv:
        m.invariants = inv
        store.write_json(MANIFEST, m)
    return inv
