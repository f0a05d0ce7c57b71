"""Work out which wheels an SGLang bundle for the GPU test machine needs, and write wheels.txt.

The machine (Python 3.12, torch 2.11.0+cu130, no registry) already has the packages named in
machine.txt. This resolves SGLang's runtime closure for that interpreter and platform the way
gpu-vllm found vLLM's (`pip install --dry-run --ignore-installed --report`, binary wheels only,
cp312, manylinux x86_64), takes out what the machine has and what a Llama-type model served with
`--attention-backend triton --sampling-backend pytorch` never imports (DROP, each with its
reason; checked with import_scan.py against the unpacked bundle), and writes the rest as
name==version. Needs network access to the package index; about a minute.

  usage: resolve.py [--sglang VERSION] [--out wheels.txt] [--pins] [--vllm-check]
    --pins        also print each candidate release's pins (torch, transformers, sglang-kernel, ...)
    --vllm-check [WHEELS_TXT]  also compare machine.txt with what gpu-vllm's bundle assumed the
                  machine has (vLLM 0.26.0's closure minus its wheels.txt; default ../shared/tools/...)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIP = [sys.executable, "-m", "pip"]
VLLM_WHEELS = HERE.parents[2] / ".." / "shared" / "tools" / "gpu-vllm" / "wheels.txt"

# The releases that pin torch==2.11.0, the machine's torch (0.5.18 moved to torch 2.13.0).
CANDIDATES = ["0.5.15", "0.5.15.post1", "0.5.16", "0.5.17"]
MACHINE_TORCH = "2.11.0"

# pip matches a manylinux tag exactly, so every glibc level up to the machine's is named. The
# machine's python is Ubuntu 24.04's 3.12.3 (glibc 2.39, not read there); sglang's own wheel needs
# manylinux_2_34. 2_35 is the highest gpu-vllm used, and enough.
PLATFORM = (
    ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
    + ["--abi", "cp312", "--abi", "abi3", "--abi", "none"]
    + [a for m in range(35, 4, -1) for a in ("--platform", f"manylinux_2_{m}_x86_64")]
    + [a for t in ("manylinux2014", "manylinux2010", "manylinux1", "linux") for a in ("--platform", f"{t}_x86_64")]
    + ["--platform", "any"]
)

# Machine versions the resolve is held to, so that what it picks for the rest works with them.
# numpy (2.5.2 there) and tokenizers (0.23.2) are not held: numba==0.65.1, which sglang pins,
# wants numpy<2.5 (numba is not imported at a server's start, and the machine's own numba stays),
# and transformers==5.12.1, which sglang pins, wants tokenizers<=0.23.0 (both are carried, below).
HOLD = {"torch", "torchvision", "torchaudio", "triton", "huggingface-hub", "safetensors"}

# Carried although the machine has another version: SGLang pins transformers==5.12.1 (every
# release 0.5.15-0.5.17 does; the machine has 5.17.0) and that transformers needs
# tokenizers<=0.23.0 (the machine has 0.23.2). They land in /tmp/site-sglang, ahead of the
# machine's on PYTHONPATH. The pin is real: under transformers 5.17.0 sglang's server does not
# import ("'qwen3_asr' is already used by a Transformers config"; seen on CPU, 2026-12-08).
CARRY_ANYWAY = {"transformers", "tokenizers"}

# What a Llama on Hopper with the triton attention backend and the pytorch sampler never loads.
# "guarded": every import of it reached at a server's start is in try/except (or behind a test that
# is false on CUDA); "lazy": imported only inside functions of features not used here. From
# import_scan.py over the unpacked bundle plus reading the call sites (2026-12-08, sglang 0.5.17).
DROP = {
    # FlashAttention 4 (CuTe-DSL, Blackwell) and its kernels: lazy, fa4 backend only
    "flash-attn-4": "FA4 (Blackwell); lazy, only the fa4 attention backend",
    "quack-kernels": "CuTe-DSL kernels for FA4/Blackwell; lazy",
    # CuTe-DSL: 180 MB; every import in flashinfer sits behind is_cute_dsl_available()/try
    "nvidia-cutlass-dsl": "CuTe-DSL (Blackwell, FP4 kernels); flashinfer's imports are guarded",
    "nvidia-cutlass-dsl-libs-base": "part of nvidia-cutlass-dsl",
    "nvidia-cutlass-dsl-libs-core": "part of nvidia-cutlass-dsl",
    "nvidia-cutlass-dsl-libs-cu12": "part of nvidia-cutlass-dsl",
    "nvidia-cutlass-dsl-libs-cu13": "part of nvidia-cutlass-dsl",
    "nvidia-cuda-nvdisasm": "needed by nvidia-cutlass-dsl only",
    # CUDA 13.5 toolchain wheels (tilelang's nvcc extra, cutlass): the machine has nvcc 13.0
    "nvidia-cuda-nvcc": "CUDA toolchain wheel; the machine has its own nvcc (13.0)",
    "nvidia-nvvm": "CUDA toolchain wheel (nvcc's)",
    "nvidia-cuda-crt": "CUDA toolchain wheel (nvcc's)",
    "nvidia-cuda-cccl": "CUDA toolchain wheel (tilelang's nvcc extra)",
    "nvidia-mathdx": "cuBLASDx/cuFFTDx headers for JIT kernels not on this path",
    # DeepSeek-style attention/MLA/FP8 kernels
    "tilelang": "DSA/NSA attention kernels (DeepSeek V3.2); lazy",
    "z3-solver": "tilelang's",
    "tokenspeed-mla": "MLA kernels (DeepSeek); lazy",
    "tokenspeed-triton": "a second Triton for tokenspeed-mla; 95 MB",
    "sgl-deep-gemm": "FP8 GEMM; its import is guarded (ENABLE_JIT_DEEPGEMM turns false)",
    "humming-kernels": "humming quantization; lazy",
    "pyelftools": "humming-kernels'",
    "helion": "helion kernels; not imported at start",
    "filecheck": "helion's",
    "torchao": "only with --torchao-config (lazy)",
    "kernels": "HF kernels hub (downloads kernels; no network there); lazy",
    "kernels-data": "kernels'",
    "tomlkit": "kernels'",
    "cuda-tile": "flashinfer's cuTile kernels (Blackwell); not imported at start",
    "nccl4py": "flashinfer comm (multi-GPU); not imported at start",
    "torch-memory-saver": "only with --enable-memory-saver (guarded)",
    # optional front-ends and back-ends
    "torchcodec": "video decoding; guarded",
    "modelscope": "only with SGLANG_USE_MODELSCOPE",
    "modelscope-hub": "modelscope's",
    "cryptography": "modelscope-hub's",
    "outlines": "outlines grammar backend (default is xgrammar); lazy",
    "outlines-core": "outlines'",
    "airportsdata": "outlines'",
    "pycountry": "outlines'",
    "lark": "outlines'",
    "diskcache": "outlines'",
    "nest-asyncio": "outlines'",
    "llguidance": "llguidance grammar backend (opt-in); lazy",
    "mistral-common": "Mistral tokenizers; guarded (gguf.vocab)",
    "pydantic-extra-types": "mistral-common's; guarded in fastapi",
    "anthropic": "anthropic SDK; not imported by the server",
    "httpx2": "anthropic's",
    "httpcore2": "anthropic's",
    "truststore": "httpx2's",
    "docstring-parser": "anthropic's",
    "openai-harmony": "gpt-oss only; not imported at start",
    "blobfile": "tiktoken-file tokenizers; lazy",
    "pycryptodomex": "blobfile's",
    "easydict": "a few model configs; lazy",
    "smg-grpc-proto": "gRPC server mode only",
    "smg-grpc-servicer": "gRPC server mode only",
    "grpcio-health-checking": "gRPC server mode only",
    "grpcio-reflection": "gRPC server mode only",
    "py-spy": "a binary for stack dumps; installed under --target it is not on PATH anyway",
    "tzdata": "python-dateutil 4's (the machine has its own dateutil)",
    "nvidia-cudnn-frontend": "flashinfer's cuDNN paths; guarded (CUDNN_AVAILABLE from a try)",
    # IPython 9 imports these lazily (completion, rich tracebacks, the terminal); sglang.utils
    # imports only IPython.display, which needs traitlets (carried) and pygments (the machine's)
    "jedi": "IPython's completion; lazy",
    "parso": "jedi's",
    "pexpect": "IPython's terminal; lazy",
    "ptyprocess": "pexpect's",
    "prompt-toolkit": "IPython's terminal; lazy",
    "wcwidth": "prompt-toolkit's",
    "stack-data": "IPython's tracebacks; lazy",
    "pure-eval": "stack-data's",
    "executing": "stack-data's",
    "asttokens": "stack-data's",
    "matplotlib-inline": "IPython's inline plots; not imported",
    "ipython-pygments-lexers": "IPython's highlighting; not imported by IPython.display",
}

# Not dropped although large or optional-looking, because a server start imports them plainly:
# IPython (sglang.utils), soundfile + cffi (the transcription routes), datasets + dill (the client,
# sglang.benchmark.serving; the sampling params), xgrammar (function-call parsers), flashinfer-python
# (under `if is_cuda()`), compressed-tensors, jsonschema, opentelemetry-api (fastapi).


# geak's own runtime deps (pyproject), for WITH_GEAK=1 build.sh: a `geak run` on a machine that
# has only this bundle. litellm is left out as in gpu-vllm (geak imports it only for live LLM roles).
GEAK_REQS = ["langgraph", "langgraph-checkpoint-sqlite", "pydantic", "msgspec", "typer", "rich", "pyyaml", "jinja2"]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_names(path: Path) -> dict[str, str | None]:
    """name -> version (None where unknown) from a name[==version] file with # comments."""
    out: dict[str, str | None] = {}
    for ln in path.read_text().splitlines():
        ln = ln.split("#")[0].strip()
        if ln:
            name, _, ver = ln.partition("==")
            out[norm(name)] = ver or None
    return out


def resolve(reqs: list[str], constraints: list[str], tmp: Path) -> dict[str, str]:
    """name -> version of everything pip would install for reqs on the machine's platform."""
    cfile = tmp / "constraints.txt"
    cfile.write_text("\n".join(constraints) + "\n")
    report = tmp / "report.json"
    cmd = PIP + ["install", "-q", "--dry-run", "--ignore-installed", "--report", str(report)]
    cmd += PLATFORM + ["--target", str(tmp / "t"), "-c", str(cfile), *reqs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"pip could not resolve {reqs}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    data = json.loads(report.read_text())
    return {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in data["install"]}


def pins(version: str, tmp: Path) -> dict[str, str]:
    """The interesting Requires-Dist lines of sglang==version's cp312 wheel."""
    d = tmp / f"sglang-{version}"
    subprocess.run(PIP + ["download", "-q", "--no-deps", *PLATFORM, "-d", str(d), f"sglang=={version}"], check=True)
    (whl,) = d.glob("*.whl")
    with zipfile.ZipFile(whl) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    keys = ("torch", "torchvision", "torchaudio", "transformers", "sglang-kernel", "sgl-kernel", "flashinfer")
    out = {}
    for ln in lines:
        if ln.startswith("Requires-Dist:") and "extra ==" not in ln:
            spec = ln.split(":", 1)[1].strip().split(";")[0]
            name = norm(re.split(r"[<>=!~\[ ]", spec, maxsplit=1)[0])
            if name.startswith(keys):
                out[name] = spec
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sglang", default=None, help="release (default: the newest candidate pinning torch 2.11.0)")
    ap.add_argument("--out", default=str(HERE / "wheels.txt"))
    ap.add_argument("--pins", action="store_true")
    ap.add_argument("--geak-out", default=str(HERE / "geak_wheels.txt"))
    ap.add_argument("--vllm-check", nargs="?", const=str(VLLM_WHEELS), default=None, metavar="WHEELS_TXT")
    a = ap.parse_args()
    machine = read_names(HERE / "machine.txt")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        chosen = a.sglang
        if a.pins or chosen is None:
            for v in CANDIDATES:
                p = pins(v, tmp)
                print(f"sglang {v}: " + ", ".join(p[k] for k in sorted(p)))
                if p.get("torch", "").replace(" ", "") == f"torch=={MACHINE_TORCH}":
                    chosen = chosen if a.sglang else v
            if chosen is None:
                sys.exit("no candidate pins torch==" + MACHINE_TORCH)
        held = [f"{n}=={v}" for n, v in machine.items() if n in HOLD and v]
        closure = resolve([f"sglang=={chosen}"], held, tmp)
        carry = {n: v for n, v in closure.items() if (n not in machine or n in CARRY_ANYWAY) and n not in DROP}
        # geak's deps in the versions gpu-vllm's bundle ran geak with, where it has them, and
        # in the versions this bundle carries; only what neither the machine nor this bundle has
        tested = read_names(VLLM_WHEELS) if VLLM_WHEELS.is_file() else {}
        same = [f"{n}=={v}" for n, v in tested.items() if v and n not in carry and n != "vllm"]
        geak = resolve(GEAK_REQS, held + [f"{n}=={v}" for n, v in carry.items()] + same, tmp)
        geak_only = {n: v for n, v in geak.items() if n not in machine and n not in carry}
        if a.vllm_check:
            vl = resolve(["vllm==0.26.0"], held, tmp)
            shipped = read_names(Path(a.vllm_check))
            assumed = set(vl) - set(shipped)
            print("vllm closure minus gpu-vllm/wheels.txt, not in machine.txt:", sorted(assumed - set(machine)))
    unused = sorted(set(DROP) - set(closure))
    if unused:
        print("note: DROP names not in this closure:", unused)
    header = [
        f"# SGLang {chosen} for the GPU test machine (Python 3.12, torch {MACHINE_TORCH}+cu130): its",
        "# runtime closure for cp312 manylinux x86_64, written by resolve.py. Not listed:",
        "# - what the machine has (machine.txt): torch, triton, the nvidia-* CUDA runtime wheels, numpy,",
        "#   ...; except transformers and tokenizers, carried in the versions SGLang pins (resolve.py",
        "#   CARRY_ANYWAY);",
        "# - flashinfer-cubin (448 MB; sglang 0.5.16+ no longer requires it): flashinfer JIT-compiles",
        "#   with the machine's nvcc, and --sampling-backend pytorch avoids its sampling kernels;",
        f"# - {len(DROP)} packages a Llama with --attention-backend triton never imports (resolve.py DROP,",
        "#   each with its reason: FA4, CuTe-DSL, tilelang, DeepGEMM, outlines, gRPC mode, ...).",
        "# sglang-kernel is listed whole; build.sh ships it without flash_ops.abi3.so (FA3, 342 MB).",
    ]
    body = [f"{n}=={v}" for n, v in sorted(carry.items())]
    Path(a.out).write_text("\n".join(header + body) + "\n")
    Path(a.geak_out).write_text(
        "# geak's runtime deps (resolve.py GEAK_REQS; litellm left out) that neither the machine nor\n"
        "# wheels.txt has, in gpu-vllm's tested versions where it lists them. build.sh adds them with\n"
        "# WITH_GEAK=1.\n" + "".join(f"{n}=={v}\n" for n, v in sorted(geak_only.items()))
    )
    on_machine, dropped = len(set(closure) & set(machine)), len(set(closure) & set(DROP))
    print(f"sglang {chosen}: closure {len(closure)}, machine has {on_machine}, dropped {dropped}, carried {len(carry)}")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
