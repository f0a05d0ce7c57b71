"""What-if replay (issue 15): the shipped recording replayed under a changed policy or workflow,
with no engine, and the decision diff per gate; `geak skills diff`."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from geak.orchestrator.cli import app

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"
runner = CliRunner()
GATE = "config-max_num_seqs-32"


def _untouched(a: Path, b: Path) -> bool:
    def ok(c: filecmp.dircmp) -> bool:
        return not (c.left_only or c.right_only or c.diff_files or c.funny_files) and all(ok(s) for s in c.subdirs.values())
    return ok(filecmp.dircmp(a, b))


def _gates(out: Path) -> dict[str, dict]:
    return {g["gate_id"]: g for g in json.loads((out / "what_if.json").read_text())["gates"]}


def test_a_stricter_policy_flips_the_banked_config_to_withheld_and_names_the_rule(tmp_path):
    src = tmp_path / "rec"
    shutil.copytree(REC, src)
    strict = tmp_path / "strict.yaml"
    strict.write_text("noise_band_pct: 70\n")  # the +64.1% win is inside a 70% band
    out = tmp_path / "wi"
    r = runner.invoke(app, ["replay", str(src), "--out", str(out), "--policy", str(strict)])
    assert r.exit_code == 6, r.output  # a banked decision flipped
    g = _gates(out)[GATE]
    assert (g["recorded_verdict"], g["recorded_banked"], g["replayed_verdict"], g["replayed_banked"]) == ("PASS", True, "FLAG", False)
    assert {"rule_id": "P3", "recorded": "pass", "replayed": "flag"} in [{k: x[k] for k in ("rule_id", "recorded", "replayed")} for x in g["rules"]]
    # P3 asked for a re-measure the recording never made: the branch ends, named, and the rest goes on
    assert g["note"].startswith("not recorded: leg(s) ref_max_num_seqs-32_m1")
    assert "What-if" in (out / "report.md").read_text() and "What-if" in (out / "report.html").read_text()
    assert GATE in r.output and "1 banked decision(s) flipped" in r.output
    assert _untouched(REC, src)  # the recording is only read


def test_a_changed_plan_that_asks_for_unrecorded_legs_ends_those_branches_not_recorded(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text((REC / "workflow.yaml").read_text().replace("max_candidates: 1}", "max_candidates: 3}"))
    out = tmp_path / "wi"
    r = runner.invoke(app, ["replay", str(REC), "--out", str(out), "--workflow", str(wf)])
    assert r.exit_code == 0, r.output  # nothing banked flipped
    gates = _gates(out)
    new = [g for gid, g in gates.items() if gid not in ("baseline", GATE, "bundle")]
    assert len(new) == 2 and all(g["note"].startswith("not recorded") and g["replayed_banked"] is False for g in new)
    # the recorded branch is unchanged: same verdicts, no rule moved
    for gid in ("baseline", GATE, "bundle"):
        assert gates[gid]["recorded_verdict"] == gates[gid]["replayed_verdict"] and not gates[gid]["rules"], gates[gid]


def test_a_what_if_without_the_recorded_baseline_legs_is_a_clear_run_error(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text((REC / "workflow.yaml").read_text().replace("aa_legs: 1 ", "aa_legs: 2 "))
    out = tmp_path / "wi"
    r = runner.invoke(app, ["replay", str(REC), "--out", str(out), "--workflow", str(wf)])
    assert r.exit_code == 1 and "aa_2" in r.output and "Traceback" not in r.output, r.output
    assert not out.exists()


def test_a_bad_policy_is_a_usage_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("noise_band_pct: [1]\n")
    r = runner.invoke(app, ["replay", str(REC), "--out", str(tmp_path / "wi"), "--policy", str(bad)])
    assert r.exit_code == 2 and "noise_band_pct" in r.output and not (tmp_path / "wi").exists()


def test_skills_diff_names_what_changed_since_the_run(tmp_path):
    r = runner.invoke(app, ["skills", "diff", str(REC)])
    assert r.exit_code == 0 and "0 of" in r.output, r.output
    root = tmp_path / "root"
    shutil.copytree(REPO / "skills", root / "skills")
    shutil.copytree(REPO / "prompts", root / "prompts")
    card = root / "prompts" / "patch_auditor.j2"
    card.write_text(card.read_text() + "\nBe stricter.\n")
    r = runner.invoke(app, ["skills", "diff", str(REC), "--root", str(root)])
    assert r.exit_code == 1 and "prompts/patch_auditor.j2" in r.output and "changed" in r.output, r.output
