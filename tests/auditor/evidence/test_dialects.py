"""The dialect registry (auditor/evidence/dialects): a dialect is checked field by field when it
registers, so a bad regex or an unknown metric family stops its author instead of an audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geak.auditor.evidence import dialects
from geak.auditor.evidence.dialects import Dialect
from geak.auditor.evidence.normalize import resolved_from_server_info

DATA = Path(__file__).resolve().parents[2] / "data" / "engines"


def test_the_built_in_dialects_are_well_formed():
    assert dialects.known()[:2] == ["sglang", "vllm"]
    assert all(dialects.check(d) == [] for d in dialects.all_dialects())
    assert dialects.default().name == "vllm"


@pytest.mark.parametrize(
    "field,value,said",
    [
        ("name", "Bad Name", "name 'Bad Name'"),
        ("metrics", {"tokens": "x:tokens_total"}, "metrics: unknown family 'tokens'"),
        ("pid_lines", (r"pid=\d+",), "pid_lines: 'pid=\\\\d+' captures 0 group(s); the reader takes 1"),
        ("core_ids_lines", (r"core ids=\[([0-9, ]*)\]",), "captures 1 group(s); the reader takes 2"),
        ("reset_lines", (r"(unclosed",), "reset_lines: '(unclosed' is not a regex"),
        ("kernel_keys", ("[",), "kernel_keys: '[' is not a regex"),
    ],
)
def test_a_malformed_dialect_is_refused_naming_its_field(field, value, said):
    d = Dialect(**{"name": "probe", "bench_tool": "probe-bench", field: value})
    with pytest.raises(ValueError, match="probe|Bad Name") as e:
        dialects.register(d)
    assert said in str(e.value), str(e.value)
    assert "probe" not in dialects.known()


def test_a_dialect_reader_that_breaks_on_odd_bytes_is_an_unreadable_answer_not_a_crash():
    def boom(info):
        return {"x": info["odd"]["deeper"]}

    dialects.register(
        Dialect(name="probe", bench_tool="probe-bench", server_info_key="probe_config", server_info_flat=boom)
    )
    try:
        with pytest.raises(ValueError, match=r"server info \(probe's 'probe_config'\) cannot be read: KeyError"):
            resolved_from_server_info({"probe_config": {}})
    finally:
        dialects.unregister("probe")


def test_sglangs_serving_invariants_are_keys_its_real_answer_has():
    # the manifest pins these from the first leg (orchestrator/manifest.py); vLLM's dotted keys were
    # pinned for every engine before, so an SGLang run pinned none and its baseline failed B4
    flat = resolved_from_server_info(json.loads((DATA / "sglang_get_server_info.json").read_text()))
    keys = dialects.get("sglang").invariant_keys
    assert keys and all(k in flat for k in keys), [k for k in keys if k not in flat]
