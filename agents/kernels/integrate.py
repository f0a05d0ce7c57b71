"""Integrate a kernel candidate into a live vLLM server, and probe it before it is benchmarked.

``package_plugin`` writes a self-contained vLLM general plugin into the run's bundle::

    <run_dir>/bundle/plugins/geak_<op>/            <- this directory goes on PYTHONPATH
        geak_<op>/__init__.py                      register(): CustomOp.register_oot(name="RMSNorm")
        geak_<op>/candidate.py                     a verbatim copy of the candidate's module
        geak_<op>/plugin.json                      what was packaged (candidate, sha256, mode)
        geak_<op>-0.dist-info/{METADATA,entry_points.txt}

vLLM 0.32 finds general plugins with ``importlib.metadata.entry_points(group=
"vllm.general_plugins")`` (vllm/plugins/__init__.py) in the API server, the engine core and
every worker, filtered by ``VLLM_PLUGINS`` when it is set. Entry points come from
distributions, and ``importlib.metadata`` discovers a distribution from any ``*.dist-info``
directory on ``sys.path``: so a minimal dist-info next to the package, both on PYTHONPATH, is
a plugin without ``pip install`` (nothing is written to the venv; removing the env var
removes the plugin).

The override subclasses vLLM's RMSNorm and replaces every forward_* with a call to the
candidate (``residual`` given: ``s = x + residual`` rounded to the model dtype, then
``candidate(s, weight, eps)``, returning ``(out, s)``). At layer construction it prints the
engagement marker ``geak-plugin: registered RMSNorm override -> <module:fn> (dispatch=...)``
into the server log (P5's marker; it never appears in a reference leg).

Mode: compile on (vLLM's default), with the candidate wrapped as an opaque torch custom op
(``torch.library.custom_op("geak::<op>_<sha8>")`` with a fake impl). Measured on vLLM-on-CPU
0.32 with tiny-arith (per-call log lines, ``GEAK_PLUGIN_CALL_LOG``, counted before and after 8
one-token requests; see tests/agents/kernels/test_integrate.py and docs in the report):

- compile on, candidate traced (not opaque): the resolved config has ``custom_ops: ["none"]``,
  the override dispatches to ``forward_native``, Dynamo traces the candidate's torch ops into
  the model graph and Inductor re-generates them: the candidate's Python runs only at trace
  time (0 calls per request). What runs is Inductor's version of its math, not the candidate;
  a Triton or extension candidate would be traced or graph-broken, not run as written.
- compile on + ``custom_ops: ["+rms_norm"]``: no effect on the override. ``register_oot``
  renames the class (``op_cls.name = "RMSNorm"``), so ``enabled()`` looks for ``+RMSNorm``;
  and even when enabled (``forward_cpu``), the method is traced by Dynamo the same way. The
  flag only decides which method is traced, never whether the candidate runs per call.
- compile on, candidate opaque (chosen): the custom op is a leaf in the compiled graph and is
  called per forward (5 RMSNorm calls per step on tiny-arith: 2 layers x 2 + final norm).
  The rest of the model stays compiled, so the e2e comparison against a default reference
  leg changes only the op under test.
- ``--enforce-eager``: custom_ops defaults to ``["all"]``, ``forward_cpu`` runs per call; but
  the whole model then runs eager, so an e2e leg would compare eager vs compiled, a confound
  unless the reference is eager too. Kept as an option (``enforce_eager`` is a LaunchConfig
  knob, both legs must set it).

Measured (8 requests, 5 RMSNorm calls per step; startup on 2 cores):

    mode                                  dispatch        candidate calls / 8 requests   startup
    compile, traced                       forward_native  0                              41 s
    compile, traced, +rms_norm            forward_native  0                              44 s
    compile, traced, +RMSNorm             forward_cpu     0                              65 s
    compile, opaque custom op (chosen)    forward_native  40                             76 s
    --enforce-eager, opaque               forward_cpu     40                             31 s

(A print in a traced candidate is a graph break, which vLLM's fullgraph compile turns into
"EngineCore failed to start": the plugin's per-call log is skipped while Dynamo traces.)

So ``PluginBundle.launch_changes`` carries env only (PYTHONPATH, VLLM_PLUGINS) and no
compilation-config flag; ``mode`` records ``"compile+opaque_custom_op"`` for the leg.

``parity_probe`` is the one-token parity probe of ../shared/seeds/003 adapted to two servers:
the first generated token's top-k logprobs (``/v1/completions``, ``max_tokens=1``,
``logprobs=k``, greedy) of the reference and the candidate server, aligned by token; cosine
>= 0.99 and equal argmax on every prompt, else the candidate is ejected with the tagged line
``geak-parity: EJECT <op> cos=<x> argmax_ref=<t> argmax_cand=<t>``. Fail closed: any error
(a dead server, a timeout, a malformed answer, a non-finite value) ejects.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from geak.auditor.evidence.models import ParityProbe

log = logging.getLogger("geak.parity")

MIN_COSINE = 0.99
PARITY_TAG = "geak-parity: EJECT"
MARKER_PREFIX = "geak-plugin: registered RMSNorm override -> "
MODE = "compile+opaque_custom_op"

# op -> the vLLM layer class the plugin replaces
LAYERS = {"rmsnorm": "RMSNorm"}


@dataclass
class PluginBundle:
    op: str
    plugin_name: str
    root: Path                     # the directory put on PYTHONPATH
    candidate: str                 # module:fn as packaged
    candidate_sha256: str
    marker: str                    # regex for Decision.engagement_marker / LegLaunch.engagement_markers
    mode: str = MODE
    env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)

    def launch_changes(self) -> dict[str, Any]:
        """What a candidate leg's LaunchConfig gains: ``cfg.model_copy(update=...)`` after merging."""
        return {"env": dict(self.env), "extra_args": list(self.extra_args)}

    def apply(self, cfg: Any) -> Any:
        """A copy of a LaunchConfig with the plugin's env and args merged in."""
        return cfg.model_copy(update={"env": {**cfg.env, **self.env}, "extra_args": list(cfg.extra_args) + self.extra_args})


def _module_file(candidate_module: str) -> Path:
    p = Path(candidate_module)
    if p.suffix == ".py" and p.is_file():
        return p.resolve()
    spec = importlib.util.find_spec(candidate_module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"candidate module {candidate_module!r} is not a single .py file")
    return Path(spec.origin)


def package_plugin(run_dir: str | Path, op: str, candidate_module: str, candidate_fn: str,
                   *, call_log: int = 0, opaque: bool = True) -> PluginBundle:
    """Write bundle/plugins/geak_<op>/ under ``run_dir`` and return what a leg needs to load it.

    ``candidate_module`` is a dotted module name or a path to a .py file; the file is copied
    verbatim (single-file candidates: it may import torch and the standard library only).
    ``call_log``: the plugin logs its first N candidate calls (engagement per call, tests).
    ``opaque=False`` lets Dynamo trace the candidate (measured; not a mode geak uses).
    """
    if op not in LAYERS:
        raise ValueError(f"no vLLM integration for op {op!r}; known: {sorted(LAYERS)}")
    src = _module_file(candidate_module)
    code = src.read_bytes()
    sha = hashlib.sha256(code).hexdigest()
    name = f"geak_{op}"
    root = Path(run_dir) / "bundle" / "plugins" / name
    if root.exists():
        shutil.rmtree(root)
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "candidate.py").write_bytes(code)
    label = f"{candidate_module}:{candidate_fn}"
    meta = {"op": op, "layer": LAYERS[op], "candidate": label, "candidate_fn": candidate_fn, "candidate_sha256": sha,
            "source_file": str(src), "mode": MODE if opaque else "compile+traced", "opaque": opaque, "call_log": call_log,
            "op_name": f"geak::{op}_{sha[:8]}"}
    (pkg / "plugin.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (pkg / "__init__.py").write_text(_PLUGIN_SRC)
    dist = root / f"{name}-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\nSummary: geak kernel candidate {label}\n")
    (dist / "entry_points.txt").write_text(f"[vllm.general_plugins]\n{name} = {name}:register\n")
    (dist / "top_level.txt").write_text(name + "\n")
    (dist / "RECORD").write_text("")
    pythonpath = os.pathsep.join([str(root.resolve())] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = {"PYTHONPATH": pythonpath, "VLLM_PLUGINS": name}
    if call_log:
        env["GEAK_PLUGIN_CALL_LOG"] = str(call_log)
    marker = "geak-plugin: registered RMSNorm override -> " + _re_escape(label)
    return PluginBundle(op=op, plugin_name=name, root=root.resolve(), candidate=label, candidate_sha256=sha, marker=marker,
                        mode=meta["mode"], env=env, extra_args=[])


def _re_escape(s: str) -> str:
    import re

    return re.escape(s)


# The plugin package's __init__.py. Imports nothing from geak: the bundle must load in a
# server whose interpreter cannot import geak.
_PLUGIN_SRC = r'''"""geak kernel plugin (generated by geak.agents.kernels.integrate; see plugin.json)."""

import json
import os
import sys
from pathlib import Path

META = json.loads((Path(__file__).parent / "plugin.json").read_text())
_CALLS = [0]
_LIMIT = int(os.environ.get("GEAK_PLUGIN_CALL_LOG", str(META.get("call_log", 0))) or 0)


def _say(msg):
    print(f"{msg} [pid {os.getpid()}]", file=sys.stderr, flush=True)


def _candidate():
    from . import candidate

    return getattr(candidate, META["candidate_fn"])


def _counted(fn):
    import torch

    def call(x, weight, eps):
        # while Dynamo traces (a non-opaque candidate under compile) the log is skipped: a
        # print there is a graph break, which vLLM's fullgraph compile turns into an error
        if _LIMIT and not torch.compiler.is_compiling():
            _CALLS[0] += 1
        if _LIMIT and not torch.compiler.is_compiling() and _CALLS[0] <= _LIMIT:
            _say(f"geak-plugin: call {_CALLS[0]} {META['candidate']} shape={tuple(x.shape)}")
        return fn(x, weight, eps)
    return call


def _make_op():
    import torch

    fn = _counted(_candidate())
    if not META.get("opaque", True):
        return fn

    @torch.library.custom_op(META["op_name"], mutates_args=())
    def op(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        out = fn(x, weight, eps)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise RuntimeError(f"geak-plugin: candidate returned {type(out).__name__} {getattr(out, 'shape', '')}, expected {tuple(x.shape)}")
        # a custom op may not return an alias of its input; a fresh tensor is the spec anyway
        return out.clone() if out.data_ptr() in (x.data_ptr(), weight.data_ptr()) else out

    @op.register_fake
    def _(x, weight, eps):
        return torch.empty_like(x)

    return op


def register():
    from vllm.model_executor.custom_op import CustomOp, op_registry_oot
    from vllm.model_executor.layers.layernorm import RMSNorm

    if META["layer"] in op_registry_oot:  # plugins may be loaded more than once per process
        return
    call = _make_op()

    class GeakRMSNorm(RMSNorm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            fwd = getattr(self._forward_method, "__name__", type(self._forward_method).__name__)
            _say(f"geak-plugin: registered RMSNorm override -> {META['candidate']} (dispatch={fwd}, mode={META['mode']}, "
                 f"sha256={META['candidate_sha256'][:12]}, hidden={self.hidden_size}, eps={self.variance_epsilon})")

        def _geak(self, x, residual=None):
            if self.variance_size_override is not None:
                return RMSNorm.forward_native(self, x, residual)
            w = self.weight.data
            if residual is None:
                return call(x, w, float(self.variance_epsilon))
            s = x + residual
            return call(s, w, float(self.variance_epsilon)), s

        def forward_native(self, x, residual=None):
            return self._geak(x, residual)

        def forward_cpu(self, x, residual=None):
            return self._geak(x, residual)

        def forward_cuda(self, x, residual=None):
            return self._geak(x, residual)

        def forward_hip(self, x, residual=None):
            return self._geak(x, residual)

        def forward_oot(self, x, residual=None):
            return self._geak(x, residual)

    CustomOp.register_oot(GeakRMSNorm, name=META["layer"])
    _say(f"geak-plugin: loaded {META['candidate']} for {META['layer']}")
'''


# ------------------------------------------------------------------ parity probe


def _post(url: str, payload: dict[str, Any], timeout: float) -> Any:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def _served_model(base_url: str, timeout: float) -> str:
    with urllib.request.urlopen(f"{base_url}/v1/models", timeout=timeout) as r:
        return json.loads(r.read())["data"][0]["id"]


def first_token_logprobs(base_url: str, model: str, prompt: str, k: int, timeout: float) -> dict[str, float]:
    out = _post(f"{base_url}/v1/completions", {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0,
                                               "seed": 0, "logprobs": k}, timeout)
    top = out["choices"][0]["logprobs"]["top_logprobs"][0]
    if not isinstance(top, dict) or not top:
        raise ValueError(f"no top logprobs in the answer: {str(out)[:200]}")
    return {str(t): float(v) for t, v in top.items()}


def aligned_cosine(ref: dict[str, float], cand: dict[str, float]) -> float:
    """Cosine of two top-k logprob vectors over the union of their tokens. A token missing
    from one side gets that side's smallest logprob (it ranked below all of its top-k)."""
    toks = sorted(set(ref) | set(cand))
    fr, fc = min(ref.values()), min(cand.values())
    a = [ref.get(t, fr) for t in toks]
    b = [cand.get(t, fc) for t in toks]
    if not all(math.isfinite(v) for v in a + b):
        return float("nan")
    na, nb = math.sqrt(sum(v * v for v in a)), math.sqrt(sum(v * v for v in b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def parity_probe(base_url_ref: str, base_url_cand: str, prompts: Iterable[Any], *, op: str = "rmsnorm", k: int = 20,
                 model: str | None = None, timeout: float = 60.0, min_cosine: float = MIN_COSINE) -> ParityProbe:
    """One-token parity of the candidate server against the reference server; fail closed.

    ``prompts``: strings or objects with a ``.prompt``. The probe's cosine is the worst over
    the prompts, argmax_equal holds only if it holds for every prompt. Any exception ejects
    (cosine/argmax stay as far as measured, None if nothing was) and the tagged line says why.
    """
    worst: float | None = None
    arg_eq: bool | None = None
    first_bad: tuple[str, str] | None = None
    am = ("?", "?")
    err = None
    try:
        texts = [p if isinstance(p, str) else p.prompt for p in prompts]
        if not texts:
            raise ValueError("no prompts")
        model = model or _served_model(base_url_ref, timeout)
        for t in texts:
            r = first_token_logprobs(base_url_ref, model, t, k, timeout)
            c = first_token_logprobs(base_url_cand, model, t, k, timeout)
            cos = aligned_cosine(r, c)
            ar, ac = max(r, key=r.get), max(c, key=c.get)
            if worst is None or not (cos >= worst):  # NaN sticks
                worst = cos
            eq = ar == ac
            arg_eq = eq if arg_eq is None else (arg_eq and eq)
            if first_bad is None and (not eq or not (cos >= min_cosine)):
                first_bad = (ar, ac)
            if first_bad is None:
                am = (ar, ac)
    except Exception as e:  # noqa: BLE001 - fail closed on anything
        err = f"{type(e).__name__}: {e}"
    if first_bad:
        am = first_bad
    ok = err is None and worst is not None and math.isfinite(worst) and worst >= min_cosine and arg_eq is True
    if ok:
        return ParityProbe(cosine=worst, argmax_equal=True, ejected=False,
                           log_line=f"geak-parity: PASS {op} cos={worst:.6f} argmax_ref={am[0]!r} argmax_cand={am[1]!r}")
    cos_s = "nan" if worst is None or not math.isfinite(worst) else f"{worst:.6f}"
    line = f"{PARITY_TAG} {op} cos={cos_s} argmax_ref={am[0]!r} argmax_cand={am[1]!r}" + (f" error={err}" if err else "")
    print(line, file=sys.stderr, flush=True)
    log.warning(line)
    return ParityProbe(cosine=worst if worst is not None and math.isfinite(worst) else None,
                       argmax_equal=False if arg_eq is None else arg_eq, ejected=True, log_line=line)
