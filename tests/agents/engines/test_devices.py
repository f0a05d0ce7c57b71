"""Device sets (split, parse, per-unit locks) and the host fingerprint against a fake NVML."""

import subprocess
import sys

import pytest

from geak.agents.engines import host
from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.devices import DeviceSet, id_list, parse, split
from geak.agents.engines.lock import DeviceBusy, DeviceLock
from geak.agents.engines.vllm import VllmAdapter

from fake_nvml import fake_nvml


@pytest.mark.parametrize(
    "devices,tp,want",
    [
        ("0", 1, ["cuda:0"]),
        ("0,1", 1, ["cuda:0", "cuda:1"]),
        ("0,1", 2, ["cuda:0-1"]),
        ("0-7", 1, [f"cuda:{i}" for i in range(8)]),
        ("0-7", 2, ["cuda:0-1", "cuda:2-3", "cuda:4-5", "cuda:6-7"]),
        ("cuda:0,1,2,3", 2, ["cuda:0-1", "cuda:2-3"]),
    ],
)
def test_gpus_split_into_sets_of_tp(devices, tp, want):
    assert [s.name for s in split(devices, tp=tp)] == want


def test_all_devices_counts_gpus_and_cpu_core_sets():
    assert [s.name for s in split("all", tp=2, gpu_count=8)] == ["cuda:0-1", "cuda:2-3", "cuda:4-5", "cuda:6-7"]
    assert [s.name for s in split("cpu:0-1", cores_per_leg=1)] == ["cpu:0", "cpu:1"]
    assert [s.name for s in split("cpu:0-3")] == ["cpu:0-3"]
    assert [s.name for s in split("cpu")] == ["cpu"]


@pytest.mark.parametrize(
    "devices,kw,msg",
    [
        ("0,1,2", {"tp": 2}, "do not split into sets of 2"),
        ("0,0", {}, "twice"),
        ("0,x", {}, "not a device id"),
        ("all", {"gpu_count": 0}, "no GPU is visible"),
        ("0-8", {"gpu_count": 8}, "has 8 GPU"),
    ],
)
def test_bad_device_lists_say_what_to_write(devices, kw, msg):
    with pytest.raises(ValueError, match=msg):
        split(devices, **kw)


def test_names_round_trip_and_a_launch_config_keeps_one_spelling():
    assert id_list((0, 1, 2, 5)) == "0-2,5"
    assert parse("cuda:0,1") == DeviceSet("cuda", (0, 1)) and parse("0,1").name == "cuda:0-1"
    assert LaunchConfig(model="m", devices="cuda:0,1").devices == "cuda:0-1"
    with pytest.raises(ValueError, match="use cpu, cpu:CORES"):
        LaunchConfig(model="m", devices="tpu:0")


def test_a_set_is_what_the_server_sees():
    ad = VllmAdapter()
    env = ad.server_env(LaunchConfig(model="m", devices="cuda:2,3"))
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3" and "VLLM_CPU_OMP_THREADS_BIND" not in env
    env = ad.server_env(LaunchConfig(model="m", devices="cpu:1"))
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "1" and "CUDA_VISIBLE_DEVICES" not in env
    assert LaunchConfig(model="m", devices="cpu:0-1").pin_plan() == ("0-1", "0-1")  # server and client on the set


def test_overlapping_sets_exclude_each_other_and_disjoint_ones_do_not(tmp_path):
    code = (
        "from geak.agents.engines.lock import DeviceLock; from pathlib import Path; import sys; "
        f"DeviceLock(sys.argv[1], lock_dir=Path({str(tmp_path)!r})).acquire()"
    )

    def other(devices):
        return subprocess.run([sys.executable, "-c", code, devices], capture_output=True, text=True)

    with DeviceLock("cuda:0,1", lock_dir=tmp_path):
        r = other("cuda:1,2")  # shares GPU 1 under another name
        assert r.returncode != 0 and "DeviceBusy" in r.stderr
        assert other("cuda:2,3").returncode == 0
    with DeviceLock("cpu:0", lock_dir=tmp_path):
        assert other("cpu:1").returncode == 0
        assert other("cpu").returncode != 0  # the whole host holds every core
    with pytest.raises(DeviceBusy):
        with DeviceLock("cuda:0", lock_dir=tmp_path):
            DeviceLock("cuda:0", lock_dir=tmp_path).acquire()  # a second thread of one process is refused too


# ---------------------------------------------------------------- fake NVML


@pytest.mark.parametrize("n", [1, 2, 8])
def test_gpu_fingerprint_of_a_set_lists_its_own_gpus_and_their_foreign_processes(monkeypatch, n):
    from geak.agents.engines import devices

    own, sibling, stranger = 1000, 2000, 3000
    procs: dict[int, list[int]] = {0: [own]}
    procs.setdefault(n - 1, []).extend([sibling, stranger])
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(n, procs))
    assert devices.nvml_gpu_count() == n
    assert [s.name for s in split("all", tp=1)] == [f"cuda:{i}" for i in range(n)]
    fp = host.fingerprint(own_pids={own}, devices="cuda:0", sample_s=0)
    assert [g.index for g in fp.gpus] == [0] and fp.gpus[0].name == "NVIDIA H200"
    assert fp.gpus[0].foreign_processes == ([str(sibling), str(stranger)] if n == 1 else [])
    last = host.fingerprint(own_pids={sibling}, devices=f"cuda:{n - 1}", sample_s=0)
    assert [g.index for g in last.gpus] == [n - 1]
    # a stranger on the leg's own GPU is foreign; with one GPU the first leg's pid is too
    assert last.gpus[0].foreign_processes == ([str(own), str(stranger)] if n == 1 else [str(stranger)])
    whole = host.fingerprint(own_pids={own}, sample_s=0)
    assert len(whole.gpus) == n  # no set named: every GPU NVML sees


def test_no_nvml_means_no_gpus(monkeypatch):
    from geak.agents.engines import devices

    broken = fake_nvml(2, {})
    broken.nvmlInit = lambda: (_ for _ in ()).throw(RuntimeError("NVML Shared Library Not Found"))
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert devices.nvml_gpu_count() == 0 and host.fingerprint(sample_s=0).gpus == []


def test_sibling_load_is_booked_apart_from_foreign_load(monkeypatch):
    busy = {11: 0.9, 12: 0.05, 21: 0.8, 31: 0.3}  # own server, own client, sibling, stranger
    aff = {11: {0}, 12: {0}, 21: {1}, 31: {0, 1}}
    monkeypatch.setattr(host, "_busy", lambda w: busy)
    monkeypatch.setattr(host, "_affinity", lambda p: aff.get(p))
    fp = host.fingerprint(own_pids={11, 12}, devices="cpu:0", sibling_pids={"aa_2": {21}}, sample_s=1.0)
    assert fp.foreign_cpu_busy_cores == 0.3 and fp.sibling_cpu_busy_cores == 0.8
    assert fp.shared_core_busy_cores == 0.3  # the pinned sibling adds nothing on core 0; the unpinned stranger does
    assert fp.sibling_legs == ["aa_2"] and fp.device_set == "cpu:0"
    aff[21] = {0, 1}  # the sibling not pinned away
    assert (
        host.fingerprint(
            own_pids={11, 12}, devices="cpu:0", sibling_pids={"aa_2": {21}}, sample_s=1.0
        ).shared_core_busy_cores
        == 1.1
    )
