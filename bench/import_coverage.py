"""Which rules each format of other tools' evidence lets the auditor check (tests/data/README.md's
table): imports the shipped fixtures with geak's importers and prints, per format and gate scope,
the rules checked and those the format holds no evidence for.

    python bench/import_coverage.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # corpus/: the development package in the checkout
from corpus.plants import PLANTS, build_case
from geak.auditor.api import audit_run
from geak.auditor.importers.bench import import_sglang_bench, import_vllm_bench
from geak.auditor.importers.geak_v4 import import_geak_v4

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _sources() -> list[tuple[str, object]]:
    w, b, g = DATA / "wild", DATA / "bench", DATA / "geak_v4"
    return [
        (
            "vLLM rows, aggregates only (wild/vllm09_request_rates.jsonl)",
            lambda r: import_vllm_bench([w / "vllm09_request_rates.jsonl"], r, "base"),
        ),
        (
            "vLLM --save-detailed, one then two legs (bench/vllm_rep*.json)",
            lambda r: (
                import_vllm_bench([b / "vllm_rep0.json", b / "vllm_rep1.json"], r, "a"),
                import_vllm_bench([b / "vllm_rep2.json", b / "vllm_rep3.json"], r, "b"),
            ),
        ),
        (
            "SGLang rows with server_info, two launches (wild/sglang_launch_*.jsonl)",
            lambda r: (
                import_sglang_bench([w / "sglang_launch_a.jsonl"], r, "a"),
                import_sglang_bench([w / "sglang_launch_b.jsonl"], r, "b"),
            ),
        ),
        (
            "GEAK v4 overlay with server_info, host and parity outputs (geak_v4/I4_*)",
            lambda r: import_geak_v4(g / "I4_null_evidence_rederive", r),
        ),
        ("GEAK v4 bundle (geak_v4/P1_*)", lambda r: import_geak_v4(g / "P1_flydsl_gemm_real_win", r)),
        (
            "GEAK v4 baseline + overlay, parity probe dumps (corpus i_geak_clean_overlay)",
            lambda r: build_case(PLANTS["i_geak_clean_overlay"], r),
        ),
        (
            "GEAK v4 kernel run's director_validation.json (corpus i_geak_director_clean)",
            lambda r: build_case(PLANTS["i_geak_director_clean"], r),
        ),
    ]


def main() -> int:
    print("| format | gate scope | verdict | checked | no evidence |")
    print("|---|---|---|---|---|")
    for name, build in _sources():
        with tempfile.TemporaryDirectory() as td:
            run = Path(td) / "run"
            build(run)
            seen: set[str] = set()
            for v in audit_run(run, write=False):
                if v.scope is None or v.scope in seen:
                    continue
                seen.add(v.scope)
                total = len(v.rules_checked) + len(v.rules_without_evidence)
                guards = {"P4", "P5", "P9"}
                none = ", ".join(f"{r} (FLAG)" if r in guards else r for r in v.rules_without_evidence) or "none"
                print(f"| {name} | {v.scope} | {v.verdict} | {len(v.rules_checked)} of {total} | {none} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
