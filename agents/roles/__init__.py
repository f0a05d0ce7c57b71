"""The agent roles (strategist, config tuner, kernel extractor and author, op benchmarker,
integrator, finalizer, patch auditor): what each answers (answers.py, pydantic), the built-in
policy that answers with no LLM (policies.py), the LLM client that asks a model live or from a
recording (llm.py, llm_calls.py, redact.py), and the skill cards and prompt templates that
define every role (skills.py, skill_state.py). The workflow (orchestrator/) asks them; they
import nothing of it."""
