"""The run report, built from real run directories: the shipped clean case, audited for real."""

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from geak.auditor import stats
from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict
from geak.auditor.evidence.store import RunStore
from geak.orchestrator.events import GateOutcome, RunSummary
from geak.orchestrator.report import build_report, fmt_ci, fmt_num, fmt_pct, write_report

REPO = Path(__file__).resolve().parents[2]
CASE = REPO / "runs" / "cases" / "clean"
DATA = REPO / "tests" / "data" / "report"


@pytest.fixture
def run_dir(tmp_path):
    # The report's PASS path needs a run whose every gate really passes.
    assert yaml.safe_load((CASE / "key.yaml").read_text())["default_verdict"] == "PASS"
    return Path(shutil.copytree(CASE / "run", tmp_path / "run"))


@pytest.fixture
def audited(run_dir):
    audit_run(run_dir)
    return run_dir


@pytest.fixture
def with_workflow_records(audited):
    for name in ("summary.json", "events.jsonl"):
        shutil.copy(DATA / name, audited / name)
    return audited


def section(md: str, title: str) -> str:
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start : end if end != -1 else len(md)]


def bundle_decision(run: Path):
    return [d for _, d in RunEvidence(RunStore(run)).decisions if d.scope == "bundle"][-1]


def rewrite_audit(run: Path, gate: str, **changes) -> None:
    p = run / "audits" / f"{gate}.json"
    data = json.loads(p.read_text())
    data.update(changes)
    p.write_text(json.dumps(data))


def test_pass_bundle_headline_is_the_rederived_delta_signed_by_the_auditor(audited):
    d = bundle_decision(audited)
    ev = RunEvidence(RunStore(audited))
    ref = [v for leg in d.reference_legs for v in ev.leg(leg).values("output_throughput")[0]]
    cand = [v for leg in d.candidate_legs for v in ev.leg(leg).values("output_throughput")[0]]
    delta = stats.delta_pct(stats.median(ref), stats.median(cand))
    head = section(build_report(audited)[0], "Headline")
    assert fmt_pct(delta) in head
    assert fmt_ci(stats.bootstrap_delta_ci(ref, cand, seed=0)) in head
    assert "Signed by the auditor (PASS)" in head


def test_stacked_part_that_failed_its_gate_is_a_caveat_next_to_the_headline(audited):
    rewrite_audit(audited, "integrate-rmsnorm", verdict="FAIL")
    head = section(build_report(audited)[0], "Headline")
    assert "Signed by the auditor (PASS)" in head
    assert "stacked decision d-integrate-rmsnorm (gate integrate-rmsnorm): FAIL" in head


def test_failed_bundle_audit_gives_no_headline_and_hides_the_claim(audited):
    d = bundle_decision(audited)
    claimed = f"{d.claim.delta_pct:g}"
    findings = json.loads((audited / "audits" / "bundle.json").read_text())["findings"]
    findings[0].update(outcome="fail", action="eject", message=f"claim delta_pct = {claimed} but raw re-derives 0")
    rewrite_audit(audited, "bundle", verdict="FAIL", findings=findings)
    head = section(build_report(audited)[0], "Headline")
    assert "No verified headline" in head and "FAIL" in head
    assert claimed not in head
    assert f"{d.claim.candidate_value:g}" not in head


def test_flag_bundle_shows_the_number_as_not_verified(audited):
    findings = json.loads((audited / "audits" / "bundle.json").read_text())["findings"]
    findings[0].update(outcome="flag", action="remeasure", message="planted flag for the report test")
    rewrite_audit(audited, "bundle", verdict="FLAG", findings=findings)
    head = section(build_report(audited)[0], "Headline")
    assert "Not verified (FLAG)" in head and "planted flag for the report test" in head
    assert "Signed by the auditor" not in head


def test_unaudited_run_says_not_audited(run_dir):
    md, _ = build_report(run_dir)
    assert "No verified headline" in section(md, "Headline")
    assert "not audited" in section(md, "Headline")
    assert section(md, "Gates").count("not audited") >= 6


def test_null_verdict_is_unaudited_not_verified(audited):
    rewrite_audit(audited, "bundle", verdict=None, unaudited_reason="auditor error: KeyError: 'x'\ntraceback...")
    head = section(build_report(audited)[0], "Headline")
    assert "No verified headline" in head and "unaudited: auditor error: KeyError" in head


def test_audit_of_an_earlier_attempt_does_not_verify_the_latest(audited):
    rewrite_audit(audited, "bundle", decision_id="d-bundle-attempt-1")
    head = section(build_report(audited)[0], "Headline")
    assert "No verified headline" in head and "d-bundle-attempt-1" in head


def test_passthrough_phase_and_run_mode_show_in_the_summary_above_the_gates(with_workflow_records):
    md, _ = build_report(with_workflow_records)
    summary = section(md, "Summary")
    assert "kernel: kernel phase not built" in summary
    assert "| llm mode | replay |" in summary and "| use_auditor | True |" in summary
    assert md.index("kernel phase not built") < md.index("\n## Gates\n")


def test_gates_table_shows_banked_from_summary_and_decisions_beyond_it(with_workflow_records):
    gates = section(build_report(with_workflow_records)[0], "Gates")
    assert "| config-accept-1 | patch | d-cfg-1 | 2 | PASS | banked |" in gates
    assert "| integrate-rmsnorm | patch | d-integrate-rmsnorm | 1 | PASS | — (not in summary.json) |" in gates


WITHDRAWN = GateOutcome(gate_id="config-2", scope="patch", attempts=0, banked=False, note="withdrawn by the producer")
WITHHELD = GateOutcome(
    gate_id="config-accept-1",
    scope="patch",
    decision_id="d-cfg-1",
    attempts=1,
    verdict="FAIL",
    banked=False,
    note="withheld: FAIL at the bound of 1 attempt(s)",
)


def write_summary(run: Path, gates: list[GateOutcome], banked: list[str], bundle: str | None) -> None:
    RunStore(run).write_json(
        "summary.json",
        RunSummary(run_id="clean", status="complete", gates=gates, banked_decisions=banked, bundle_decision=bundle),
    )


def set_verdict(run: Path, gate: str, verdict: str) -> None:
    """Rewrite one audit's verdict, its first finding made to agree."""
    store = RunStore(run)
    a, problems = store.read_json(f"audits/{gate}.json", AuditVerdict)
    assert a is not None and not problems
    findings = [
        a.findings[0].model_copy(
            update={
                "outcome": verdict.lower(),
                "action": "eject" if verdict == "FAIL" else "remeasure",
                "message": f"planted {verdict} for the report test",
            }
        ),
        *a.findings[1:],
    ]
    store.write_json(f"audits/{gate}.json", a.model_copy(update={"verdict": verdict, "findings": findings}))


@pytest.fixture
def nothing_banked(run_dir):
    """The clean run cut to what a run that banked no change leaves: no kernel, no bundle, no validation."""
    decisions = run_dir / "decisions.jsonl"
    keep = ("baseline", "profile-1", "config-accept-1")
    decisions.write_text(
        "".join(line + "\n" for line in decisions.read_text().splitlines() if json.loads(line)["gate_id"] in keep)
    )
    audit_run(run_dir)
    assert json.loads((run_dir / "audits" / "baseline.json").read_text())["decision_id"] == "d-baseline"
    set_verdict(run_dir, "config-accept-1", "FAIL")
    baseline = GateOutcome(
        gate_id="baseline", scope="baseline", decision_id="d-baseline", attempts=1, verdict="PASS", banked=True
    )
    write_summary(run_dir, [baseline, WITHHELD, WITHDRAWN], ["d-baseline"], None)
    return run_dir


def baseline_median(run: Path) -> float:
    ev = RunEvidence(RunStore(run))
    d = [d for _, d in ev.decisions if d.gate_id == "baseline"][-1]
    median = stats.median([v for leg in d.reference_legs for v in ev.leg(leg).values("output_throughput")[0]])
    assert median is not None
    return median


def test_withdrawn_gate_reads_withdrawn_with_its_note(with_workflow_records):
    summary = RunSummary.model_validate_json((with_workflow_records / "summary.json").read_text())
    write_summary(with_workflow_records, [*summary.gates, WITHDRAWN], summary.banked_decisions, summary.bundle_decision)
    md, page = build_report(with_workflow_records)
    assert (
        "| config-2 | patch | — | 0 | withdrawn (not submitted) | withdrawn | — | withdrawn by the producer |"
        in section(md, "Gates")
    )
    assert "<td>withdrawn by the producer</td>" in page


def test_nothing_banked_headline_is_the_baseline_signed_by_the_auditor(nothing_banked):
    head = section(build_report(nothing_banked)[0], "Headline")
    assert "No change beat the baseline: nothing to validate." in head
    assert f"{fmt_num(baseline_median(nothing_banked))} tok/s" in head
    assert "baseline signed by the auditor (PASS)" in head
    assert "no bundle decision" not in head


def test_nothing_banked_lists_the_gates_tried_with_their_notes(nothing_banked):
    head = section(build_report(nothing_banked)[0], "Headline")
    assert "- config-2 (not submitted): withdrawn by the producer" in head
    assert (
        "- config-accept-1 (decision d-cfg-1, 1 attempt(s), verdict FAIL): withheld: FAIL at the bound of 1 attempt(s)"
    ) in head


def test_nothing_banked_with_a_failed_baseline_audit_shows_no_number(nothing_banked):
    set_verdict(nothing_banked, "baseline", "FAIL")
    head = section(build_report(nothing_banked)[0], "Headline")
    assert "No change beat the baseline: nothing to validate." in head
    assert "No verified reference: gate baseline (d-baseline) is FAIL." in head
    assert fmt_num(baseline_median(nothing_banked)) not in head and "tok/s" not in head
    assert "signed by the auditor" not in head


def test_nothing_banked_with_a_flagged_baseline_shows_the_number_as_not_verified(nothing_banked):
    set_verdict(nothing_banked, "baseline", "FLAG")
    head = section(build_report(nothing_banked)[0], "Headline")
    assert f"{fmt_num(baseline_median(nothing_banked))} tok/s" in head
    assert "not verified (FLAG)" in head and "planted FLAG for the report test" in head
    assert "signed by the auditor" not in head


def test_baseline_audit_of_an_earlier_decision_does_not_sign_the_reference(nothing_banked):
    rewrite_audit(nothing_banked, "baseline", decision_id="d-baseline-0")
    head = section(build_report(nothing_banked)[0], "Headline")
    assert "No verified reference" in head and "d-baseline-0" in head
    assert "tok/s" not in head


def test_timeline_lists_events_with_offsets_from_the_first(with_workflow_records):
    timeline = section(build_report(with_workflow_records)[0], "Timeline")
    assert "| +0.0 s | setup | start |" in timeline
    assert "| +91.3 s | finalize | audit | bundle | bundle audited <final> | PASS |" in timeline


VOID_TAGS = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr"})


class StrictTags(HTMLParser):
    """html.parser never raises, so check what it cannot: every element is closed, in order."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


def test_html_is_self_contained_escaped_and_well_formed(with_workflow_records):
    _, page = build_report(with_workflow_records)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page and "url(" not in page and "@import" not in page
    assert page.count("<svg") == 4
    assert "bundle audited &lt;final&gt;" in page and "<final>" not in page
    parser = StrictTags()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []


def test_missing_leg_is_listed_not_fatal(audited):
    shutil.rmtree(audited / "legs" / "val_final_2")
    legs = section(build_report(audited)[0], "Legs")
    assert "| val_final_2 | — | missing | 0 | — |" in legs
    assert "legs/val_final_2/launch.json: file is missing" in legs


def test_truncated_bench_line_is_listed_and_not_counted(audited):
    bench = audited / "legs" / "val_final_1" / "bench_runs.jsonl"
    data = bench.read_bytes()
    bench.write_bytes(data[: len(data) - 200])
    legs = section(build_report(audited)[0], "Legs")
    assert "legs/val_final_1/bench_runs.jsonl:4: truncated last line" in legs
    # the rep the line stood for is still in raw/ (the tool's own file): it is counted, not lost
    assert "| val_final_1 | validation_final | ok | 3 |" in legs


def test_leg_without_request_arrays_shows_dash_not_zero(run_dir):
    # vLLM run without --save-detailed: no per-request arrays in raw/ nor in geak's copy
    leg = run_dir / "legs" / "val_final_1"
    for raw in (leg / "raw").glob("rep_*.json"):
        obj = json.loads(raw.read_text())
        raw.write_text(json.dumps({k: v for k, v in obj.items() if not isinstance(v, list)}))
    bench = leg / "bench_runs.jsonl"
    lines = [json.loads(line) for line in bench.read_text().splitlines()]
    bench.write_text("".join(json.dumps({**rec, "requests": None}) + "\n" for rec in lines))
    row = next(r for r in section(build_report(run_dir)[0], "Legs").splitlines() if r.startswith("| val_final_1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5] == "reported" and cells[6:] == ["—", "—"]


def test_build_report_is_pure(audited):
    assert build_report(audited) == build_report(audited)


def test_write_report_writes_both_files_atomically(with_workflow_records):
    md_path, html_path = write_report(with_workflow_records)
    assert (md_path.name, html_path.name) == ("report.md", "report.html")
    assert (md_path.read_text(), html_path.read_text()) == build_report(with_workflow_records)
    assert not list(with_workflow_records.glob(".report*.tmp"))


def test_a_hostile_metric_name_is_shown_bounded_and_the_seal_is_reported(run_dir):
    """The claim's metric is the producer's word (P1 judges it): the report shows it cut short,
    and says which ledger head the run's files hold."""
    lines = (run_dir / "decisions.jsonl").read_text().splitlines()
    ds = [json.loads(x) for x in lines]
    for d in ds:
        if d["decision_id"] == "d-cfg-1":
            d["claim"]["metric"] = "x" * 5000
    (run_dir / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ds))
    audit_run(run_dir)
    write_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "x" * 81 not in md and "x" * 57 + "..." in md  # P1 quotes 80 of them, the table 57
    assert "| sealed | ledger.jsonl line " in md


def test_the_terminal_headline_names_the_number_the_gate_and_its_verdict(with_workflow_records):
    from geak.orchestrator.report import headline, headline_text, load_run

    line = headline_text(headline(load_run(with_workflow_records)))
    assert line.startswith("output_throughput +") and "signed: PASS at gate bundle (d-bundle)" in line, line


def test_without_a_validate_phase_the_headline_is_the_last_banked_gates_own_delta(with_workflow_records):
    from geak.orchestrator.report import headline, headline_text, load_run

    run = with_workflow_records
    s = json.loads((run / "summary.json").read_text())
    s.update(bundle_decision=None, banked_decisions=["d-baseline", "d-cfg-1"])
    (run / "summary.json").write_text(json.dumps(s))
    lines = [
        line
        for line in (run / "decisions.jsonl").read_text().splitlines()
        if '"scope":"bundle"' not in line.replace(" ", "")
    ]
    (run / "decisions.jsonl").write_text("\n".join(lines) + "\n")
    h = headline(load_run(run))
    assert h.decision is not None and h.decision.decision_id == "d-cfg-1"
    assert "at gate config-accept-1 (d-cfg-1)" in headline_text(h) and "no final validation" in h.caveats[0]
