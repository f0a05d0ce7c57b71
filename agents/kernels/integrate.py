"""Integrate a kernel candidate into a live vLLM server, and probe it before it is benchmarked.

``package_plugin`` writes a self-contained vLLM general plugin into the run's bundle::

    <run_dir>/bundle/plugins/geak_<op>/            <- this directory goes on PYTHONPATH
        geak_<op>/__init__.py                      register(): CustomOp.register_oot(name=<layer>)
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

The override subclasses the vLLM layer of the op (``LAYERS``: RMSNorm, SiluAndMul) and
replaces every forward_* with a call to the candidate (RMSNorm with ``residual`` given:
``s = x + residual`` rounded to the model dtype, then ``candidate(s, weight, eps)``,
returning ``(out, s)``; SiluAndMul: ``candidate(x)``). At layer construction it prints the
engagement marker ``geak-plugin: registered <Layer> override -> <module:fn> (dispatch=...)``
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

So ``PluginBundle.apply`` adds env only (PYTHONPATH, VLLM_PLUGINS) and no
compilation-config flag; ``mode`` records ``"compile+opaque_custom_op"`` for the leg.

``parity_probe`` is the one-token parity probe of ../shared/seeds/003 adapted to two servers:
the first generated token's top-k logprobs (``/v1/completions``, ``max_tokens=1``,
``logprobs=k``, greedy) of the reference and the candidate server, aligned by token; cosine
>= 0.99 and equal argmax on every prompt, else the candidate is ejected with the tagged line
``geak-parity: EJECT <op> cos=<x> argmax_ref=<t> argmax_cand=<t>``. Fail closed: any error
(a dead server, a timeout, a malformed answer, a non-finite value) ejects.
"""

from __future__ import annotations

import ast
import hashlib
import re
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from geak.agents.engines.http import http_json
from geak.auditor import stats
from geak.auditor.evidence.models import ParityProbe, TopKLogprobs

log = logging.getLogger("geak.parity")

MIN_COSINE = 0.99
# probe prompts when a run has no parity set: one-token logprobs compare on any text
PROBE_PROMPTS = ("The capital of France is", "1 + 1 =", "def fibonacci(n):", "Once upon a time", "12+30=")
PARITY_TAG = "geak-parity: EJECT"
MODE = "compile+opaque_custom_op"
EAGER_MODE = "eager+opaque_custom_op"

# op -> the vLLM layer class the plugin replaces (vllm.model_executor.layers.*). Adding an op
# is an entry here plus its override body in _OVERRIDES (the plugin's source, below).
LAYERS = {"rmsnorm": "RMSNorm", "silu_and_mul": "SiluAndMul", "rope_kvcache": "LlamaAttention"}


def marker_prefix(op: str) -> str:
    """The engagement marker's fixed part for an op: printed at layer construction in the server."""
    return f"geak-plugin: registered {LAYERS[op]} override -> "


@dataclass
class PluginBundle:
    op: str
    plugin_name: str
    root: Path  # the directory put on PYTHONPATH
    candidate: str  # module:fn as packaged
    candidate_sha256: str
    marker: str  # regex for Decision.engagement_marker / LegLaunch.engagement_markers
    mode: str = MODE
    env: dict[str, str] = field(default_factory=dict)

    @property
    def call_marker(self) -> str:
        """Regex of the per-call log line (packaged with ``call_log`` > 0): the candidate executed
        in the engine's forward, not only constructed, nor traced away by the compiler. It names
        the code by content (sha256), not by file name: the same source is the same kernel."""
        return re.escape("geak-plugin: call ") + r"\d+ \S+ " + re.escape(f"sha256={self.candidate_sha256[:12]} ")

    def apply(self, cfg: Any) -> Any:
        """A copy of a LaunchConfig with the plugin's env merged in (it needs no engine flag: see the mode above)."""
        return cfg.model_copy(update={"env": {**cfg.env, **self.env}})


def _module_file(candidate_module: str) -> Path:
    p = Path(candidate_module)
    if p.suffix == ".py" and p.is_file():
        return p.resolve()
    spec = importlib.util.find_spec(candidate_module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"candidate module {candidate_module!r} is not a single .py file")
    return Path(spec.origin)


def _single_file(src: Path, code: bytes) -> None:
    """A candidate is copied alone into the plugin: a relative import of a sibling would only
    fail inside the server, after a start-up's worth of minutes. Refuse it here, naming the line."""
    try:
        tree = ast.parse(code, filename=str(src))
    except SyntaxError as e:
        raise ValueError(f"candidate {src}:{e.lineno}: not valid Python ({e.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            raise ValueError(
                f"candidate {src}:{node.lineno}: relative import 'from {'.' * node.level}{node.module or ''} import ...'; "
                "a candidate is packaged as one file: inline what it imports"
            )


def package_plugin(
    run_dir: str | Path,
    op: str,
    candidate_module: str,
    candidate_fn: str,
    *,
    call_log: int = 0,
    opaque: bool = True,
    eager: bool = False,
) -> PluginBundle:
    """Write bundle/plugins/geak_<op>/ under ``run_dir`` and return what a leg needs to load it.

    ``candidate_module`` is a dotted module name or a path to a .py file; the file is copied
    verbatim (single-file candidates: it may import torch and the standard library only).
    ``call_log``: the plugin logs its first N candidate calls (engagement per call, tests).
    ``opaque=False`` lets Dynamo trace the candidate (measured; not a mode geak uses).
    ``eager``: the legs that load it run with --enforce-eager (recorded in ``mode``; the
    reference legs must be eager too, which the patch gate's P4 checks).
    """
    if op not in LAYERS:
        raise ValueError(f"no vLLM integration for op {op!r}; known: {sorted(LAYERS)}")
    src = _module_file(candidate_module)
    code = src.read_bytes()
    _single_file(src, code)
    sha = hashlib.sha256(code).hexdigest()
    name = f"geak_{op}"
    root = Path(run_dir) / "bundle" / "plugins" / name
    if root.exists():
        shutil.rmtree(root)
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "candidate.py").write_bytes(code)
    # a candidate file inside the run (a kernel author's) is named run-relative: the label is
    # part of the engagement marker, which must not change when the run is replayed elsewhere
    root_dir = Path(run_dir).resolve()
    shown = str(src.relative_to(root_dir)) if src.is_relative_to(root_dir) else candidate_module
    label = f"{shown}:{candidate_fn}"
    meta = {
        "op": op,
        "layer": LAYERS[op],
        "candidate": label,
        "candidate_fn": candidate_fn,
        "candidate_sha256": sha,
        "source_file": str(src),
        "mode": (EAGER_MODE if eager else MODE) if opaque else "compile+traced",
        "opaque": opaque,
        "call_log": call_log,
        "op_name": f"geak::{op}_{sha[:8]}",
    }
    (pkg / "plugin.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    shutil.copyfile(PLUGIN_SOURCES.get(op, PLUGIN_INIT), pkg / "__init__.py")
    dist = root / f"{name}-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\nSummary: geak kernel candidate {label}\n"
    )
    (dist / "entry_points.txt").write_text(f"[vllm.general_plugins]\n{name} = {name}:register\n")
    (dist / "top_level.txt").write_text(name + "\n")
    (dist / "RECORD").write_text("")
    pythonpath = os.pathsep.join(
        [str(root.resolve())] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    # call_log travels in plugin.json, not the env: a leg's env is compared knob by knob (P4)
    env = {"PYTHONPATH": pythonpath, "VLLM_PLUGINS": name}
    marker = re.escape(marker_prefix(op) + label)
    return PluginBundle(
        op=op,
        plugin_name=name,
        root=root.resolve(),
        candidate=label,
        candidate_sha256=sha,
        marker=marker,
        mode=meta["mode"],
        env=env,
    )


# The plugin package's __init__.py, a real file copied verbatim into every bundle: it imports
# nothing from geak (the bundle must load in a server whose interpreter cannot import geak), and
# nothing is rendered into it (its settings travel in plugin.json beside it).
PLUGIN_INIT = Path(__file__).resolve().parent / "data" / "plugin_init.py"
# an op that replaces more than one layer's method has its own plugin source (same contract)
PLUGIN_SOURCES = {"rope_kvcache": Path(__file__).resolve().parent / "data" / "plugin_rope_kvcache.py"}


# ------------------------------------------------------------------ parity probe


def _served_model(base_url: str, timeout: float) -> str:
    return http_json(f"{base_url}/v1/models", timeout=timeout)["data"][0]["id"]


def first_token_logprobs(base_url: str, model: str, prompt: str, k: int, timeout: float) -> dict[str, float]:
    out = http_json(
        f"{base_url}/v1/completions",
        {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "seed": 0, "logprobs": k},
        timeout,
    )
    top = out["choices"][0]["logprobs"]["top_logprobs"][0]
    if not isinstance(top, dict) or not top:
        raise ValueError(f"no top logprobs in the answer: {str(out)[:200]}")
    return {str(t): float(v) for t, v in top.items()}


# the auditor's own function (P10 re-derives the probe with it): one definition of the cosine
aligned_cosine = stats.topk_cosine


def record_topk(
    base_url: str, prompts: Iterable[Any], *, k: int = 20, model: str | None = None, timeout: float = 60.0
) -> list[TopKLogprobs]:
    """The reference side of the probe, kept on disk so a later candidate leg compares against it."""
    model = model or _served_model(base_url, timeout)
    out = []
    for i, p in enumerate(prompts):
        text = p if isinstance(p, str) else p.prompt
        pid = f"p{i}" if isinstance(p, str) else p.prompt_id
        out.append(
            TopKLogprobs(
                prompt_id=pid, prompt=text, top_logprobs=first_token_logprobs(base_url, model, text, k, timeout)
            )
        )
    return out


def compare_topk(
    pairs: Iterable[tuple[dict[str, float], dict[str, float]]],
    *,
    op: str,
    min_cosine: float = MIN_COSINE,
    error: str | None = None,
    reference_leg: str | None = None,
) -> ParityProbe:
    """Pure: the probe's verdict over (reference, candidate) top-k pairs. The cosine is the worst
    over the prompts, argmax_equal holds only if it holds for every prompt; an error or no pair
    at all ejects (fail closed), and the tagged line says why."""
    pairs = list(pairs)
    n = len(pairs)
    worst, arg_eq = stats.topk_agreement(pairs)
    # the tokens the log line names: the first pair that fails, else the last one
    am = ("?", "?")
    for r, c in pairs:
        am = (max(r, key=r.get), max(c, key=c.get))  # type: ignore[arg-type]
        if am[0] != am[1] or not (stats.topk_cosine(r, c) >= min_cosine):
            break
    if n == 0 and error is None:
        error = "no prompt was probed"
    meta = {"reference_leg": reference_leg, "n_prompts": n, "min_cosine": min_cosine}
    ok = error is None and worst is not None and math.isfinite(worst) and worst >= min_cosine and arg_eq is True
    if ok:
        return ParityProbe(
            cosine=worst,
            argmax_equal=True,
            ejected=False,
            log_line=f"geak-parity: PASS {op} cos={worst:.6f} argmax_ref={am[0]!r} argmax_cand={am[1]!r}",
            **meta,
        )
    cos_s = "nan" if worst is None or not math.isfinite(worst) else f"{worst:.6f}"
    line = f"{PARITY_TAG} {op} cos={cos_s} argmax_ref={am[0]!r} argmax_cand={am[1]!r}" + (
        f" error={error}" if error else ""
    )
    print(line, file=sys.stderr, flush=True)
    log.warning(line)
    return ParityProbe(
        cosine=worst if worst is not None and math.isfinite(worst) else None,
        argmax_equal=False if arg_eq is None else arg_eq,
        ejected=True,
        log_line=line,
        **meta,
    )


def parity_probe(
    base_url_ref: str,
    base_url_cand: str,
    prompts: Iterable[Any],
    *,
    op: str = "rmsnorm",
    k: int = 20,
    model: str | None = None,
    timeout: float = 60.0,
    min_cosine: float = MIN_COSINE,
) -> ParityProbe:
    """One-token parity of a live candidate server against a live reference server; fail closed."""
    pairs: list[tuple[dict[str, float], dict[str, float]]] = []
    err = None
    try:
        texts = [p if isinstance(p, str) else p.prompt for p in prompts]
        if not texts:
            raise ValueError("no prompts")
        model = model or _served_model(base_url_ref, timeout)
        for t in texts:
            pairs.append(
                (
                    first_token_logprobs(base_url_ref, model, t, k, timeout),
                    first_token_logprobs(base_url_cand, model, t, k, timeout),
                )
            )
    except Exception as e:  # noqa: BLE001 - fail closed on anything
        err = f"{type(e).__name__}: {e}"
    return compare_topk(pairs, op=op, min_cosine=min_cosine, error=err)


def parity_probe_against(
    reference: list[TopKLogprobs],
    base_url_cand: str,
    *,
    op: str,
    reference_leg: str | None = None,
    model: str | None = None,
    timeout: float = 60.0,
    min_cosine: float = MIN_COSINE,
) -> tuple[ParityProbe, list[TopKLogprobs]]:
    """The candidate server against a reference leg's recorded top-k (same prompts, same k);
    fail closed. Returns the probe and the candidate's own top-k rows (kept in its leg, so the
    auditor re-derives the cosine). Greedy one-token logprobs of the same weights do not depend
    on the server lifetime, so the reference need not be alive: two servers never share the cores."""
    pairs: list[tuple[dict[str, float], dict[str, float]]] = []
    rows: list[TopKLogprobs] = []
    err = None
    try:
        if not reference:
            raise ValueError(f"reference leg {reference_leg!r} recorded no top-k logprobs")
        model = model or _served_model(base_url_cand, timeout)
        for r in reference:
            c = first_token_logprobs(base_url_cand, model, r.prompt, max(len(r.top_logprobs), 1), timeout)
            rows.append(TopKLogprobs(prompt_id=r.prompt_id, prompt=r.prompt, top_logprobs=c))
            pairs.append((r.top_logprobs, c))
    except Exception as e:  # noqa: BLE001 - fail closed on anything
        err = f"{type(e).__name__}: {e}"
    return compare_topk(pairs, op=op, min_cosine=min_cosine, error=err, reference_leg=reference_leg), rows
