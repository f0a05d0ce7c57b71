"""Export JSON Schema of every record in the evidence contract (``geak schema export``).

The schemas are committed under schemas/; a test fails when they are stale, so a change
to a record is a visible change to the contract.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from . import ledger, models

RECORDS: dict[str, type[BaseModel]] = {
    "manifest": models.Manifest,
    "leg": models.LegLaunch,
    "bench_rep": models.BenchRep,
    "output": models.ParityOutput,
    "accuracy": models.AccuracyProbe,
    "accuracy_item": models.AccuracyItem,
    "parity_probe": models.ParityProbe,
    "first_token_topk": models.TopKLogprobs,
    "decision": models.Decision,
    "routing": models.ProfileClaim,
    "opbench": models.OpBenchRecord,
    "audit": models.AuditVerdict,
    "seal": ledger.Seal,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$comment"] = f"geak evidence contract, schema_version {models.SCHEMA_VERSION}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schemas(out_dir: str | Path, check: bool = False) -> list[str]:
    """Write (or, with check, compare) one <name>.schema.json per record. Returns stale names."""
    out = Path(out_dir)
    stale: list[str] = []
    for name, model in RECORDS.items():
        path = out / f"{name}.schema.json"
        text = render(model)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
    return stale
