"""Cases of evidence other tools wrote (issue 13): source files in the tools' real formats,
turned into a run directory by geak's own importers, as a user would. The formats' facts are
those of public files (tests/data/README.md says where each was seen); the numbers are made up.
tests/data/wild/_build.py writes the same rows as test fixtures.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from .plants import Plant, plant

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TAG = ("imported",)


def vllm09_row(rate: Any, deployment: str, tput: float, ttft: float, tpot: float, n: int = 900) -> dict[str, Any]:
    """benchmark_serving.py ~0.9 --save-result (no --save-detailed): aggregates only, the
    --metadata values as strings before request_rate, the typo key "request_goodput:", no
    "failed", request_rate the string "inf" when unlimited."""
    out_tok, in_tok = n * 500, n * 1000
    dur = out_tok / tput
    return {
        "date": "20250530-203806", "backend": "vllm", "model_id": MODEL, "tokenizer_id": MODEL, "num_prompts": n,
        "deployment": deployment, "gpu": "4xNVIDIA_L40S", "input_len": "1000", "output_len": "500",
        "request_rate": rate, "burstiness": 1.0, "max_concurrency": None, "duration": dur, "completed": n,
        "total_input_tokens": in_tok, "total_output_tokens": out_tok, "request_throughput": n / dur,
        "request_goodput:": None, "output_throughput": tput, "total_token_throughput": (in_tok + out_tok) / dur,
        "mean_ttft_ms": ttft * 1.1, "median_ttft_ms": ttft, "std_ttft_ms": ttft * 0.4, "p99_ttft_ms": ttft * 3.4,
        "mean_tpot_ms": tpot * 1.02, "median_tpot_ms": tpot, "std_tpot_ms": tpot * 0.1, "p99_tpot_ms": tpot * 1.6,
        "mean_itl_ms": tpot, "median_itl_ms": tpot * 0.9, "std_itl_ms": tpot * 0.5, "p99_itl_ms": tpot * 4.0,
    }


RATES = ((10.0, 4710.2, 81.3, 21.4), (30.0, 9480.7, 190.6, 38.2), ("inf", 10145.34, 937.95, 43.75))


def vllm_all_failed() -> dict[str, Any]:
    """`vllm bench serve` (0.2x) when every request failed: completed 0, failed N, every
    latency statistic 0.0, throughputs 0."""
    stats = {f"{a}_{m}_ms": 0.0 for m in ("ttft", "tpot", "itl", "e2el") for a in ("mean", "median", "std", "p99")}
    return {"date": "20261120-101500", "endpoint_type": "vllm", "backend": "vllm", "label": None, "model_id": MODEL,
            "tokenizer_id": MODEL, "num_prompts": 8, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 8,
            "duration": 0.41, "completed": 0, "failed": 8, "total_input_tokens": 0, "total_output_tokens": 0,
            "request_throughput": 0.0, "request_goodput": None, "output_throughput": 0.0, "total_token_throughput": 0.0,
            "max_output_tokens_per_s": 0.0, "max_concurrent_requests": 8, "rtfx": 0.0, **stats}


def _imported(fmt: str, files: dict[str, str], leg: str, then: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A build: write the source files, import them with geak's importer into the case's run/."""
    def build(run: Path) -> None:
        from geak.auditor.importers.bench import import_sglang_bench, import_vllm_bench

        with tempfile.TemporaryDirectory() as td:
            paths = []
            for name, text in files.items():
                (Path(td) / name).write_text(text)
                paths.append(Path(td) / name)
            rep = (import_vllm_bench if fmt == "vllm" else import_sglang_bench)(paths, run, leg_id=leg)
            if rep.problems:
                raise ValueError(f"case source did not import: {rep.problems}")
        if then is not None:
            then(run)
    return build


def _one_mixed_leg(run: Path) -> None:
    """What a converter that reads every row as a repetition produces: one leg of three rates."""
    import shutil

    from geak.auditor.evidence.models import Claim, Decision
    from geak.auditor.evidence.store import RunStore

    store = RunStore(run)
    legs = sorted(p.name for p in (run / "legs").iterdir())
    (run / "decisions.jsonl").unlink()
    mixed = run / "legs" / "mixed"
    (mixed / "raw").mkdir(parents=True)
    lines = []
    for i, lg in enumerate(legs):
        shutil.copy(run / "legs" / lg / "raw" / "row_0.json", mixed / "raw" / f"row_{i}.json")
        o = json.loads((run / "legs" / lg / "bench_runs.jsonl").read_text().splitlines()[0])
        o.update(leg_id="mixed", rep_index=i, raw_file=f"raw/row_{i}.json")
        lines.append(json.dumps(o))
    (mixed / "bench_runs.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copy(run / "legs" / legs[0] / "launch.json", mixed / "launch.json")
    for lg in legs:
        shutil.rmtree(run / "legs" / lg)
    store.append_jsonl("decisions.jsonl", Decision(decision_id="d-baseline-mixed", gate_id="baseline-mixed", scope="baseline",
                                                   producer="import:vllm-bench", reference_legs=["mixed"], claim=Claim()))


ROWS = "".join(json.dumps(vllm09_row(*r[:1], "base", *r[1:])) + "\n" for r in RATES)
plant(Plant("i_vllm_rates_split", (), "vLLM benchmark_serving ~0.9 rows of request rates 10 / 30 / inf in one JSONL: imported as "
            "three legs, each its own baseline gate, never as repetitions (each FLAGs B3: one row is one repetition)",
            {f"baseline-base-request_rate{r}": ("FLAG", ["B3"]) for r in ("10.0", "30.0", "inf")},
            build=_imported("vllm", {"results.jsonl": ROWS}, "base"), source="issue 13", tags=TAG))
plant(Plant("i_vllm_rates_one_leg", ("E1",), "the same three rates written into one leg by a converter that reads rows as "
            "repetitions", {"baseline-mixed": ("FLAG", ["E1", "B1", "B2"])},  # B1/B2: the mix read as noise and a warm-up outlier
            build=_imported("vllm", {"results.jsonl": ROWS}, "base", then=_one_mixed_leg), source="issue 13", tags=TAG))
plant(Plant("i_vllm_all_failed", ("P11",), "`vllm bench serve` output where every request failed (completed 0, failed 8), "
            "aggregates only", {"baseline-base": ("FAIL", ["P11", "B3"])},  # B3: one row is one repetition
            build=_imported("vllm", {"r.json": json.dumps(vllm_all_failed())}, "base"), source="issue 13", tags=TAG))
