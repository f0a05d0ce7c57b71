"""One LLM call as llm_calls.jsonl records it, the errors a call can end in, and the pure helpers
the client uses (canonical JSON, the prompt's hash, the JSON object in a reply, the retry prompt)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, Literal

from geak.auditor.evidence.models import Record
from pydantic import BaseModel, Field, ValidationError

Mode = Literal["live", "replay"]


class LLMCall(Record):
    """One line of llm_calls.jsonl: one attempt of one completion request."""

    kind: Literal["llm_call"] = "llm_call"
    call_id: str
    request_id: str | None = Field(None, description="shared by the attempts of one complete() call")
    role: str
    mode: Mode
    model: str | None = None
    prompt_sha256: str = Field(description="sha256 of the canonical JSON of `messages` (redacted)")
    messages: list[dict[str, Any]] = Field(description="the messages sent, redacted")
    response_text: str | None = Field(None, description="the model's reply, redacted; None when the call failed")
    parsed: dict[str, Any] | None = Field(None, description="the validated schema object, redacted")
    schema_name: str | None = None
    attempt: int = Field(description="1-based attempt within one complete() call")
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = Field(None, description="None when unknown (never 0 by default)")
    latency_s: float | None = None
    error: str | None = Field(None, description="None, or why this attempt failed (transport or validation)")
    http_status: int | None = Field(None, description="the HTTP status of a failed call, when there was one")
    created_at: str | None = None
    replayed_call_id: str | None = Field(None, description="replay mode: the recorded call that answered")


# ---------------------------------------------------------------- errors


class LLMError(RuntimeError):
    """Base of the client's own errors."""


class ReplayMiss(LLMError, LookupError):
    """Replay mode: no recorded answer for this (role, prompt, attempt)."""

    def __init__(self, role: str, prompt_sha256: str, attempt: int, last_user: str, searched: Path):
        self.role, self.prompt_sha256, self.attempt = role, prompt_sha256, attempt
        self.last_user, self.searched = last_user, searched
        super().__init__(
            f"no recorded LLM answer for role {role!r}, prompt sha256 {prompt_sha256}, attempt {attempt} "
            f"in {searched}; last user message starts: {last_user[:200]!r}"
        )


class InvalidOutput(LLMError):
    """No attempt produced a reply that validates against the schema."""

    def __init__(self, role: str, schema: str, errors: list[str], call_ids: list[str], last_response: str | None):
        self.role, self.schema, self.errors = role, schema, errors
        self.call_ids, self.last_response = call_ids, last_response
        lines = "; ".join(f"attempt {i}: {e}" for i, e in enumerate(errors, 1))
        super().__init__(f"{role}: no valid {schema} after {len(errors)} attempt(s): {lines}")


class LLMCallFailed(LLMError):
    """Every attempt failed in transport (HTTP error, timeout, connection refused)."""

    def __init__(self, role: str, errors: list[str], call_ids: list[str]):
        self.role, self.errors, self.call_ids = role, errors, call_ids
        lines = "; ".join(f"attempt {i}: {e}" for i, e in enumerate(errors, 1))
        super().__init__(f"{role}: LLM call failed after {len(errors)} attempt(s): {lines}")


class TransportError(Exception):
    """args: (error text, call_id, retryable)."""


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------- helpers


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def prompt_sha256(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(messages).encode()).hexdigest()


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):  # OpenAI content parts
                return " ".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
            return "" if c is None else str(c)
    return ""


_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: a fenced block first, then the whole text, then the
    first ``{`` from which a complete object decodes. Raises ValueError naming what was wrong."""
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text.strip()]
    for c in candidates:
        try:
            obj = json.loads(c)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("the reply holds no JSON object" + (" (it is empty)" if not text.strip() else ""))


def format_validation_error(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False)[:10]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg')}")
    return f"{e.error_count()} validation error(s) for {e.title}: " + "; ".join(parts)


def retry_message(schema: type[BaseModel], error: str) -> dict[str, str]:
    return {
        "role": "user",
        "content": (
            f"Your previous reply was rejected: {error}\n"
            f"Reply again with only one JSON object that validates against this JSON Schema "
            f"({schema.__name__}):\n{json.dumps(schema.model_json_schema(), sort_keys=True)}"
        ),
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def usage_int(usage: Any, name: str) -> int | None:
    v = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def retryable(status: int | None) -> bool:
    """Timeouts, connection errors, 408/409/429 and 5xx are worth another attempt; other 4xx not."""
    return status is None or status in (408, 409, 429) or status >= 500
