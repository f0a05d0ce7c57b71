"""The run directory's layout: the one place that names what a run holds (issue 35).

Every reader and writer, the orchestrator's and the auditor's, takes its paths from here, so a
name cannot drift between the side that writes a file and the side that audits it (one did: the
skills' audit-file name once lost the hash the auditor puts in it). Paths are run-relative,
POSIX, and go through RunStore, which confines them to the run.

    run_args.json  workflow.yaml  manifest.json     what the run was asked (orchestrator/run.prepare)
    inputs/<role>.jsonl  inputs/model_config.json   question files (accuracy, parity) and the served
                                                    model's config.json, copied in
    decisions.jsonl  events.jsonl  llm_calls.jsonl  append-only records of the graph
    strategy.json  summary.json                     the strategist's plan, the run's end
    ledger.jsonl                                    each leg's files sealed as it closed
    legs/<leg>/                                     one leg: LEG_FILES below, raw/ the tool's own output
    audits/<gate>.json  audits/history/             the auditor's verdicts (auditor/audit.audit_file)
    scheduler/  bundle/  report.md  report.html  checkpoints.sqlite
"""

from __future__ import annotations

# ---------------------------------------------------------------- run level

RUN_ARGS = "run_args.json"
WORKFLOW = "workflow.yaml"
MANIFEST = "manifest.json"
DECISIONS = "decisions.jsonl"
EVENTS = "events.jsonl"
STRATEGY = "strategy.json"
SUMMARY = "summary.json"
LEDGER = "ledger.jsonl"
LLM_CALLS = "llm_calls.jsonl"
CHECKPOINTS = "checkpoints.sqlite"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
LEGS = "legs"
AUDITS = "audits"
INPUTS = "inputs"
PROFILE = "profile"
OPS = "ops"
OP_ATTEMPTS = "ops/_attempts"  # earlier candidates of an op, moved aside when a new one is measured

# ---------------------------------------------------------------- leg level (legs/<leg>/...)

LAUNCH = "launch.json"
SERVER_LOG = "server.log"
SERVER_INFO = "server_info.json"
BENCH_RUNS = "bench_runs.jsonl"
BENCH_LOG = "bench.log"
RAW = "raw"
OUTPUTS = "outputs.jsonl"
ACCURACY = "accuracy.json"
ACCURACY_ITEMS = "accuracy_items.jsonl"
PARITY_PROBE = "parity_probe.json"
TOPK = "first_token_topk.jsonl"
HOST_FINGERPRINT = "host_fingerprint.json"

# ---------------------------------------------------------------- profile/<round>/..., ops/<op>/...

ROUTING = "routing.json"
TRACE = "trace.json.gz"
OPBENCH = "opbench.json"
HARNESS_LOG = "harness.log"
OP_WORK = "work"

# what a run copies in, a closed vocabulary: the question files, and the served model's own
# config.json (the shapes the harness times and routing sizes ops by: a replay elsewhere has no
# model directory, and reads nothing outside the run)
INPUT_ROLES = ("accuracy", "parity", "model_config")
_INPUT_NAMES = {"accuracy": "accuracy.jsonl", "parity": "parity.jsonl", "model_config": "model_config.json"}


def leg_dir(leg_id: str) -> str:
    return f"{LEGS}/{leg_id}"


def leg_file(leg_id: str, name: str) -> str:
    """legs/<leg_id>/<name>; ``name`` may itself be nested (raw/rep_0.json)."""
    return f"{LEGS}/{leg_id}/{name}"


def profile_dir(round_id: str) -> str:
    return f"{PROFILE}/{round_id}"


def profile_file(round_id: str, name: str) -> str:
    return f"{PROFILE}/{round_id}/{name}"


def op_dir(op: str) -> str:
    return f"{OPS}/{op}"


def op_file(op: str, name: str) -> str:
    return f"{OPS}/{op}/{name}"


def input_path(role: str) -> str:
    """The one name of a run's copy of an input file."""
    if role not in INPUT_ROLES:
        raise ValueError(f"unknown input {role!r}; known: {', '.join(INPUT_ROLES)}")
    return f"{INPUTS}/{_INPUT_NAMES[role]}"
