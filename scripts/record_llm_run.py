"""Record runs/recorded/tiny-cpu-llm: the CI workflow on the real engine (vLLM-on-CPU) with every
LLM role driven through litellm against a local OpenAI-compatible server whose answers are
scripted (tests/orchestrator/scripted_roles.py), so `geak replay --skills/--llm` has a recording
whose prompts and answers are real files.

    .venv/bin/python scripts/record_llm_run.py [--run-dir runs/recorded/tiny-cpu-llm]

The recording ships as its archive (runs/recorded/tiny-cpu-llm.tar.xz): the unpacked copy of the
old one is removed first, and the new run is packed beside itself when it completes (commit the
archive).

The server lives in this process; `geak run` is a child process talking to it over HTTP. The
API key is a dummy in an environment variable (never written: geak stores only its name).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "orchestrator"))

from fake_openai import KEY_ENV, FakeOpenAI  # noqa: E402
from scripted_roles import script  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=str(REPO / "runs" / "recorded" / "tiny-cpu-llm"))
    a = ap.parse_args()
    server = FakeOpenAI()
    server.script = [script(auditor="judge")] * 200
    env = {**os.environ, KEY_ENV: "sk-scripted-not-a-secret", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    from geak.auditor import runpack

    run_dir = Path(a.run_dir)
    archive = run_dir.with_name(run_dir.name + runpack.SUFFIX)
    if archive.is_file() and runpack.is_unpacked(run_dir, archive):
        shutil.rmtree(run_dir)  # a copy of the archive being replaced, nothing of its own
        runpack.stamp_path(run_dir).unlink(missing_ok=True)
    geak = Path(sys.executable).with_name("geak")
    cmd = [
        str(geak),
        "run",
        "--run-dir",
        a.run_dir,
        "--workflow",
        str(REPO / "workflows" / "ci.yaml"),
        "--max-num-seqs",
        "4",
        "--use-auditor",
        "--llm",
        "openai/scripted-roles",
        "--api-base",
        server.api_base,
        "--api-key-env",
        KEY_ENV,
    ]
    print("+", " ".join(cmd), flush=True)
    try:
        rc = subprocess.call(cmd, env=env, cwd=REPO)
    finally:
        server.stop()
    print(f"{len(server.requests)} LLM request(s) answered; geak exited {rc}")
    if rc == 0:
        print(f"packed into {runpack.pack(run_dir, archive)}: commit it")
    return rc


if __name__ == "__main__":
    sys.exit(main())
