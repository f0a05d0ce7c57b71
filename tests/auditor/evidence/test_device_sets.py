"""Which devices a leg ran on, from the engine's own bytes: the cores vLLM CPU's log names, the
cards a GPU engine's server_info.json shows (evidence/devices.py). The GPU excerpt is vLLM 0.26's
real /server_info system_env from the H100 recording (tests/data/vllm_gpu/)."""

import copy
import json
import shutil
from pathlib import Path

from geak.auditor import aa_pairs
from geak.auditor.evidence.devices import describe, device_set, gpu_set
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.auditor.paired import derive

DATA = Path(__file__).resolve().parents[2] / "data" / "vllm_gpu" / "server_info_system_env.json"
GPU = Path(__file__).resolve().parents[3] / "runs" / "recorded" / "h100-vllm-quick"
CPU_LOG = "INFO 11-23 16:48:25 [cpu_worker.py:90] OMP threads binding of Process 81:\n\tOMP tid: 81, core 1\nlocal_rank=0, core ids=[1, 2]\n"


def _info():
    return json.loads(DATA.read_text())


def _env(info, lines):
    info["system_env"]["env_vars"] = "\n".join(lines)
    return info


def test_the_h100_engine_shows_the_one_card_it_could_use():
    assert gpu_set(_info()) == frozenset({"cuda:0"})


def test_a_visible_list_names_every_card_and_a_uuid_stays_a_name():
    assert gpu_set(_env(_info(), ["CUDA_VISIBLE_DEVICES=2,3"])) == frozenset({"cuda:2", "cuda:3"})
    assert gpu_set(_env(_info(), ["CUDA_VISIBLE_DEVICES=GPU-8f1e"])) == frozenset({"cuda:GPU-8f1e"})


def test_two_different_values_of_the_variable_show_no_set():
    assert gpu_set(_env(_info(), ["CUDA_VISIBLE_DEVICES=0", "CUDA_VISIBLE_DEVICES=1"])) is None


def test_without_the_variable_only_a_host_of_one_card_shows_the_set():
    one = _env(_info(), ["CUDA_HOME=/usr/local/cuda"])
    assert gpu_set(one) == frozenset({"cuda:0"})
    two = copy.deepcopy(one)
    two["system_env"]["nvidia_gpu_models"] = "GPU 0: NVIDIA H100 80GB HBM3\nGPU 1: NVIDIA H100 80GB HBM3"
    assert gpu_set(two) is None


def test_a_visible_list_that_is_no_card_id_shows_no_set():
    for odd in ("0;rm -rf /", "x" * 5000, "GPU-" + "a" * 500, ",".join(str(i) for i in range(100)), "-1"):
        assert gpu_set(_env(_info(), [f"CUDA_VISIBLE_DEVICES={odd}"])) is None, odd[:40]


def test_odd_bytes_show_no_set_and_raise_nothing():
    for odd in (
        None,
        [],
        "x",
        {"system_env": "x"},
        {"system_env": {"env_vars": 7, "nvidia_gpu_models": ["GPU 0: x"]}},
        {"system_env": {"env_vars": "CUDA_VISIBLE_DEVICES=", "nvidia_gpu_models": None}},
    ):
        assert gpu_set(odd) is None, odd


def test_the_cores_an_engine_log_names_come_first_and_describe_says_which_kind():
    assert device_set(CPU_LOG, frozenset({"cuda:0"})) == frozenset({1, 2})
    assert device_set("no binding line", frozenset({"cuda:0"})) == frozenset({"cuda:0"})
    assert device_set(None, None) is None
    assert describe(frozenset({2, 10})) == "cores [2, 10]" and describe(frozenset({"cuda:0"})) == "GPUs [cuda:0]"


def test_the_gpu_recordings_sequential_aa_legs_pair_as_an_abba_chain_on_one_card():
    run = RunEvidence(RunStore(GPU))
    spans = [aa_pairs.span_of(run.leg(f"aa_{i}")) for i in range(1, 7)]
    assert all(s is not None and s.cores == frozenset({"cuda:0"}) for s in spans)
    (design,), left = aa_pairs.sequences(spans, set(), 6)
    assert not left and design == (["aa_1", "aa_4", "aa_5"], ["aa_2", "aa_3", "aa_6"])
    res = derive(
        "abba", [run.leg(i) for i in design[0]], [run.leg(i) for i in design[1]], "output_throughput", True, 0.5
    )
    assert res.unverifiable is None and len(res.deltas) == 3
    assert [p["order"] for p in res.pairs] == ["ab", "ba", "ab"]


def test_a_leg_whose_engine_saw_another_card_breaks_the_abba_sequence(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(GPU, run_dir)
    info_file = run_dir / "legs" / "aa_4" / "server_info.json"
    info = json.loads(info_file.read_text())
    info["system_env"]["env_vars"] = info["system_env"]["env_vars"].replace(
        "CUDA_VISIBLE_DEVICES=0", "CUDA_VISIBLE_DEVICES=1"
    )
    info_file.write_text(json.dumps(info))
    run = RunEvidence(RunStore(run_dir))
    res = derive(
        "abba",
        [run.leg(i) for i in ("aa_1", "aa_4", "aa_5")],
        [run.leg(i) for i in ("aa_2", "aa_3", "aa_6")],
        "output_throughput",
        True,
        0.5,
    )
    assert res.unverifiable and "different device sets" in res.unverifiable and "GPUs [cuda:1]" in res.unverifiable
