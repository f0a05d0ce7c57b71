"""Issue 36, step 3 on the GPU box: does the rope_kvcache plugin engage in a live vLLM 0.26 GPU
server (compiled, CUDA graphs on), and does it answer what vLLM answers?

Two server lifetimes on the shape-true 8B model with dummy weights (seeded: both draw the same
weights): the reference as served, then the candidate with the plugin (the Triton template).
Each answers the same prompts' first-token top-20 logprobs greedily; the candidate's log is
searched for the plugin's lines. Prints: start-up seconds, the plugin lines (registered / not
engaged / calls), the splitting ops the candidate's /server_info reports, and per prompt the
cosine and argmax of the two top-20s (the parity probe's test: cosine >= 0.99, same argmax).

    python3 scripts/gpu/plugin_check.py MODEL_DIR [WORK_DIR]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from geak.agents.engines.base import LaunchConfig, get_engine
from geak.agents.engines.http import http_json
from geak.agents.engines.ports import free_port
from geak.agents.engines.process import ServerProcess
from geak.agents.kernels.integrate import first_token_logprobs, package_plugin
from geak.agents.kernels.templates import TEMPLATES
from geak.auditor import stats

# the shape model's tokenizer starts with the tiny model's arithmetic vocabulary (scripts/gpu/shape_model.py)
PROMPTS = ["97+70=", "36+31=", "70+59=", "12+30=", "5+5="]


def serve(cfg: LaunchConfig, log: Path) -> tuple[dict[str, dict[str, float]], dict, float, str]:
    ad = get_engine("vllm")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    env = {**os.environ, **ad.server_env(cfg)}  # the leg's own merge (agents/engines/leg_server.py)
    with ServerProcess(ad.server_argv(cfg, port, sys.executable), env=env, log_path=log) as srv:
        srv.wait_healthy(f"{url}/health", 900)
        up = time.monotonic() - t0
        model = http_json(f"{url}/v1/models", timeout=30)["data"][0]["id"]
        tops = {p: first_token_logprobs(url, model, p, 20, 120) for p in PROMPTS}
        info = http_json(f"{url}/server_info?config_format=json", timeout=30)
        text = srv.log_text()
    return tops, info, up, text


def main() -> int:
    model = sys.argv[1]
    work = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/plugin_check")
    work.mkdir(parents=True, exist_ok=True)
    base = LaunchConfig(model=model, load_format="dummy", max_num_seqs=64, max_model_len=2048, devices="cuda:0")
    mod, fn = TEMPLATES[("rope_kvcache", "cuda")].split(":")
    b = package_plugin(work, "rope_kvcache", mod, fn, call_log=3)
    ref: dict[str, dict[str, float]] = {}
    if not os.environ.get("CAND_ONLY"):
        ref, _, up_ref, _ = serve(base, work / "ref.log")
        print(f"reference: up in {up_ref:.0f} s")
    cand, info, up_c, text = serve(b.apply(base), work / "cand.log")
    print(f"candidate: up in {up_c:.0f} s")
    lines = [ln for ln in text.splitlines() if "geak-plugin" in ln]
    reg = [ln for ln in lines if "registered" in ln]
    print(
        f"plugin lines: {len(lines)}; registered in {len(reg)} layers; not engaged: "
        f"{sum('not engaged' in ln for ln in lines)}"
    )
    for ln in lines[:6]:
        print("  " + ln[-220:])
    cc = (info.get("vllm_config") or {}).get("compilation_config") or {}
    print("candidate splitting_ops ends:", (cc.get("splitting_ops") or [])[-3:])
    worst: float | None = None
    for p in PROMPTS if ref else []:
        a, c = ref[p], cand[p]
        toks = sorted(set(a) | set(c))
        floor = min(list(a.values()) + list(c.values())) - 10.0
        cos = stats.cosine([a.get(t, floor) for t in toks], [c.get(t, floor) for t in toks]) or 0.0
        same = max(a, key=a.get) == max(c, key=c.get)
        worst = cos if worst is None else min(worst, cos)
        print(f"  {p!r:<30} cosine {cos:.5f} argmax {'same' if same else 'DIFFERENT'}")
    print(f"worst cosine {worst:.5f}" if worst is not None else "no reference served (CAND_ONLY): parity not measured")
    (work / "plugin_check.json").write_text(json.dumps({"ref": ref, "cand": cand, "lines": lines}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
