"""How tests/data/profile/vllm026_h100_8b.trace.json.xz was made: the worker trace geak's profile
phase captured on an H100 (2026-12-07; vLLM 0.26.0, torch.compile and CUDA graphs on, the
Llama-3-8B shape with dummy weights, 64 requests of 512 in / 64 out; runs its profile/round_1),
cut to three engine steps: the first prefill (513 tokens: Inductor's kernels launched one by one,
with their shapes recorded) and two decode steps of 64 (replayed CUDA graphs: kernels with no
launch of their own). Events are kept verbatim, except the flow arrows (ac2g) nothing reads.

    python tests/data/profile/trim_h100.py SRC.trace.json.gz /tmp/t.json
    xz -9e -c /tmp/t.json > tests/data/profile/vllm026_h100_8b.trace.json.xz
"""

import gzip
import json
import sys

KEEP = (0, 5, 6)  # step indices: the 513-token prefill and two 64-token decode steps


def main(src: str, dst: str) -> None:
    d = json.load(gzip.open(src))
    ev = d["traceEvents"]
    steps = sorted(
        (e for e in ev if e.get("cat") == "user_annotation" and e["name"].startswith("execute_context")),
        key=lambda e: e["ts"],
    )
    wins = [(steps[i]["ts"], steps[i + 1]["ts"]) for i in KEEP]
    keep = []
    for e in ev:
        if e.get("cat") == "ac2g":
            continue
        if e.get("ph") != "X" or any(a <= e["ts"] < b for a, b in wins):
            keep.append(e)
    d["traceEvents"] = keep
    with open(dst, "w") as f:
        json.dump(d, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
