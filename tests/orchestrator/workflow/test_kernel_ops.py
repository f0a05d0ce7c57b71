"""Which op the kernel phase takes for a routed family (issue 36): on a GPU the rotary goes with the
KV-cache write after it (rope_kvcache, one kernel across the split point the compiled server runs
as two ops); on a CPU the fused op's plugin cannot write the CPU backend's cache, so rotary stays
alone. Every op it may take has a template on that device, and the fused one an engine integration."""

from geak.agents.kernels.integrate import LAYERS
from geak.agents.kernels.specs import FAMILIES
from geak.agents.kernels.templates import TEMPLATES
from geak.orchestrator.workflow.phases.kernel import FUSED_FIRST, integrable_ops, ops_serving


def test_a_routed_rotary_is_fused_with_the_cache_write_on_a_gpu_only():
    assert ops_serving("rotary", "cuda") == ("rope_kvcache", "rotary")
    assert ops_serving("rotary", "cpu") == ("rotary",)
    assert ops_serving("rmsnorm", "cuda") == ("rmsnorm",)


def test_every_fused_choice_serves_its_family_and_can_be_integrated():
    for (family, device), ops in FUSED_FIRST.items():
        for op in ops:
            assert FAMILIES[op] == family and (op, device) in TEMPLATES
        assert ops[0] in integrable_ops() and ops[0] in LAYERS
