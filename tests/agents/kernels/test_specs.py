"""Model profiles: the served shapes come from the model the server loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geak.agents.kernels.specs import PROFILES, hf_profile, profile_named, spec_for

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "models" / "tiny-arith" / "config.json"


def test_the_shipped_models_config_gives_its_named_profile():
    got = hf_profile(TINY)
    assert got["params"] == PROFILES["tiny-arith"]["params"]
    assert got["dtypes"] == ["fp32"]


def test_a_llama_3_shape_is_timed_at_its_own_intermediate_size(tmp_path):
    cfg = {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "max_position_embeddings": 8192,
        "torch_dtype": "bfloat16",
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    spec = spec_for("silu_and_mul", f"hf:{tmp_path / 'config.json'}", tokens=[64])
    assert spec.served_shapes == [[64, 2 * 14336]] and spec.dtypes == ["bf16"]
    assert spec.params["rope_theta"] == 500000.0 and spec.params["num_kv_heads"] == 8
    # the generic GPU profile would have timed Llama-2's 11008
    assert spec_for("silu_and_mul", "llama-gpu", tokens=[64]).served_shapes == [[64, 2 * 11008]]


def test_a_config_without_a_needed_key_names_it(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8, "num_attention_heads": 2}))
    with pytest.raises(ValueError, match="intermediate_size"):
        hf_profile(tmp_path / "config.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        hf_profile(tmp_path / "bad.json")


def test_an_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="llama-gpu"):
        profile_named("llama-70b")
