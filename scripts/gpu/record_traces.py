"""GPU profile traces for the profile gate's re-aggregation (issue 16), recorded on the device.

A transformers LlamaForCausalLM built from a config (hidden 4096, 4 layers, 32 heads,
intermediate 11008, vocab 32000; random bf16 weights), SDPA attention, batch 8 x 512 prefill
then 16 greedy decode steps with the KV cache, under torch.profiler (CPU + CUDA), twice: eager,
and with the model's forward torch.compile'd (Inductor: its Triton kernels are in the trace).

Writes to $OUT (or --out), per mode: trace_<mode>.json.gz (the profiler's chrome trace, as
export_chrome_trace wrote it, gzipped) and profiler_<mode>.json, the profiler's own accounting
read through its API: device time per kernel name (FunctionEvents on the CUDA device) and
key_averages' self device time per operator. geak's re-aggregation of the trace file is tested
against the latter on a machine with no GPU (tests/auditor/checks/test_profile_gpu_traces.py).

    python scripts/gpu/record_traces.py [--out DIR] [--modes eager,compiled] [--decode 16]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import torch


def build(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=4,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=2048,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    with torch.device("cuda"):
        m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    return m.eval()


def generate(model, fwd, ids: torch.Tensor, steps: int) -> torch.Tensor:
    from transformers import DynamicCache

    cache = DynamicCache()
    out = fwd(input_ids=ids, past_key_values=cache, use_cache=True)
    nxt = out.logits[:, -1:].argmax(-1)
    toks = [nxt]
    for _ in range(steps):
        out = fwd(input_ids=nxt, past_key_values=out.past_key_values, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
        toks.append(nxt)
    return torch.cat(toks, 1)


def accounting(prof) -> dict:
    """The profiler's own totals: device time per kernel (by name) and self device time per op."""
    kernels: dict[str, float] = {}
    ranges: dict[str, float] = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            t = float(e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total)
            # "## Call CompiledFxGraph ..." is a range annotated on the GPU timeline, not a kernel:
            # counted, it would book a compiled graph's kernels twice
            d = ranges if e.name.startswith("## ") else kernels
            d[e.name] = d.get(e.name, 0.0) + t
    ops = {}
    for a in prof.key_averages():
        t = float(getattr(a, "self_device_time_total", getattr(a, "self_cuda_time_total", 0.0)))
        if t > 0 and a.device_type != torch.autograd.DeviceType.CUDA:
            ops[a.key] = t
    return {
        "kernel_device_us": kernels,
        "op_self_device_us": ops,
        "kernel_total_us": sum(kernels.values()),
        "gpu_annotation_us": ranges,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/geak_traces"))
    ap.add_argument("--modes", default="eager,compiled")
    ap.add_argument("--decode", type=int, default=16)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from torch.profiler import ProfilerActivity, profile

    model = build()
    ids = torch.randint(0, 32000, (8, 512), device="cuda")
    print(f"device {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    for mode in a.modes.split(","):
        fwd = model if mode == "eager" else torch.compile(model, dynamic=None)
        t0 = time.time()
        with torch.no_grad():
            for _ in range(2):  # warm-up (and compile): never traced
                generate(model, fwd, ids, a.decode)
            torch.cuda.synchronize()
            warm = time.time() - t0
            # shapes recorded as vLLM's own profiler config does: served token counts come from them
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
                toks = generate(model, fwd, ids, a.decode)
                torch.cuda.synchronize()
        raw = out / f"trace_{mode}.json"
        prof.export_chrome_trace(str(raw))
        with open(raw, "rb") as f, gzip.open(out / f"trace_{mode}.json.gz", "wb", compresslevel=9) as g:
            g.write(f.read())
        raw.unlink()
        acc = accounting(prof)
        acc.update(
            mode=mode,
            tokens=list(toks.shape),
            warmup_s=round(warm, 1),
            torch=torch.__version__,
            device=torch.cuda.get_device_name(),
        )
        (out / f"profiler_{mode}.json").write_text(json.dumps(acc, indent=1))
        top = sorted(acc["op_self_device_us"].items(), key=lambda kv: -kv[1])[:8]
        tot = sum(acc["op_self_device_us"].values()) or 1.0
        print(
            f"{mode}: {len(acc['kernel_device_us'])} kernel names, {acc['kernel_total_us'] / 1e3:.1f} ms of kernel time; "
            f"trace {os.path.getsize(out / f'trace_{mode}.json.gz') / 1e6:.2f} MB gz; warm-up {warm:.0f} s",
            flush=True,
        )
        for k, v in top:
            print(f"  {k:<50} {100 * v / tot:5.1f}% self device time", flush=True)
        ktop = sorted(acc["kernel_device_us"].items(), key=lambda kv: -kv[1])[:8]
        for k, v in ktop:
            print(f"  kernel {k[:70]:<70} {100 * v / acc['kernel_total_us']:5.1f}%", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
