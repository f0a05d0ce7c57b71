"""How tests/data/profile/vllm_cpu_tiny.trace.json.xz was made: the real worker trace of
vLLM-on-CPU 0.32 serving models/tiny-arith under 64 requests (torch profiler, record_shapes,
torch.compile on), cut to its first 24 engine steps. Events are kept verbatim; only later
ones are dropped (6,915 of 13,750 events), so it stays under 200 KB.

    python tests/data/profile/trim_trace.py SRC.pt.trace.json.gz /tmp/t.json.gz
    gzip -dc /tmp/t.json.gz | xz -9e > tests/data/profile/vllm_cpu_tiny.trace.json.xz

(kept as xz, a third of the gzip: tests/fixture_traces.py gives the tests gzip again)
"""

import gzip
import json
import sys

STEPS = 24


def main(src: str, dst: str) -> None:
    d = json.load(gzip.open(src))
    ev = d["traceEvents"]
    steps = sorted((e for e in ev if e.get("cat") == "user_annotation" and e["name"].startswith("execute_context")), key=lambda e: e["ts"])
    end = steps[STEPS]["ts"]
    d["traceEvents"] = [e for e in ev if e.get("ph") != "X" or e["ts"] + e.get("dur", 0) <= end]
    with open(dst, "wb") as f:
        f.write(gzip.compress(json.dumps(d).encode(), mtime=0))


if __name__ == "__main__":
    main(*sys.argv[1:3])
