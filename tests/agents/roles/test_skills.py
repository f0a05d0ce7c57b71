"""Skill cards, the index, prompt templates and the `geak skills` sub-app."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geak.agents.roles import skill_state, skills as sk
from geak.orchestrator.cli.skills_cmds import skills_app

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "skills"
B4_RUN = REPO / "runs" / "cases" / "b4_handicapped_seed" / "run"
ROLES = [
    "profiler",
    "strategist",
    "config_tuner",
    "kernel_extractor",
    "kernel_author",
    "op_benchmarker",
    "integrator",
    "finalizer",
    "patch_auditor",
]
PRODUCERS = ["profiler", "config_tuner", "kernel_extractor", "op_benchmarker", "integrator", "finalizer"]
runner = CliRunner()


def _copy(name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(DATA / name, dst)
    return dst


# ---------------------------------------------------------------- shipped skills


def test_shipped_skills_validate():
    assert sk.validate_all(REPO) == []


def test_every_role_is_indexed_with_card_and_template():
    index = sk.load_index(REPO)
    assert sorted(index) == sorted(ROLES)
    for role in ROLES:
        s = sk.load_skill(role, REPO)
        assert s.role == role and s.version == index[role].version
        assert 30 <= len((REPO / s.path).read_text().splitlines()) <= 120, s.path
        assert (REPO / "prompts" / f"{role}.j2").is_file()


def test_patch_auditor_card_covers_scopes_rules_and_verdict_json():
    s = sk.load_skill("patch_auditor", REPO)
    assert s.scopes == ["baseline", "profile", "harness", "patch", "bundle"]
    for scope in s.scopes:
        assert f"## Scope: {scope}" in s.body
    for word in ('"verdict": "PASS|FLAG|FAIL"', '"rule_id"', '"evidence"', '"action"', '"actions"', "escalate"):
        assert word in s.body
    assert "A deterministic `fail` is final" in s.body and "may not argue it away" in s.body
    assert "established fact" in s.body  # deterministic findings are given as facts


@pytest.mark.parametrize("role", PRODUCERS)
def test_producer_cards_defer_to_the_auditor(role):
    body = sk.load_skill(role, REPO).body.lower()
    assert "authoritative" in body and "fix every" in body


# ---------------------------------------------------------------- validation of broken trees


def test_minimal_fixture_is_valid_and_renders():
    assert sk.validate_all(DATA / "minimal") == []
    out = sk.render("alpha", {"run_id": "r9", "gate_id": "g7"}, DATA / "minimal")
    assert "run r9 gate g7" in out and "Say which gate" in out


def test_broken_front_matter_names_file_and_field():
    probs = sk.validate_all(DATA / "broken_front")
    text = "\n".join(probs)
    assert "skills/alpha/skill.md" in text
    assert "field 'version'" in text
    assert "field 'output_model'" in text  # missing
    assert "field 'outputmodel'" in text  # unknown key (a typo is not ignored)
    with pytest.raises(sk.SkillError) as e:
        sk.load_skill("alpha", DATA / "broken_front")
    assert "skills/alpha/skill.md: field 'version'" in str(e.value)


def test_missing_front_matter_and_bad_yaml(tmp_path):
    root = _copy("minimal", tmp_path)
    card = root / "skills" / "alpha" / "skill.md"
    card.write_text("no front matter here\n")
    assert any("skills/alpha/skill.md: no YAML front matter" in p for p in sk.validate_all(root))
    card.write_text("---\nname: [unclosed\n---\nbody\n")
    assert any("skills/alpha/skill.md: front matter is not valid YAML" in p for p in sk.validate_all(root))


def test_index_card_mismatch_detected():
    probs = sk.validate_all(DATA / "mismatch")
    assert any("ghost" in p and "does not exist" in p for p in probs), probs
    assert any(p.startswith("skills/beta/skill.md") and "no entry" in p for p in probs), probs


def test_version_role_template_and_input_problems(tmp_path):
    root = _copy("minimal", tmp_path)
    idx = root / "skills" / "index.yaml"
    idx.write_text(idx.read_text().replace('"0.1.0"', '"0.2.0"'))
    (root / "prompts" / "alpha.j2").rename(root / "prompts" / "stray.j2")
    text = "\n".join(sk.validate_all(root))
    assert "field 'version'" in text and "0.2.0" in text
    assert "prompts/alpha.j2: template missing" in text
    assert "prompts/stray.j2: template for role 'stray'" in text

    root2 = _copy("minimal", tmp_path / "b")
    card = root2 / "skills" / "alpha" / "skill.md"
    card.write_text(card.read_text().replace("inputs: [run_id, gate_id]", "inputs: [run_id, gate_id, no_such_field]"))
    assert any("no_such_field" in p and "sample_state.yaml" in p for p in sk.validate_all(root2))


def test_auditor_scopes_required(tmp_path):
    root = tmp_path / "r"
    shutil.copytree(REPO / "skills", root / "skills")
    shutil.copytree(REPO / "prompts", root / "prompts")
    card = root / "skills" / "patch_auditor" / "skill.md"
    card.write_text(
        card.read_text().replace("scopes: [baseline, profile, harness, patch, bundle]", "scopes: [baseline, patch]")
    )
    probs = sk.validate_all(root)
    assert any("skills/patch_auditor/skill.md: field 'scopes'" in p for p in probs), probs


# ---------------------------------------------------------------- rendering


def test_strict_undefined_names_template_and_variable():
    probs = sk.validate_all(DATA / "strict")
    assert any("prompts/alpha.j2:3" in p and "nonexistent_field" in p for p in probs), probs
    with pytest.raises(sk.RenderError) as e:
        sk.render("alpha", {"run_id": "r", "gate_id": "g"}, DATA / "strict")
    assert e.value.variable == "nonexistent_field" and e.value.template == "prompts/alpha.j2" and e.value.line == 3
    assert "nonexistent_field" in str(e.value) and "prompts/alpha.j2" in str(e.value)


def test_render_requires_declared_inputs():
    with pytest.raises(sk.RenderError) as e:
        sk.render("alpha", {"run_id": "r"}, DATA / "minimal")
    assert "gate_id" in str(e.value)


def test_unknown_role_lists_known_roles():
    with pytest.raises(KeyError) as e:
        sk.load_skill("wizard", REPO)
    msg = str(e.value)
    assert "wizard" in msg and all(r in msg for r in ROLES)
    with pytest.raises(KeyError):
        sk.render("wizard", {}, REPO)
    with pytest.raises(KeyError):
        sk.skill_hashes(["wizard"], REPO)


def test_patch_auditor_render_for_b4_baseline_gate():
    state = skill_state.state_from_run(B4_RUN, "baseline", audit=True, root=REPO)
    assert state["deterministic_verdict"] == "FAIL"
    out = sk.render("patch_auditor", state, REPO)
    assert "B4" in out and "FAIL" in out
    assert "gate: `baseline`, scope: **baseline**" in out
    assert "Objective FAIL already established by rule(s) B4" in out
    assert "`legs/baseline/launch.json`" in out
    assert "| B4 | baseline | fail | eject |" in out


def test_state_from_run_has_every_sample_field():
    state = skill_state.state_from_run(B4_RUN, "integrate-rmsnorm", root=REPO)
    assert set(sk.load_sample_state(REPO)) <= set(state)
    assert state["op"] == "rmsnorm" and state["opbench"] is not None
    assert state["deterministic_findings"] is None  # not asked for
    for role in ROLES:
        assert sk.render(role, state, REPO).strip()
    with pytest.raises(KeyError, match="no decision"):
        skill_state.state_from_run(B4_RUN, "nope", root=REPO)


# ---------------------------------------------------------------- hashes


def test_skill_hashes_stable_and_change_with_content(tmp_path):
    h1 = sk.skill_hashes(None, REPO)
    assert h1 == sk.skill_hashes(None, REPO)
    assert "skills/index.yaml" in h1 and "skills/patch_auditor/skill.md" in h1 and "prompts/patch_auditor.j2" in h1
    assert "prompts/_layout.j2" in h1 and list(h1) == sorted(h1)
    assert all(len(v) == 64 for v in h1.values())
    one = sk.skill_hashes(["patch_auditor"], REPO)
    assert (
        "skills/profiler/skill.md" not in one
        and one["skills/patch_auditor/skill.md"] == h1["skills/patch_auditor/skill.md"]
    )
    assert sk.load_skill("patch_auditor", REPO).sha256 == h1["skills/patch_auditor/skill.md"]

    root = _copy("minimal", tmp_path)
    a = sk.skill_hashes(["alpha"], root)
    card = root / "skills" / "alpha" / "skill.md"
    card.write_text(card.read_text() + "\nOne more line.\n")
    b = sk.skill_hashes(["alpha"], root)
    assert a["skills/alpha/skill.md"] != b["skills/alpha/skill.md"] and a["prompts/alpha.j2"] == b["prompts/alpha.j2"]


# ---------------------------------------------------------------- CLI


def test_cli_list_and_show():
    r = runner.invoke(skills_app, ["list"])
    assert r.exit_code == 0, r.output
    for role in ROLES:
        assert role in r.output
    r = runner.invoke(skills_app, ["show", "patch_auditor"])
    assert r.exit_code == 0 and "scopes: baseline, profile, harness, patch, bundle" in r.output
    assert "output_model: AuditJudgment" in r.output


def test_cli_unknown_role_exits_2():
    r = runner.invoke(skills_app, ["show", "wizard"])
    assert r.exit_code == 2 and "known roles" in r.output and "patch_auditor" in r.output


def test_cli_validate_ok_and_failing():
    r = runner.invoke(skills_app, ["validate"])
    assert r.exit_code == 0 and "9 skills OK" in r.output
    r = runner.invoke(skills_app, ["validate", "--root", str(DATA / "mismatch")])
    assert r.exit_code == 3
    assert "ghost" in r.output and "skills/beta/skill.md" in r.output


def test_cli_render_patch_auditor_from_run():
    r = runner.invoke(skills_app, ["render", "patch_auditor", "--run", str(B4_RUN), "--gate", "baseline"])
    assert r.exit_code == 0, r.output
    assert (
        "B4" in r.output and "FAIL" in r.output and "[resolved_config.cache_config.gpu_memory_utilization]" in r.output
    )


def test_cli_render_errors():
    r = runner.invoke(skills_app, ["render", "patch_auditor", "--run", str(B4_RUN), "--gate", "nope"])
    assert r.exit_code == 2 and "baseline" in r.output
    r = runner.invoke(skills_app, ["render", "patch_auditor", "--run", "/nonexistent/run"])
    assert r.exit_code == 2


def test_an_edited_prompt_cannot_escape_the_sandbox(tmp_path):
    # the escape a user-edited skill prompt could plant under a plain jinja2 Environment
    root = _copy("minimal", tmp_path)
    proof = tmp_path / "escaped"
    tpl = root / "prompts" / "alpha.j2"
    tpl.write_text(
        tpl.read_text() + "\n{{ cycler.__init__.__globals__.os.popen('touch " + str(proof) + "').read() }}\n"
    )
    with pytest.raises(sk.RenderError) as e:
        sk.render("alpha", {"run_id": "r", "gate_id": "g"}, root)
    assert "SecurityError" in str(e.value) and "prompts/alpha.j2" in str(e.value)
    assert not proof.exists()
    # validate reports it as the template's problem; the CLI renders nothing and exits 3 (a check that did not hold)
    assert any("prompts/alpha.j2" in p and "unsafe" in p for p in sk.validate_all(root))
    r = runner.invoke(skills_app, ["validate", "--root", str(root)])
    assert r.exit_code == 3 and not proof.exists()


def test_a_prompt_cannot_mutate_the_state_it_is_shown(tmp_path):
    root = _copy("minimal", tmp_path)
    tpl = root / "prompts" / "alpha.j2"
    tpl.write_text(tpl.read_text() + "\n{{ state.items_.append(1) }}\n")
    state = {"run_id": "r", "gate_id": "g", "items_": []}
    with pytest.raises(sk.RenderError):
        sk.render("alpha", state, root)
    assert state["items_"] == []


def test_the_prior_verdict_is_read_from_the_auditors_own_file_name(tmp_path):
    # "cfg/x" and "cfg_x" once shared audits/cfg_x.json here: each gate's feedback must be its own
    import json

    from geak.auditor.audit import audit_file
    from corpus.synthetic import build_clean_run
    from geak.auditor.evidence.models import Decision

    run = build_clean_run(tmp_path / "run").root
    base = json.loads((run / "decisions.jsonl").read_text().splitlines()[0])
    for gid in ("cfg/x", "cfg_x"):
        d = Decision.model_validate({**base, "gate_id": gid, "decision_id": f"d-{gid}"})
        with open(run / "decisions.jsonl", "a") as f:
            f.write(d.model_dump_json() + "\n")
    (run / "audits").mkdir(exist_ok=True)
    (run / audit_file("cfg_x")).write_text(json.dumps({"gate_id": "cfg_x", "verdict": "FAIL", "findings": []}))
    assert skill_state.state_from_run(run, "cfg_x", root=REPO)["audit_feedback"]["verdict"] == "FAIL"
    assert skill_state.state_from_run(run, "cfg/x", root=REPO)["audit_feedback"] is None
