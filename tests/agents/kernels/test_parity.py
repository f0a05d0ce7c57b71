"""The one-token parity probe's verdict as a pure function, and the candidate side against a
reference leg's recorded top-k (fail closed). No engine: the servers are absent or local stubs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from geak.agents.kernels.integrate import PARITY_TAG, compare_topk, package_plugin, parity_probe_against
from geak.auditor.evidence.models import TopKLogprobs

REF = {"4": -0.01, "5": -5.0, "3": -6.0}


def test_identical_top_k_passes():
    pp = compare_topk([(REF, dict(REF))], op="silu_and_mul", reference_leg="kref")
    assert (
        not pp.ejected
        and pp.cosine == pytest.approx(1.0)
        and pp.argmax_equal
        and pp.reference_leg == "kref"
        and pp.n_prompts == 1
    )


def test_a_different_argmax_ejects_even_at_high_cosine():
    cand = {"4": -0.70, "5": -0.69, "3": -6.0}  # cos ~0.99 but "5" now wins
    pp = compare_topk([(REF, cand)], op="silu_and_mul")
    assert pp.ejected and pp.argmax_equal is False and pp.log_line.startswith(PARITY_TAG)


def test_low_cosine_ejects():
    pp = compare_topk([(REF, {"4": -0.01, "5": -0.5, "3": -9.0})], op="rmsnorm")
    assert pp.ejected and pp.cosine < 0.99


def test_the_worst_prompt_decides():
    pp = compare_topk([(REF, dict(REF)), (REF, {"4": -0.01, "5": -0.5, "3": -9.0})], op="rmsnorm")
    assert pp.ejected and pp.n_prompts == 2


def test_nothing_probed_ejects():
    assert compare_topk([], op="rmsnorm").ejected


def test_an_error_ejects_even_after_good_prompts():
    pp = compare_topk([(REF, dict(REF))], op="rmsnorm", error="URLError: refused")
    assert pp.ejected and "error=URLError" in pp.log_line


def test_no_recorded_reference_ejects_without_asking_the_server():
    pp, rows = parity_probe_against([], "http://127.0.0.1:9", op="rmsnorm", reference_leg="kref_rmsnorm", timeout=1)
    assert pp.ejected and rows == [] and "recorded no top-k" in pp.log_line


class _Stub(BaseHTTPRequestHandler):
    top: dict[str, float] = {}

    def do_GET(self):  # /v1/models
        self._send({"data": [{"id": "m"}]})

    def do_POST(self):  # /v1/completions with logprobs
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send({"choices": [{"text": "4", "logprobs": {"top_logprobs": [self.top]}}]})

    def _send(self, obj):
        b = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def log_message(self, *a):
        pass


@pytest.fixture
def stub():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def test_candidate_rows_are_kept_for_the_auditor(stub):
    _Stub.top = {"4": -0.02, "5": -4.9, "3": -6.1}
    ref = [TopKLogprobs(prompt_id="q1", prompt="2+2=", top_logprobs=REF)]
    pp, rows = parity_probe_against(ref, f"http://127.0.0.1:{stub.server_port}", op="rmsnorm", reference_leg="kref")
    assert not pp.ejected and pp.reference_leg == "kref"
    assert [r.prompt_id for r in rows] == ["q1"] and rows[0].top_logprobs == _Stub.top


def test_drifted_candidate_server_is_ejected(stub):
    _Stub.top = {"5": -0.02, "4": -4.9, "3": -6.1}
    pp, rows = parity_probe_against(
        [TopKLogprobs(prompt_id="q1", prompt="2+2=", top_logprobs=REF)],
        f"http://127.0.0.1:{stub.server_port}",
        op="rmsnorm",
    )
    assert pp.ejected and pp.argmax_equal is False and len(rows) == 1


def test_silu_and_mul_plugin_replaces_its_own_layer(tmp_path):
    b = package_plugin(tmp_path, "silu_and_mul", "geak.agents.kernels.templates.cpu", "silu_and_mul", eager=True)
    meta = json.loads((b.root / "geak_silu_and_mul" / "plugin.json").read_text())
    assert meta["layer"] == "SiluAndMul" and meta["mode"] == "eager+opaque_custom_op" and b.mode == meta["mode"]
    import re

    line = "geak-plugin: registered SiluAndMul override -> geak.agents.kernels.templates.cpu:silu_and_mul (dispatch=forward_cpu)"
    assert re.search(b.marker, line) and not re.search(b.marker, line.replace("SiluAndMul", "RMSNorm"))


def test_an_op_without_an_integration_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="known: \\['rmsnorm', 'rope_kvcache', 'silu_and_mul'\\]"):
        package_plugin(tmp_path, "rotary", "geak.agents.kernels.templates.cpu", "rotary")


def test_call_marker_names_the_code_by_content_not_by_file(tmp_path):
    import re

    b = package_plugin(tmp_path, "silu_and_mul", "geak.agents.kernels.templates.cpu", "silu_and_mul", call_log=3)
    sha = b.candidate_sha256[:12]
    assert json.loads((b.root / "geak_silu_and_mul" / "plugin.json").read_text())["call_log"] == 3
    assert "GEAK_PLUGIN_CALL_LOG" not in b.env  # a leg's env is compared knob by knob (P4)
    assert re.search(
        b.call_marker, f"geak-plugin: call 2 kernels/silu_and_mul/v1_a0.py:silu_and_mul sha256={sha} shape=(4, 1024)"
    )
    assert not re.search(
        b.call_marker,
        "geak-plugin: call 2 geak.agents.kernels.templates.cpu:silu_and_mul sha256=000000000000 shape=(4, 1024)",
    )
