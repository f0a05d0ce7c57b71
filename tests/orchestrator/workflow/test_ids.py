"""The one place ids are built: the leg a node measures is the leg the next node names."""

from geak.orchestrator.workflow import ids


def test_config_legs_follow_the_measure_rounds():
    assert ids.config_legs("max_num_seqs-32", 1, ["baseline"]) == (["baseline"], ["cfg_max_num_seqs-32"])
    refs, cands = ids.config_legs("c", 3, ["baseline"])
    assert refs == ["baseline", ids.config_ref_leg("c", 1), ids.config_ref_leg("c", 2)]
    assert (
        cands
        == [ids.config_leg("c", 0), ids.config_leg("c", 1), ids.config_leg("c", 2)]
        == ["cfg_c", "cfg_c_m1", "cfg_c_m2"]
    )


def test_kernel_legs_and_gates():
    assert ids.kernel_legs("silu_and_mul", 0) == ("kref_silu_and_mul", "kcand_silu_and_mul")
    assert ids.kernel_leg_sets("op", 2) == (["kref_op", "kref_op_m1"], ["kcand_op", "kcand_op_m1"])
    assert ids.decision_id(ids.kernel_gate("op"), 1) == "d-kernel-op-1"
    assert ids.is_harness_decision(ids.decision_id(ids.harness_gate("op"), 0))


def test_validation_plan_is_interleaved_then_the_caching_audit():
    plan = ids.validation_plan(2, True)
    assert [r for _, r in plan] == [
        "validation_base",
        "validation_final",
        "validation_base",
        "validation_final",
        "caching_audit",
    ]
    assert (
        ids.is_bundle_decision(ids.bundle_decision(0))
        and ids.baseline_leg(0) == "baseline"
        and ids.baseline_leg(2) == "baseline_r2"
    )
    assert ids.candidate_id("max_num_seqs", 32) == "max_num_seqs-32"


def test_paired_designs_name_their_legs_here():
    # a crossover: one leg per side per period; its A/A legs are crossovers of four legs
    assert ids.paired_legs("a", "b", "crossover", 2) == (["a_p1", "a_p2"], ["b_p1", "b_p2"])
    assert ids.aa_designs(4, "crossover", 6) == [(["aa1_a_p1", "aa1_a_p2"], ["aa1_b_p1", "aa1_b_p2"])]
    assert len(ids.aa_designs(5, "crossover", 6)) == 2  # rounded up to whole crossovers
    assert ids.aa_legs(4, "crossover") == ["aa1_a_p1", "aa1_b_p1", "aa1_a_p2", "aa1_b_p2"]  # run order
    assert ids.aa_legs(2) == ["aa_1", "aa_2"] and ids.aa_designs(2, "blocks", 6) == []
    # abba: one A and one B leg per pair
    assert ids.aa_designs(2, "abba", 3) == [(["aa_a_1", "aa_a_2", "aa_a_3"], ["aa_b_1", "aa_b_2", "aa_b_3"])]
    # a paired config gate measures its reference afresh each round, and the decision names every round
    assert ids.config_paired_legs("c", 1, "crossover", 6) == (
        ["xref_c_m1_p1", "xref_c_m1_p2"],
        ["xcfg_c_m1_p1", "xcfg_c_m1_p2"],
    )
    refs, cands = ids.config_legs_of("c", 2, ["baseline"], "crossover")
    assert refs == ["xref_c_p1", "xref_c_p2", "xref_c_m1_p1", "xref_c_m1_p2"] and "baseline" not in refs
    assert cands == ["xcfg_c_p1", "xcfg_c_p2", "xcfg_c_m1_p1", "xcfg_c_m1_p2"]
    assert ids.config_legs_of("c", 1, ["baseline"]) == ids.config_legs("c", 1, ["baseline"])
