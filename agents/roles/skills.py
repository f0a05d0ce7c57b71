"""Skill cards and prompt templates: load, validate, render, hash.

Layout under a root (the repository by default, ``GEAK_SKILLS_ROOT`` or ``root=`` to override):

    skills/index.yaml            the registry: role -> {path, version}
    skills/<role>/skill.md       YAML front matter + markdown instructions for an LLM
    skills/sample_state.yaml     one example of every state field a card may declare as input
    prompts/<role>.j2            jinja2 template rendering the role's prompt from state + skill
    prompts/_*.j2                shared blocks (not roles)

Conventions a card and its template agree on:

- ``inputs`` lists the state fields the role reads; every one must be a key of
  ``sample_state.yaml`` and present in the state given to ``render`` (null means "unknown").
- Templates run with ``StrictUndefined``: reading a field that is not in the state is an
  error naming the template, its line and the variable, never an empty string.
- ``validate_all`` renders every template with the sample state *restricted to the card's
  declared inputs*, so a template cannot silently read a field its card does not declare.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geak.resources import assets_root

SCOPES: tuple[str, ...] = ("baseline", "profile", "harness", "patch", "bundle")  # = geak.auditor.evidence.models.SCOPES
AUDITOR_ROLE = "patch_auditor"
INDEX_FILE = "skills/index.yaml"
SAMPLE_STATE_FILE = "skills/sample_state.yaml"

_FRONT_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.S)


def default_root() -> Path:
    env = os.environ.get("GEAK_SKILLS_ROOT")
    return Path(env) if env else assets_root()


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else default_root()


# --------------------------------------------------------------------------- models


class SkillFront(BaseModel):
    """The YAML front matter of a skill card. Unknown keys are errors (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$", description="semantic version of the card")
    description: str = Field(min_length=10, description="one line: what the role does")
    inputs: list[str] = Field(min_length=1, description="state fields the role reads")
    output_model: str = Field(
        pattern=r"^[A-Z][A-Za-z0-9]*$", description="pydantic model the answer must validate against"
    )
    scopes: list[str] | None = Field(None, description="auditor only: the scopes the card covers")


class Skill(SkillFront):
    body: str
    path: str = Field(description="card path relative to the root")
    sha256: str


class IndexEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    version: str


class SkillError(ValueError):
    """A card or the index cannot be used; ``problems`` lists why (each names a file)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class UnknownRole(KeyError):
    def __init__(self, role: str, known: Iterable[str]):
        self.role = role
        self.known = sorted(known)
        super().__init__(role)

    def __str__(self) -> str:
        return f"unknown role {self.role!r}; known roles: {', '.join(self.known) or '(none)'}"


class RenderError(ValueError):
    """A template failed to render; the message names the template and, when known, line and variable."""

    def __init__(self, template: str, message: str, line: int | None = None, variable: str | None = None):
        self.template, self.line, self.variable = template, line, variable
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------- loading


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_index(root: str | Path | None = None) -> dict[str, IndexEntry]:
    """skills/index.yaml -> {role: IndexEntry}. Raises SkillError naming the file and entry."""
    r = _root(root)
    f = r / INDEX_FILE
    try:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
    except OSError as e:
        raise SkillError([f"{INDEX_FILE}: cannot read: {e.strerror or e}"]) from None
    except yaml.YAMLError as e:
        raise SkillError([f"{INDEX_FILE}: invalid YAML: {e}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("skills"), dict):
        raise SkillError([f"{INDEX_FILE}: expected a mapping with key 'skills: {{role: {{path, version}}}}'"])
    out: dict[str, IndexEntry] = {}
    problems: list[str] = []
    for role, entry in data["skills"].items():
        try:
            out[str(role)] = IndexEntry.model_validate(entry)
        except ValidationError as e:
            problems += [f"{INDEX_FILE}: skills.{role}.{_loc(err)}: {err['msg']}" for err in e.errors()]
    if problems:
        raise SkillError(problems)
    return out


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(front matter)"


def parse_card(path: Path, rel: str) -> Skill:
    """Parse one card file. Raises SkillError whose problems name ``rel`` and the failing field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SkillError([f"{rel}: cannot read: {e.strerror or e}"]) from None
    m = _FRONT_RE.match(text)
    if not m:
        raise SkillError(
            [f"{rel}: no YAML front matter (the file must start with a '---' line and close it with another)"]
        )
    try:
        front = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise SkillError([f"{rel}: front matter is not valid YAML: {e}"]) from None
    if not isinstance(front, dict):
        raise SkillError([f"{rel}: front matter must be a mapping of fields"])
    body = m.group(2).strip("\n")
    try:
        return Skill.model_validate({**front, "body": body, "path": rel, "sha256": _sha256(path)})
    except ValidationError as e:
        raise SkillError([f"{rel}: field '{_loc(err)}': {err['msg']}" for err in e.errors()]) from None


def load_skill(role: str, root: str | Path | None = None) -> Skill:
    """The card of ``role``. Unknown role -> UnknownRole (a KeyError) listing the known roles."""
    r = _root(root)
    index = load_index(r)
    if role not in index:
        raise UnknownRole(role, index)
    rel = f"skills/{index[role].path}"
    skill = parse_card(r / rel, rel)
    problems = _card_problems(role, index[role], skill, rel)
    if problems:
        raise SkillError(problems)
    return skill


def _card_problems(role: str, entry: IndexEntry, skill: Skill, rel: str) -> list[str]:
    p: list[str] = []
    if skill.role != role:
        p.append(f"{rel}: field 'role': card says {skill.role!r} but the index registers it as {role!r}")
    if skill.version != entry.version:
        p.append(f"{rel}: field 'version': card is {skill.version} but {INDEX_FILE} says {entry.version}")
    if role == AUDITOR_ROLE:
        if not skill.scopes:
            p.append(f"{rel}: field 'scopes': required for {AUDITOR_ROLE} (all of {', '.join(SCOPES)})")
        elif set(skill.scopes) != set(SCOPES) or len(skill.scopes) != len(SCOPES):
            p.append(f"{rel}: field 'scopes': must be exactly {list(SCOPES)}, got {skill.scopes}")
    elif skill.scopes is not None:
        bad = [s for s in skill.scopes if s not in SCOPES]
        if bad:
            p.append(f"{rel}: field 'scopes': unknown scope(s) {bad}; known: {', '.join(SCOPES)}")
    if len(set(skill.inputs)) != len(skill.inputs):
        p.append(f"{rel}: field 'inputs': duplicate entries")
    return p


def load_sample_state(root: str | Path | None = None) -> dict[str, Any]:
    r = _root(root)
    try:
        data = yaml.safe_load((r / SAMPLE_STATE_FILE).read_text(encoding="utf-8"))
    except OSError as e:
        raise SkillError([f"{SAMPLE_STATE_FILE}: cannot read: {e.strerror or e}"]) from None
    except yaml.YAMLError as e:
        raise SkillError([f"{SAMPLE_STATE_FILE}: invalid YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise SkillError([f"{SAMPLE_STATE_FILE}: must be a mapping of state field -> example value"])
    return data


# --------------------------------------------------------------------------- rendering


def _json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, sort_keys=True, default=str, ensure_ascii=False)


def _cell(value: Any) -> str:
    """A value as one markdown table cell: no newlines, pipes escaped."""
    if value is None:
        return "-"
    if not isinstance(value, str):
        value = _json(value, indent=None)
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _omit(d: Any, *keys: str) -> dict[str, Any]:
    """A mapping without ``keys`` and without empty values (None, [], {}, "")."""
    if not isinstance(d, dict):
        return {}
    return {k: v for k, v in d.items() if k not in keys and v is not None and v != [] and v != {} and v != ""}


def _env(root: Path) -> ImmutableSandboxedEnvironment:
    # skill prompts are user-edited files: a template must not reach Python objects' internals
    # ({{ cycler.__init__.__globals__.os.popen(...) }}) nor mutate the state it is shown
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(root / "prompts")),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["json"] = _json
    env.filters["cell"] = _cell
    env.filters["omit"] = _omit
    return env


_UNDEF_RES = (
    re.compile(r"has no attribute '([^']+)'"),
    re.compile(r"'([^']+)' is undefined"),
    re.compile(r"no element '?([^']+?)'?$"),
)


def _template_line(tb: Any, suffix: str = ".j2") -> tuple[str | None, int | None]:
    """The innermost traceback frame that belongs to a template (jinja rewrites them)."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if fn.endswith(suffix):
            found = (fn, tb.tb_lineno)
        tb = tb.tb_next
    return found


def render_template(template: str, state: dict[str, Any], skill: dict[str, Any], root: str | Path | None = None) -> str:
    """Render prompts/<template> with StrictUndefined. Errors -> RenderError naming template, line, variable."""
    r = _root(root)
    rel = f"prompts/{template}"
    try:
        tpl = _env(r).get_template(template)
        return re.sub(r"\n{3,}", "\n\n", tpl.render(state=state, skill=skill))
    except UndefinedError as e:
        fn, line = _template_line(sys.exc_info()[2])
        var = next((m.group(1) for rx in _UNDEF_RES if (m := rx.search(str(e)))), None)
        where = f"prompts/{Path(fn).name}" if fn else rel
        msg = f"undefined variable {var!r} ({e.message})" if var else f"undefined value: {e.message}"
        if where != rel:
            msg += f" [while rendering {rel}]"
        raise RenderError(where, msg, line, var) from None
    except TemplateError as e:
        line = getattr(e, "lineno", None)
        name = getattr(e, "name", None) or getattr(e, "filename", None)
        where = f"prompts/{Path(name).name}" if name else rel
        raise RenderError(where, f"{type(e).__name__}: {e}", line) from None


def render(role: str, state: dict[str, Any], root: str | Path | None = None, skill: Skill | None = None) -> str:
    """The prompt of ``role`` for ``state``. Every declared input must be a key of ``state``."""
    r = _root(root)
    skill = skill or load_skill(role, r)
    missing = [k for k in skill.inputs if k not in state]
    if missing:
        raise RenderError(
            f"prompts/{role}.j2", f"state lacks declared input(s) {missing} of {skill.path}", variable=missing[0]
        )
    return render_template(f"{role}.j2", state, skill.model_dump(), r)


# --------------------------------------------------------------------------- validation


def validate_all(root: str | Path | None = None) -> list[str]:
    """Every problem with the cards, index, sample state and templates under ``root``; [] when clean."""
    r = _root(root)
    problems: list[str] = []
    try:
        index = load_index(r)
    except SkillError as e:
        return list(e.problems)
    try:
        sample = load_sample_state(r)
    except SkillError as e:
        problems += e.problems
        sample = None

    indexed_paths = set()
    for role, entry in index.items():
        rel = f"skills/{entry.path}"
        indexed_paths.add(Path(rel).as_posix())
        if not (r / rel).is_file():
            problems.append(f"{INDEX_FILE}: role {role!r} points to {rel}, which does not exist")
            continue
        try:
            skill = parse_card(r / rel, rel)
        except SkillError as e:
            problems += e.problems
            continue
        card_probs = _card_problems(role, entry, skill, rel)
        problems += card_probs
        tpl = r / "prompts" / f"{role}.j2"
        if not tpl.is_file():
            problems.append(f"prompts/{role}.j2: template missing for role {role!r}")
            continue
        if sample is None:
            continue
        unknown = [k for k in skill.inputs if k not in sample]
        if unknown:
            problems.append(f"{rel}: field 'inputs': {unknown} not in {SAMPLE_STATE_FILE} (no such state field)")
            continue
        if card_probs:
            continue
        restricted = {k: sample[k] for k in skill.inputs}
        try:
            out = render(role, restricted, r, skill)
        except RenderError as e:
            problems.append(f"{e} (rendered with {SAMPLE_STATE_FILE} restricted to the card's inputs)")
            continue
        if not out.strip():
            problems.append(f"prompts/{role}.j2: renders to an empty prompt")
        try:  # null means "not known yet": every template must cope with it
            render(role, {k: None for k in skill.inputs}, r, skill)
        except RenderError as e:
            problems.append(f"{e} (rendered with every input null)")

    for card in sorted((r / "skills").glob("*/skill.md")):
        rel = card.relative_to(r).as_posix()
        if rel not in indexed_paths:
            problems.append(f"{rel}: card has no entry in {INDEX_FILE}")
    for tpl in sorted((r / "prompts").glob("*.j2")):
        if not tpl.name.startswith("_") and tpl.stem not in index:
            problems.append(f"prompts/{tpl.name}: template for role {tpl.stem!r}, which {INDEX_FILE} does not list")
    return problems


# --------------------------------------------------------------------------- hashes


def skill_hashes(roles: Iterable[str] | None = None, root: str | Path | None = None) -> dict[str, str]:
    """{path relative to root: sha256} of the index, each role's card and template, and shared
    template blocks: what a run's manifest records as the skills/prompts it used. Sorted by path."""
    r = _root(root)
    index = load_index(r)
    roles = list(index) if roles is None else list(roles)
    files = {INDEX_FILE}
    for role in roles:
        if role not in index:
            raise UnknownRole(role, index)
        files.add(f"skills/{index[role].path}")
        files.add(f"prompts/{role}.j2")
    files |= {p.relative_to(r).as_posix() for p in (r / "prompts").glob("_*.j2")}
    return {f: _sha256(r / f) for f in sorted(files) if (r / f).is_file()}
