"""The rope_kvcache plugin (issue 36) as vLLM loads it, checked in a process with the installed
vLLM (0.32 on this CPU): it registers its op, becomes a splitting op wherever vLLM sets them,
takes over Llama's attention forward, and refuses, in one log line, a layer whose cache it cannot
write (the CPU backend's). Its engagement on a GPU server is measured on the GPU box."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

from geak.agents.kernels.integrate import marker_prefix, package_plugin
from geak.agents.kernels.templates import TEMPLATES

TEMPLATE = TEMPLATES[("rope_kvcache", "cuda")]


def test_the_bundle_carries_its_own_plugin_source(tmp_path):
    mod, fn = TEMPLATE.split(":")
    b = package_plugin(tmp_path, "rope_kvcache", mod, fn)
    init = (b.root / "geak_rope_kvcache" / "__init__.py").read_text()
    assert "LlamaAttention" in init and "unified_attention_with_output" in init
    meta = json.loads((b.root / "geak_rope_kvcache" / "plugin.json").read_text())
    assert meta["layer"] == "LlamaAttention" and meta["op_name"] == f"geak::rope_kvcache_{b.candidate_sha256[:8]}"
    # the line the plugin prints when a layer takes the op is what P5's marker looks for
    line = f"geak-plugin: registered LlamaAttention override -> {meta['candidate']} (dispatch=custom_op ..."
    assert re.search(b.marker, line) and line.startswith(marker_prefix("rope_kvcache"))
    # the server's interpreter may not have geak
    assert not re.search(r"^\s*(import|from)\s+geak[.\s]", init, re.M)


def test_vllm_loads_it_and_it_refuses_a_cache_it_cannot_write(tmp_path):
    mod, fn = TEMPLATE.split(":")
    b = package_plugin(tmp_path, "rope_kvcache", mod, fn)
    code = textwrap.dedent(
        """
        import types, torch
        import geak_rope_kvcache as plugin
        plugin.register()
        plugin.register()  # a second load in the same process is a no-op
        from vllm.config.compilation import CompilationConfig, CompilationMode
        from vllm.model_executor.models import llama
        name = plugin.META["op_name"]
        ns, op = name.split("::")
        assert hasattr(getattr(torch.ops, ns), op), "op not registered"
        cc = CompilationConfig(mode=CompilationMode.VLLM_COMPILE)
        cc.set_splitting_ops_for_v1("naive")
        assert name in cc.splitting_ops and cc.splitting_ops.count(name) == 1, cc.splitting_ops
        assert llama.LlamaAttention.forward.__module__ == "geak_rope_kvcache"
        # Dynamo traces forward with fullgraph: no print or getpid may run there (on an H100 the
        # server failed to start on the plugin's log line inside forward); it is said at construction
        fwd, init = llama.LlamaAttention.forward.__code__, llama.LlamaAttention.__init__.__code__
        assert not {"_say", "print", "_why_not"} & set(fwd.co_names), fwd.co_names
        assert {"_say", "_why_not"} <= set(init.co_names), init.co_names
        backend = types.SimpleNamespace(get_name=lambda: "CPU_ATTN", forward_includes_kv_cache_update=False)
        rope = type("RotaryEmbedding", (), dict(is_neox_style=True, rotary_dim=64, head_size=64))()
        layer = types.SimpleNamespace(
            rotary_emb=rope,
            attn=types.SimpleNamespace(kv_cache_dtype="auto", query_quant=None, kv_sharing_target_layer_name=None,
                                       attn_backend=backend, layer_name="model.layers.0.self_attn.attn"),
        )
        print("why:", plugin._why_not(layer))
        layer.attn.attn_backend = types.SimpleNamespace(get_name=lambda: "FLASH_ATTN", forward_includes_kv_cache_update=False)
        print("flash:", plugin._why_not(layer))
        layer.attn.kv_cache_dtype = "fp8"
        print("fp8:", plugin._why_not(layer))
        """
    )
    env = {**os.environ, **b.env, "PYTHONPATH": b.env["PYTHONPATH"]}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "why: backend CPU_ATTN (the op writes FlashAttention's cache layout)" in p.stdout
    assert "flash: None" in p.stdout and "fp8: quantized KV cache (fp8)" in p.stdout
    assert "geak-plugin: loaded" in p.stderr and p.stderr.count("geak-plugin: loaded") == 1
