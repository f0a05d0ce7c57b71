"""The server pool without an engine: a kept server is a real process group (sleep) holding a
real lock; what frees it is a lock request on its units, another launch's take, or Ctrl-C."""

import time

import pytest

from geak.agents.engines import process
from geak.agents.engines.lock import DeviceLock
from geak.agents.engines.pool import POOL, KeptServer, server_key
from geak.agents.engines.process import ServerProcess, group_alive


@pytest.fixture
def kept(tmp_path):
    made = []

    def make(devices="cpu:0", key="k1", owner="aa_1"):
        s = ServerProcess(["sleep", "60"], env={}, log_path=tmp_path / f"{owner}.log").start()
        lock = DeviceLock(devices, lock_dir=tmp_path / "locks").acquire()
        k = KeptServer(
            key=key, devices=devices, server=s, lock=lock, base_url="http://127.0.0.1:1", owner_leg=owner, legs=[owner]
        )
        made.append(k)
        return k

    yield make
    POOL.close()
    for k in made:
        k.stop()


def _gone(pgid, within_s=10.0):
    deadline = time.time() + within_s
    while time.time() < deadline and group_alive(pgid):
        time.sleep(0.1)
    return not group_alive(pgid)


def test_a_lock_request_on_its_units_stops_a_kept_server_first(kept, tmp_path):
    k = kept("cpu:0")
    POOL.keep(k)
    # the whole host takes every core's lock: without the pool's eviction this would wait on itself
    with DeviceLock("cpu:0-1", lock_dir=tmp_path / "locks", timeout_s=2):
        assert _gone(k.server.pgid)
    assert POOL.kept() == {}


def test_a_lock_on_other_units_leaves_it_up(kept, tmp_path):
    k = kept("cpu:0")
    POOL.keep(k)
    with DeviceLock("cpu:1", lock_dir=tmp_path / "locks", timeout_s=2):
        assert k.server.alive()
    assert POOL.kept()["cpu:0"]["owner_leg"] == "aa_1"


def test_take_hands_back_the_same_launch_and_stops_another(kept):
    k = kept("cpu:0", key="base")
    POOL.keep(k)
    assert POOL.take("cpu:0", "base") is k and k.server.alive()
    POOL.keep(k)
    assert POOL.take("cpu:0", "other-launch") is None  # the caller starts its own: this one is in the way
    assert _gone(k.server.pgid)
    assert POOL.take("cpu:0", "base") is None


def test_a_dead_kept_server_is_not_handed_out(kept):
    k = kept("cpu:0", key="base")
    POOL.keep(k)
    k.server.stop(grace_s=1)
    assert POOL.take("cpu:0", "base") is None


def test_ctrl_c_stops_kept_servers_too(kept):
    k = kept("cpu:0")
    POOL.keep(k)
    try:
        assert process.cancel_all() >= 1
        assert _gone(k.server.pgid)
    finally:
        process.reset_cancel()


def test_the_key_is_the_argv_and_env():
    a = server_key("vllm", ["python", "-m", "x", "--port", "PORT"], {"A": "1"})
    assert a == server_key("vllm", ["python", "-m", "x", "--port", "PORT"], {"A": "1"})
    assert a != server_key("vllm", ["python", "-m", "x", "--port", "PORT", "--max-num-seqs", "8"], {"A": "1"})
    assert a != server_key("vllm", ["python", "-m", "x", "--port", "PORT"], {"A": "2"})
    assert a != server_key("sglang", ["python", "-m", "x", "--port", "PORT"], {"A": "1"})


@pytest.mark.parametrize(
    "role,reuse,keep",
    [
        ("aa", False, True),
        ("baseline", True, True),
        ("reference", True, True),
        ("candidate", False, False),
        ("validation_base", False, False),
        ("caching_audit", False, False),
    ],
)
def test_which_roles_reuse_and_keep(role, reuse, keep):
    from geak.agents.runners.legs import LiveLegs

    assert LiveLegs("vllm")._reuse_kw(role) == {"reuse": reuse, "keep": keep}
    assert LiveLegs("vllm", reuse=False)._reuse_kw(role) == {"reuse": False, "keep": False}
    assert LiveLegs("vllm")._reuse_kw(role, in_process=False) == {"reuse": False, "keep": False}  # a Ray task's process


def test_a_batch_for_another_process_closes_the_pool_first(kept, tmp_path):
    """Under Ray a batch's legs lock their sets in other processes, which this process's pool
    hook never sees: a server kept here for the baseline must be gone before they start."""
    from geak.agents.engines.base import LaunchConfig
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.auditor.evidence.store import RunStore
    from geak.agents.runners.legs import LiveLegs
    from geak.agents.runners.scheduler import LegJob

    seen = []

    class Elsewhere:  # a scheduler that runs legs out of this process (as RayScheduler does)
        def run(self, store, jobs, one, node=""):
            seen.append(POOL.kept())
            from geak.agents.engines.leg import LegResult

            return [LegResult(j.leg_id, "ok", None, 0, None) for j in jobs]

    k = kept("cpu:0")
    POOL.keep(k)
    job = LegJob(
        "screen_x",
        "candidate",
        LaunchConfig(model="m", devices="cpu:0"),
        {"workload": WorkloadSpec(dataset="random", num_prompts=1), "reps": 1},
    )
    LiveLegs("vllm", scheduler=Elsewhere()).batch(RunStore(tmp_path / "run"), [job])
    assert seen == [{}] and _gone(k.server.pgid)
