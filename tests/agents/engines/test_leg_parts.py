"""run_leg's typed boundary (issue 35): a workflow's loose leg options sorted into what to measure,
what a caller hooks in and how the server comes; an option no group has is refused by name."""

import pytest

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg_spec import LegHooks, LegSpec, Serving, leg_parts
from geak.auditor.evidence.models import WorkloadSpec

W = WorkloadSpec(dataset="random", num_prompts=4, input_len=8, output_len=4, max_concurrency=2, seed=0)
CFG = LaunchConfig(model="m")


def test_each_option_lands_in_its_group():
    def barrier_hook(s):
        return None

    spec, hooks, serving = leg_parts(
        "aa_1", "aa", CFG, workload=W, reps=2, on_started=barrier_hook, reuse=True, health_deadline_s=30.0
    )
    assert spec == LegSpec("aa_1", "aa", CFG, W, reps=2)
    assert hooks == LegHooks(on_started=barrier_hook) and hooks.own_server_only
    assert serving == Serving(reuse=True, health_deadline_s=30.0)
    assert not LegHooks().own_server_only


def test_an_unknown_option_is_refused_naming_the_known_ones():
    with pytest.raises(TypeError) as e:
        leg_parts("aa_1", "aa", CFG, workload=W, reps=2, warmups=3)
    msg = str(e.value)
    assert (
        "run_leg has no option 'warmups'" in msg
        and "warmup" in msg
        and "rep_barrier" in msg
        and "bench_timeout_s" in msg
    )
    assert "leg_id" not in msg.split("known:")[1]


def test_the_spec_is_required_where_it_has_no_default():
    with pytest.raises(TypeError):
        leg_parts("aa_1", "aa", CFG, reps=2)  # no workload: a leg measures something
