"""The leg scheduler with no engine: assignment, concurrency per device set, Ctrl-C teardown of
real server processes, Ray tasks (artifacts written in place or shipped back), safe unpacking."""

import io
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time

import pytest

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.process import group_alive
from geak.auditor.evidence.store import RunStore
from geak.agents.runners.scheduler import LegBatch, LegJob, LocalScheduler, assign, get_scheduler, unpack_leg


def _job(i: int, devices: str) -> LegJob:
    return LegJob(f"leg_{i}", "aa", LaunchConfig(model="m", devices=devices), {})


def _sleepy(log: list):
    def one(store: RunStore, job: LegJob) -> LegResult:
        t = time.time()
        time.sleep(0.4)
        store.write_text(f"legs/{job.leg_id}/done.txt", job.cfg.devices)
        log.append((job.leg_id, job.cfg.devices, t, time.time()))
        return LegResult(job.leg_id, "ok", None, 1, None)

    return one


def test_assignment_is_round_robin_from_the_legs_position():
    assert assign(5, ["cpu:0", "cpu:1"]) == ["cpu:0", "cpu:1", "cpu:0", "cpu:1", "cpu:0"]
    assert assign(2, ["cpu:0", "cpu:1"], offset=3) == ["cpu:1", "cpu:0"]  # a resumed rung keeps each leg's set
    with pytest.raises(ValueError):
        assign(1, [])
    with pytest.raises(KeyError, match="known: local, ray"):
        get_scheduler("slurm")


def test_a_local_ray_cluster_declares_the_runs_device_sets():
    from geak.agents.runners.scheduler import RESOURCE, RayScheduler

    assert RayScheduler(sets=["cpu:0", "cpu:1"]).init_kw["resources"] == {RESOURCE + "cpu:0": 1, RESOURCE + "cpu:1": 1}
    assert (
        "resources" not in RayScheduler(address="ray://head:10001", sets=["cuda:0"]).init_kw
    )  # a cluster declares its own


def test_sets_run_at_once_and_a_sets_legs_in_order(tmp_path):
    store, log = RunStore(tmp_path / "run"), []
    jobs = [_job(0, "cpu:0"), _job(1, "cpu:1"), _job(2, "cpu:0"), _job(3, "cpu:1")]
    t0 = time.time()
    res = LocalScheduler().run(store, jobs, _sleepy(log), node="screen")
    wall = time.time() - t0
    assert [r.leg_id for r in res] == ["leg_0", "leg_1", "leg_2", "leg_3"]
    assert wall < 1.4  # 4 x 0.4 s serial would be 1.6 s; two sets: 0.8 s
    at = {lid: (s, e) for lid, _, s, e in log}
    assert at["leg_2"][0] >= at["leg_0"][1] and at["leg_3"][0] >= at["leg_1"][1]  # one set: in order
    assert min(at["leg_0"][1], at["leg_1"][1]) > max(at["leg_0"][0], at["leg_1"][0])  # two sets: overlapping
    rows, probs = store.read_jsonl("scheduler/batches.jsonl", LegBatch)
    assert not probs and rows[0][1].legs == {j.leg_id: j.cfg.devices for j in jobs} and rows[0][1].node == "screen"


def test_one_set_runs_serially_in_the_callers_thread_and_records_no_batch(tmp_path):
    store, log = RunStore(tmp_path / "run"), []
    LocalScheduler().run(store, [_job(0, "cpu"), _job(1, "cpu")], _sleepy(log))
    assert log[1][2] >= log[0][3] and not store.path("scheduler/batches.jsonl").exists()


def test_a_failing_leg_is_raised_after_the_other_sets_finish(tmp_path):
    store, log = RunStore(tmp_path / "run"), []
    ok = _sleepy(log)

    def one(store, job):
        if job.leg_id == "leg_0":
            raise OSError("disk full")
        return ok(store, job)

    with pytest.raises(OSError, match="disk full"):
        LocalScheduler().run(store, [_job(0, "cpu:0"), _job(1, "cpu:1")], one)
    assert [ln[0] for ln in log] == ["leg_1"]


CTRL_C = textwrap.dedent("""
    import signal, sys
    # a shell's background job inherits SIGINT ignored (CI starts the suite so): Ctrl-C as a terminal gives it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from pathlib import Path
    from geak.agents.engines.base import ENGINES, EngineAdapter, LaunchConfig
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.auditor.evidence.store import RunStore
    from geak.agents.runners.legs import LiveLegs
    from geak.agents.runners.scheduler import LegJob

    class Sleepy(EngineAdapter):  # a server that starts and never becomes healthy
        name, server_info_path, server_module = "sleepy", "/info", "sleepy"
        def server_argv(self, cfg, port, python): return [python, "-c", "import time; time.sleep(300)"]
        def server_env(self, cfg): return {}
        def resolved_config(self, info): return {}
        def bench_argv(self, **kw): return []
        def normalize_bench(self, raw, **kw): raise AssertionError

    ENGINES["sleepy"] = Sleepy
    out = Path(sys.argv[1])
    w = WorkloadSpec(dataset="random", num_prompts=1)
    jobs = [LegJob(f"aa_{i}", "aa", LaunchConfig(model="m", devices=f"cpu:{i}"), {"workload": w, "reps": 1}) for i in range(2)]
    legs = LiveLegs("sleepy", health_deadline_s=120, on_started=lambda s: (out / f"{s.pgid}.pgid").write_text(""))
    try:
        legs.batch(RunStore(out / "run"), jobs)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
""")


def test_ctrl_c_tears_every_server_down_and_a_resume_measures_those_legs_again(tmp_path):
    from geak.agents.engines.leg import UNFINISHED
    from geak.auditor.evidence.models import LegLaunch, WorkloadSpec
    from geak.agents.runners.legs import existing

    # its own lock directory (TMPDIR): a real leg elsewhere on this machine holds the real core locks
    locks = tmp_path / "tmp"
    locks.mkdir()
    p = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(locks)},
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list(tmp_path.glob("*.pgid"))) < 2:
            time.sleep(0.1)
        pgids = [int(f.stem) for f in tmp_path.glob("*.pgid")]
        assert len(pgids) == 2 and all(group_alive(g) for g in pgids)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        for f in tmp_path.glob("*.pgid"):
            try:
                os.killpg(int(f.stem), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert p.returncode == 130 and "interrupted" in out
    assert not any(group_alive(g) for g in pgids)
    store = RunStore(tmp_path / "run")
    assert "cancelled" in store.path("scheduler/batches.jsonl").read_text()
    assert store.path("scheduler/inflight").is_dir() and not list(
        store.path("scheduler/inflight").glob("*.json")
    )  # all unregistered
    w = WorkloadSpec(dataset="random", num_prompts=1)
    for i in range(2):
        lj, _ = store.read_json(f"legs/aa_{i}/launch.json", LegLaunch)
        assert lj.status == "failed" and lj.failure_reason.startswith(UNFINISHED + " (the run was cancelled)"), (
            lj.failure_reason
        )
        # resume: the torn-down leg is not taken as a measured failure; it is moved aside and measured again
        assert (
            existing(store, f"aa_{i}", role="aa", cfg=LaunchConfig(model="m", devices=f"cpu:{i}"), workload=w, reps=1)
            is None
        )
    assert len(list(store.path("abandoned").iterdir())) == 2


def test_a_shipped_leg_unpacks_regular_files_only_inside_its_directory(tmp_path):
    store = RunStore(tmp_path / "run")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (
            ("leg_1/launch.json", b"{}"),
            ("leg_1/raw/rep_0.json", b"[]"),
            ("leg_2/x", b"other leg"),
            ("../escape.txt", b"out"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("leg_1/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    unpack_leg(store, "leg_1", buf.getvalue())
    got = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink())
    assert got == ["run/legs/leg_1/launch.json", "run/legs/leg_1/raw/rep_0.json"]


def _ray_one(store: RunStore, job: LegJob) -> LegResult:
    store.write_text(f"legs/{job.leg_id}/launch.json", f'{{"devices": "{job.cfg.devices}", "pid": {os.getpid()}}}')
    store.write_text(f"legs/{job.leg_id}/affinity.txt", ",".join(map(str, sorted(os.sched_getaffinity(0)))))
    time.sleep(1.0)
    return LegResult(job.leg_id, "ok", None, 0, None)


def test_ray_tasks_land_their_legs_in_the_run_directory(tmp_path):
    pytest.importorskip("ray")
    from geak.agents.runners.scheduler import RESOURCE, RayScheduler

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the task function lives in this test module
    sched = RayScheduler(
        init_kw={"num_cpus": 2, "resources": {RESOURCE + "cpu:0": 1, RESOURCE + "cpu:1": 1}, "include_dashboard": False}
    )
    try:
        assert sched.missing(["cpu:0", "cuda:0"]) == ["cuda:0"]
        store = RunStore(tmp_path / "run")
        jobs = [_job(0, "cpu:0"), _job(1, "cpu:1")]
        res = sched.run(store, jobs, _ray_one)
        assert [r.status for r in res] == ["ok", "ok"]
        pids = {store.path(f"legs/leg_{i}/launch.json").read_text().split('"pid": ')[1] for i in range(2)}
        assert str(os.getpid()) + "}" not in pids  # ran in Ray workers, not here
        # each task's process ran its leg on the leg's own core, not on the sibling's
        assert [store.path(f"legs/leg_{i}/affinity.txt").read_text() for i in range(2)] == ["0", "1"]
        shipped = RayScheduler(ship=True)  # as on another node: written to scratch, shipped back, unpacked
        store2 = RunStore(tmp_path / "run2")
        assert [r.status for r in shipped.run(store2, jobs, _ray_one)] == ["ok", "ok"]
        assert '"devices": "cpu:1"' in store2.path("legs/leg_1/launch.json").read_text()
        with pytest.raises(RuntimeError, match="no Ray node declares device set"):
            sched.run(store, [_job(2, "cuda:5")], _ray_one)
    finally:
        ray.shutdown()


def test_an_op_harness_run_holds_its_device_set_and_sees_only_its_gpus(tmp_path, monkeypatch):
    """LiveHarness with a device set: locked like a leg, the set exported to the harness process."""
    import subprocess as sp

    from geak.agents.runners.op_runners import LiveHarness

    seen = {}

    def fake_run(argv, **kw):
        seen["argv"], seen["env"] = argv, kw.get("env")
        from geak.agents.engines.lock import DeviceBusy, DeviceLock

        try:  # the set is held while the harness runs
            DeviceLock("cuda:3", lock_dir=tmp_path / "tmp" / "geak-locks").acquire()
            seen["busy"] = False
        except DeviceBusy:
            seen["busy"] = True
        return sp.CompletedProcess(argv, 0)

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setattr(sp, "run", fake_run)
    status = LiveHarness()(
        RunStore(tmp_path / "run"), op="rms_norm", candidate="c.py", device="cuda", profile="p", devices="cuda:3"
    )
    assert status == "failed"  # the fake wrote no opbench.json
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "3" and seen["busy"] is True
    LiveHarness()(
        RunStore(tmp_path / "run"), op="rms_norm", candidate="c.py", device="cpu", profile="p", devices="cpu:1"
    )
    assert seen["argv"][:3] == ["taskset", "-c", "1"]


def test_a_ray_tasks_pin_is_the_legs_core_set_and_is_undone_after():
    from geak.agents.runners.scheduler import _OnCores

    before = set(os.sched_getaffinity(0))
    with _OnCores(LaunchConfig(model="m", devices=f"cpu:{min(before)}")):
        assert os.sched_getaffinity(0) == {min(before)}
    assert set(os.sched_getaffinity(0)) == before  # a pooled worker's next task starts unpinned
    for devices in ("cpu", "cuda:0"):  # the whole host, a GPU set: nothing to pin
        with _OnCores(LaunchConfig(model="m", devices=devices)):
            assert set(os.sched_getaffinity(0)) == before
    with pytest.raises(RuntimeError), _OnCores(LaunchConfig(model="m", devices=f"cpu:{min(before)}")):
        raise RuntimeError("a leg that fails")
    assert set(os.sched_getaffinity(0)) == before
