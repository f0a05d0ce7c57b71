"""Plants of quality evidence (issue 33): the dummy-weights policy and the accuracy count.

On dummy weights (the engine's resolved load_format) an accuracy probe scores 0% on both sides and
"holds" for any change; token-level parity is the evidence a lever left the math alone, and a
lever that changes the numerics by design is withheld whatever parity says. accuracy.json's count
is the leg runner's word: the auditor re-scores accuracy_items.jsonl.
"""

from __future__ import annotations

from typing import Any

from .plants import Plant, _both, _edit_json, _resolved, _set, plant
from .plants_tamper import CFG

TAG = ("quality",)
ALL_LEGS = [
    "aa_1",
    "aa_2",
    "baseline",
    "cfg_seqs512",
    "kernel_rmsnorm",
    "val_base_1",
    "val_final_1",
    "val_base_2",
    "val_final_2",
    "caching_audit",
]
DUMMY = {"load_config.load_format": "dummy"}


def _dummy(outputs: str = "random", **per_leg: dict[str, Any]):
    """Every leg on dummy weights, greedy outputs the same random-weight gibberish (``outputs``);
    ``per_leg``: further LegSpec fields for one leg."""

    def f(legs: dict[str, Any]) -> None:
        _resolved(ALL_LEGS, **DUMMY)(legs)
        for lid in ALL_LEGS:
            if legs[lid].outputs != "none":
                legs[lid].outputs = outputs
        for lid, kw in per_leg.items():
            for k, v in kw.items():
                setattr(legs[lid], k, v)

    return f


def _rm(rel: str):
    return lambda s: s.path(rel).unlink()


# the kernel gate and the bundle stack a kernel (custom_ops +rms_norm): it changes the math by design
KERNEL_WITHHELD = {"integrate-rmsnorm": ("FAIL", ["P9"]), "bundle": ("FAIL", ["P9"])}

plant(
    Plant(
        "q_dummy_parity_banks_config",
        ("P9",),
        "dummy weights on every leg; max_num_seqs leaves the greedy tokens identical "
        "(parity banks it); the kernel is withheld: it changes the numerics and random weights cannot judge that",
        {"config-accept-1": ("PASS", []), **KERNEL_WITHHELD},
        legs_mod=_dummy(),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_dummy_parity_broken",
        ("P9",),
        "dummy weights; the config candidate's greedy tokens differ from the reference's on "
        "the same seed: the lever moved the numerics, unverifiable on random weights",
        {"config-accept-1": ("FAIL", ["P9"]), **KERNEL_WITHHELD},
        legs_mod=_dummy(**{CFG: {"outputs": "gibberish"}}),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_dummy_kv_cache_fp8",
        ("P9",),
        "dummy weights; the config candidate also runs an fp8 KV cache (the engine's "
        "cache_dtype): a quality lever withheld on random weights even with identical tokens",
        # the kernel leg keeps the auto KV cache: against the fp8 reference it differs in an undeclared,
        # orthogonal knob too (P4, P6)
        {
            "config-accept-1": ("FAIL", ["P4", "P9"]),
            "integrate-rmsnorm": ("FAIL", ["P4", "P6", "P9"]),
            "bundle": ("FAIL", ["P9"]),
        },
        legs_mod=_both(_dummy(), _resolved([CFG], **{"cache_config.cache_dtype": "fp8"})),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_dummy_accuracy_only",
        ("P9",),
        "dummy weights and no parity outputs, only accuracy probes of 0/500 on both "
        "sides: '0% -> 0% holds' is what random weights score for any change",
        {"config-accept-1": ("FAIL", ["P9"]), **KERNEL_WITHHELD},
        legs_mod=_dummy(outputs="none", baseline={"accuracy": (0, 500)}, **{CFG: {"accuracy": (0, 500)}}),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_accuracy_count_forged",
        ("F4",),
        "the bundle's accuracy.json says 500/500; its answers re-score to 430/500",
        {"bundle": ("FAIL", ["F4"])},
        legs_mod=_set("val_final_1", accuracy=(430, 500)),
        after=_edit_json("legs/val_final_1/accuracy.json", lambda o: o.update(correct=500)),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_accuracy_items_removed",
        ("F4",),
        "the bundle's accuracy_items.jsonl is deleted: its count cannot be re-derived",
        {"bundle": ("FAIL", ["F4"])},
        after=_rm("legs/val_final_1/accuracy_items.jsonl"),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_accuracy_items_elsewhere",
        ("F4",),
        "accuracy.json names another items file (../../outside.jsonl): read nothing there",
        {"bundle": ("FAIL", ["F4"])},
        after=_edit_json("legs/val_final_1/accuracy.json", lambda o: o.update(items_file="../../outside.jsonl")),
        source="issue 33",
        tags=TAG,
    )
)
plant(
    Plant(
        "q_accuracy_scoring_unknown",
        ("F4",),
        "accuracy.json's scoring is 'lenient', which is no scoring the auditor knows",
        {"bundle": ("FAIL", ["F4"])},
        after=_edit_json("legs/val_final_1/accuracy.json", lambda o: o.update(scoring="lenient")),
        source="issue 33",
        tags=TAG,
    )
)
