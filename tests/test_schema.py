"""The committed JSON Schema is the evidence contract; a model change must re-export it."""

from pathlib import Path

from geak.auditor.evidence.schema import RECORDS, export_schemas

REPO = Path(__file__).resolve().parents[1]


def test_committed_schemas_are_current():
    stale = export_schemas(REPO / "schemas", check=True)
    assert not stale, f"stale: {stale}; run `geak schema export`"


def test_stale_check_detects_a_change(tmp_path):
    export_schemas(tmp_path)
    (tmp_path / "leg.schema.json").write_text("{}")
    assert export_schemas(tmp_path, check=True) == ["leg.schema.json"]
    assert len(list(tmp_path.glob("*.schema.json"))) == len(RECORDS)
