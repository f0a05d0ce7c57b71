"""What-if replay (issue 15): the shipped recording replayed under a changed policy or workflow,
with no engine, and the decision diff per gate; `geak skills diff`."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from fake_openai import KEY_ENV
from scripted_roles import ESCALATE, PLAN, script
from typer.testing import CliRunner

from geak.orchestrator.cli import app

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"
runner = CliRunner()
GATE = "config-max_num_seqs-32"
LLM_REC = REPO / "runs" / "recorded" / "tiny-cpu-llm"  # its roles answered through litellm (runs/README.md)


def _untouched(a: Path, b: Path) -> bool:
    def ok(c: filecmp.dircmp) -> bool:
        return not (c.left_only or c.right_only or c.diff_files or c.funny_files) and all(
            ok(s) for s in c.subdirs.values()
        )

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
    assert (g["recorded_verdict"], g["recorded_banked"], g["replayed_verdict"], g["replayed_banked"]) == (
        "PASS",
        True,
        "FLAG",
        False,
    )
    assert {"rule_id": "P3", "recorded": "pass", "replayed": "flag"} in [
        {k: x[k] for k in ("rule_id", "recorded", "replayed")} for x in g["rules"]
    ]
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
    assert r.exit_code == 7 and "aa_2" in r.output and "Traceback" not in r.output, r.output
    assert not out.exists()


def test_a_bad_policy_is_a_usage_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("noise_band_pct: [1]\n")
    r = runner.invoke(app, ["replay", str(REC), "--out", str(tmp_path / "wi"), "--policy", str(bad)])
    assert r.exit_code == 2 and "noise_band_pct" in r.output and not (tmp_path / "wi").exists()


def test_skills_diff_names_what_changed_since_the_run(tmp_path):
    r = runner.invoke(app, ["skills", "diff", str(LLM_REC)])  # recorded with today's skills
    assert r.exit_code == 0 and "0 of" in r.output, r.output
    root = tmp_path / "root"
    shutil.copytree(REPO / "skills", root / "skills")
    shutil.copytree(REPO / "prompts", root / "prompts")
    card = root / "prompts" / "patch_auditor.j2"
    card.write_text(card.read_text() + "\nBe stricter.\n")
    r = runner.invoke(app, ["skills", "diff", str(LLM_REC), "--root", str(root)])
    assert r.exit_code == 1 and "prompts/patch_auditor.j2" in r.output and "changed" in r.output, r.output


# ---------------------------------------------------------------- the recording whose roles ran through litellm

MORE = "Prefer the larger decode batch of 64."  # a line an edited strategist card adds


def _root_copy(tmp_path: Path) -> Path:
    root = tmp_path / "skills-root"
    r = runner.invoke(app, ["skills", "copy", str(root)])
    assert r.exit_code == 0 and (root / "prompts" / "patch_auditor.j2").is_file(), r.output
    assert runner.invoke(app, ["skills", "copy", str(root)]).exit_code == 2  # never over an existing copy
    return root


def _live(server, *more_args: str):
    return ["--llm", "openai/test-model", "--api-base", server.api_base, "--api-key-env", KEY_ENV, *more_args]


def _no_created_at(p: Path) -> dict:
    d = json.loads(p.read_text())
    d.pop("created_at", None)
    return d


def test_the_original_settings_replay_byte_identically(tmp_path):
    out = tmp_path / "rp"
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(out)])
    assert r.exit_code == 0 and "reproduced exactly" in r.output, r.output
    for f in ("decisions.jsonl", "strategy.json"):
        assert (out / f).read_bytes() == (LLM_REC / f).read_bytes(), f
    # the summary too, but for the one field that says how this run's roles were answered
    s_out, s_rec = json.loads((out / "summary.json").read_text()), json.loads((LLM_REC / "summary.json").read_text())
    assert (s_out.pop("llm_mode"), s_rec.pop("llm_mode")) == ("replay", "live")
    # the replay seals each copied leg as the recording sealed it (its files, the prefix of a log
    # its server kept writing to, the time): the chain is rebuilt line for line, and so is its head
    assert s_out == s_rec and s_rec["ledger_head"]
    assert (out / "ledger.jsonl").read_bytes() == (LLM_REC / "ledger.jsonl").read_bytes()
    # the verdicts the live gates gave, as recorded (audits/history: audits/<gate>.json holds what the
    # auditor says of the finished recording today, whose seal messages name the final ledger head);
    # only the time they were written differs, and the policy record names thresholds added since
    # (issue 17: B5's concurrency; issue 18: the paired P3's; issue 36: H12's slack) with their defaults
    audits = sorted(
        p.relative_to(LLM_REC / "audits").as_posix() for p in (LLM_REC / "audits" / "history").glob("*.json")
    )
    assert audits and audits == sorted(
        p.relative_to(out / "audits").as_posix() for p in (out / "audits" / "history").glob("*.json")
    )
    for a in audits:
        got, rec = _no_created_at(out / "audits" / a), _no_created_at(LLM_REC / "audits" / a)
        new = set(got["policy"]) - set(rec["policy"])
        assert new <= {
            "max_shared_core_load",
            "concurrent_overlap_s",
            "pair_min_evenness",
            "min_pairs",
            "paired_noise_band_pct",
            "paired_noise_band_unknown",
            "engine_baseline_slack",
        }, new
        got["policy"] = {k: v for k, v in got["policy"].items() if k not in new}
        assert got == rec, a
    calls = lambda run: [  # noqa: E731
        (c["role"], c["prompt_sha256"], c["response_text"])
        for c in map(json.loads, (run / "llm_calls.jsonl").read_text().splitlines())
    ]
    assert calls(out) == calls(LLM_REC)  # every role asked the same prompt and got the recorded answer
    # the same policy, given as a what-if, changes nothing either
    same = tmp_path / "same.yaml"
    same.write_text("{}\n")
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(tmp_path / "wi"), "--policy", str(same)])
    assert r.exit_code == 0 and "0 banked decision(s) flipped" in r.output, r.output
    assert not any(
        g["rules"] or g["recorded_verdict"] != g["replayed_verdict"] for g in _gates(tmp_path / "wi").values()
    )


def test_an_edited_auditor_prompt_under_an_escalating_llm_turns_a_pass_into_a_flag(tmp_path, llm_server):
    root = _root_copy(tmp_path)
    tpl = root / "prompts" / "patch_auditor.j2"
    tpl.write_text(
        tpl.read_text().replace(
            "{% block task %}", "{% block task %}\n" + ESCALATE + " when the band rests on one A/A leg."
        )
    )
    llm_server.script = [script(auditor="judge")] * 200
    out = tmp_path / "wi"
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(out), "--skills", str(root), *_live(llm_server)])
    assert r.exit_code == 0, r.output  # a FLAG whose only action is a label still banks: nothing flipped
    g = _gates(out)[GATE]
    assert (g["recorded_verdict"], g["replayed_verdict"], g["replayed_banked"]) == ("PASS", "FLAG", True), g
    assert {"rule_id": "J1", "recorded": None, "replayed": "flag"} in [
        {k: x[k] for k in ("rule_id", "recorded", "replayed")} for x in g["rules"]
    ]
    b = _gates(out)["baseline"]  # the script escalates patch gates only: the baseline's verdict is the recording's
    assert b["replayed_verdict"] == b["recorded_verdict"] == "FLAG", b  # B1: that day's noisy 2-core box (runs/keys)
    # the prompts went to the model over HTTP, edited; the recording's answers were not used
    auditor_prompts = [
        x["body"]["messages"][0]["content"]
        for x in llm_server.requests
        if "geak role `patch_auditor`" in x["body"]["messages"][0]["content"]
    ]
    assert auditor_prompts and all(ESCALATE in p for p in auditor_prompts)
    wi = json.loads((out / "what_if.json").read_text())
    assert wi["changed_inputs"]["skills"] == str(root) and wi["changed_inputs"]["llm"] == "openai/test-model"
    # the replay's manifest names the edited template; geak skills diff sees it against the run
    r = runner.invoke(app, ["skills", "diff", str(LLM_REC), "--root", str(root)])
    assert r.exit_code == 1 and "prompts/patch_auditor.j2" in r.output, r.output
    r = runner.invoke(app, ["skills", "diff", str(out), "--root", str(root)])
    assert r.exit_code == 0, r.output
    assert "sk-graphtest" not in "".join(
        p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".sqlite"
    )


def test_a_changed_strategist_plan_that_asks_for_an_unrecorded_leg_ends_not_recorded(tmp_path, llm_server):
    root = _root_copy(tmp_path)
    card = root / "skills" / "strategist" / "skill.md"
    card.write_text(card.read_text() + "\n" + MORE + "\n")
    wide = {"plan": [{**PLAN["plan"][0], "values": [64], "why": "a larger decode batch"}]}
    base = script(auditor="judge")
    llm_server.script = [
        lambda body, h: json.dumps(wide) if MORE in body["messages"][0]["content"] else base(body, h)
    ] * 200
    out = tmp_path / "wi"
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(out), "--skills", str(root), *_live(llm_server)])
    assert r.exit_code == 6, r.output  # the banked max_num_seqs 32 is never reached: flipped
    gates = _gates(out)
    g64 = gates["config-max_num_seqs-64"]
    assert g64["recorded_verdict"] is None and g64["replayed_banked"] is False
    assert g64["note"].startswith("not recorded: leg(s) cfg_max_num_seqs-64"), g64
    assert gates[GATE]["recorded_banked"] is True and gates[GATE]["replayed_banked"] is None
    assert gates["baseline"]["replayed_verdict"] == gates["baseline"]["recorded_verdict"] == "FLAG"  # the rest went on


def test_skills_without_an_llm_and_an_api_base_without_an_llm_are_usage_errors(tmp_path):
    root = _root_copy(tmp_path)
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(tmp_path / "a"), "--skills", str(root)])
    assert r.exit_code == 2 and "--llm" in r.output and not (tmp_path / "a").exists(), r.output
    r = runner.invoke(
        app, ["replay", str(LLM_REC), "--out", str(tmp_path / "b"), "--api-base", "http://127.0.0.1:9/v1"]
    )
    assert r.exit_code == 2 and "--llm" in r.output, r.output
    (root / "prompts" / "patch_auditor.j2").write_text("{{ state.no_such_field }}")
    r = runner.invoke(
        app, ["replay", str(LLM_REC), "--out", str(tmp_path / "c"), "--skills", str(root), "--llm", "openai/x"]
    )
    assert r.exit_code == 2 and "patch_auditor" in r.output and not (tmp_path / "c").exists(), r.output


# ---------------------------------------------------------------- a hostile producer and a failing judge (issue 32)


def _no_traceback(*outputs: str) -> None:
    for o in outputs:
        assert "Traceback" not in o and "Error:" not in o.split("geak:")[0], o[-2000:]


def test_a_tuner_that_names_a_hostile_metric_with_its_legs_swapped_banks_nothing(tmp_path, llm_server):
    """The config tuner answers metric 'line' (the rep's own line number: a rule once compared
    it and PASSed; another name once threw, and fail-open banked) and swaps its legs so the slower
    config reads as the candidate. The judge answers HTTP 500 as well."""
    base = script(auditor=None)

    def reply(body, headers):
        out = base(body, headers)
        if "geak role `config_tuner`" not in body["messages"][0]["content"]:
            return out
        o = json.loads(out)
        o["reference_legs"], o["candidate_legs"] = o["candidate_legs"], o["reference_legs"]
        o["claim"] = {**o["claim"], "metric": "line", "delta_pct": 400.0}
        return json.dumps(o)

    llm_server.script = [reply] * 200
    out = tmp_path / "hostile"
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(out), *_live(llm_server)])
    assert r.exit_code == 6, r.output  # the recording banked this config; the replay does not: flipped
    g = _gates(out)[GATE]
    assert g["replayed_banked"] is False and g["replayed_verdict"] == "FAIL", g
    v = json.loads((out / "audits" / f"{GATE}.json").read_text())
    p1 = [f["message"] for f in v["findings"] if f["rule_id"] == "P1" and f["outcome"] == "fail"]
    assert any("'line'" in m and "not a metric" in m for m in p1), p1
    assert v["verdict"] == "FAIL" and "LLM auditor failed" in (v["unaudited_reason"] or "")
    rep = runner.invoke(app, ["report", str(out)])
    assert rep.exit_code == 0, rep.output
    _no_traceback(r.output, rep.output)


def test_a_judgment_that_fails_on_a_flagged_gate_leaves_the_flag_standing(tmp_path, llm_server):
    """A policy whose band is wider than the win FLAGs the config gate (re-measure); the judge
    answers HTTP 500 on every call. The deterministic FLAG stands: withheld, never 'UNAUDITED,
    banked'."""
    llm_server.script = [script(auditor=None)] * 200
    wide = tmp_path / "wide.yaml"
    wide.write_text("noise_band_pct: 500.0\n")
    out = tmp_path / "failing-judge"
    r = runner.invoke(app, ["replay", str(LLM_REC), "--out", str(out), "--policy", str(wide), *_live(llm_server)])
    assert r.exit_code == 6, r.output
    g = _gates(out)[GATE]
    assert (g["replayed_verdict"], g["replayed_banked"]) == ("FLAG", False), g
    v = json.loads((out / "audits" / f"{GATE}.json").read_text())
    assert v["verdict"] == "FLAG" and "the deterministic verdict stands" in v["unaudited_reason"]
    s = json.loads((out / "summary.json").read_text())
    assert not [x for x in s["gates"] if x["gate_id"] == GATE and x["banked"]]
    rep = runner.invoke(app, ["report", str(out)])
    assert rep.exit_code == 0, rep.output
    _no_traceback(r.output, rep.output)
