"""geak's LLM client: the one place every agent role talks to a model.

``LLMClient("live", model=..., store=...)`` calls ``litellm.completion`` (temperature 0) and
appends one :class:`LLMCall` per HTTP attempt to ``llm_calls.jsonl`` in the run store,
failed attempts and retries included. ``LLMClient("replay", replay_from=..., store=...)``
serves the same answers from a recorded ``llm_calls.jsonl`` without touching the network
(litellm is not even imported), keyed by ``(role, prompt_sha256, attempt)``, and appends its
own records with ``mode: "replay"``.

With a pydantic ``schema`` the reply must hold a JSON object (```json fences allowed) that
validates; a reply that does not is answered with the validation error and retried up to
``max_retries`` times, then :class:`InvalidOutput` is raised with every attempt's error. A
transport failure (HTTP 5xx/429/408/409, timeout, connection) is recorded and retried within
the same budget; another 4xx (bad request, auth) is recorded and not retried. When the last
attempt failed in transport :class:`LLMCallFailed` is raised, else :class:`InvalidOutput`.
In replay, the n-th identical request (same role, prompt, attempt) gets the n-th recorded
answer (past the end, the last one), so a run that asked the same thing twice replays exactly. The caller decides what an exception means (a producer
rejects its step; the auditor records a tooling failure).

Everything that reaches a file is redacted (``redact.py``), including the API key the client
itself uses. ``prompt_sha256`` is the sha256 of the canonical JSON of the *redacted*
messages, so it can be recomputed from the file and does not change with the key in use.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from geak.auditor.evidence.store import RunStore
from pydantic import BaseModel, ValidationError

from .llm_calls import (  # noqa: F401  (the client's records and errors: re-exported)
    InvalidOutput,
    LLMCall,
    LLMCallFailed,
    LLMError,
    ReplayMiss,
    SchemaError,
    TransportError,
    canonical_json,
    extract_json_object,
    Mode,
    last_user_text,
    format_validation_error,
    now_iso,
    prompt_sha256,
    retry_message,
    retryable,
    usage_int,
)
from .redact import redact
from geak.auditor.evidence.layout import LLM_CALLS


# ---------------------------------------------------------------- client


class LLMClient:
    def __init__(
        self,
        mode: Mode,
        *,
        model: str | None = None,
        store: RunStore | None,
        replay_from: Path | str | None = None,
        api_base: str | None = None,
        api_key_env: str | None = None,
        max_retries: int = 2,
        timeout_s: float = 120.0,
    ):
        if mode not in ("live", "replay"):
            raise ValueError(f"mode must be 'live' or 'replay', not {mode!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.mode: Mode = mode
        self.model = model
        self.store = store
        self.api_base = api_base
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.replay_file: Path | None = None
        self.replay_problems: list[str] = []
        self._replay: dict[tuple[str, str, int], list[LLMCall]] = {}
        self._replay_served: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        if mode == "live":
            if not model:
                raise ValueError("live mode needs a model (e.g. 'openai/<name>' with api_base)")
            if api_key_env and not os.environ.get(api_key_env):
                raise ValueError(f"api_key_env {api_key_env!r} is not set in the environment")
        else:
            if replay_from is None:
                raise ValueError("replay mode needs replay_from (a run directory or an llm_calls.jsonl)")
            self._load_replay(Path(replay_from))

    # ------------------------------------------------------------ public
    def complete(
        self, role: str, messages: list[dict[str, Any]], schema: type[BaseModel] | None = None
    ) -> BaseModel | str:
        """One completion; with ``schema`` a validated instance, else the reply text."""
        convo = [dict(m) for m in messages]
        request_id = uuid.uuid4().hex[:16]
        errors: list[str] = []
        call_ids: list[str] = []
        last_was_transport = True
        last_response: str | None = None
        for attempt in range(1, self.max_retries + 2):
            try:
                text, parsed = self._attempt(role, convo, attempt, request_id, schema)
            except TransportError as e:
                call_ids.append(e.args[1])
                errors.append(e.args[0])
                last_was_transport = True
                if not e.args[2]:
                    break  # a client error (bad request, auth): asking again cannot help
                continue
            except SchemaError as e:
                msg, call_id, text = e.args
                call_ids.append(call_id)
                errors.append(msg)
                last_was_transport = False
                last_response = text
                convo = convo + [{"role": "assistant", "content": text}, retry_message(schema, msg)]  # type: ignore[arg-type]  # SchemaError: a schema was asked
                continue
            return text if schema is None else parsed  # type: ignore[return-value]  # a schema's answer is parsed or raised
        if last_was_transport:
            raise LLMCallFailed(role, errors, call_ids)
        raise InvalidOutput(
            role,
            schema.__name__ if schema else "output",
            errors,
            call_ids,
            redact(last_response, extra_secrets=self._secrets()),
        )

    # ------------------------------------------------------------ one attempt
    def _secrets(self) -> list[str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return [key] if key else []

    def _attempt(
        self,
        role: str,
        convo: list[dict[str, Any]],
        attempt: int,
        request_id: str,
        schema: type[BaseModel] | None,
    ) -> tuple[str, BaseModel | None]:
        """Run and record one attempt; the reply text and the validated object (with a schema)."""
        secrets = self._secrets()
        red_messages = redact(convo, extra_secrets=secrets)
        sha = prompt_sha256(red_messages)
        rec = LLMCall(
            call_id=f"{role}-{uuid.uuid4().hex[:12]}",
            request_id=request_id,
            role=role,
            mode=self.mode,
            model=self.model,
            prompt_sha256=sha,
            messages=red_messages,
            attempt=attempt,
            schema_name=schema.__name__ if schema else None,
            created_at=now_iso(),
        )
        if self.mode == "live":
            text, err = self._live(convo, rec)
        else:
            text, err = self._replayed(role, sha, attempt, convo, rec)
        if err is not None:
            rec.error = redact(err, extra_secrets=secrets)
            self._record(rec)
            raise TransportError(rec.error, rec.call_id, retryable(rec.http_status))
        text = text if text is not None else ""  # no error and no text: an empty answer
        rec.response_text = redact(text, extra_secrets=secrets)
        obj = None
        if schema is not None:
            try:
                obj = schema.model_validate(extract_json_object(text))
            except ValidationError as e:
                rec.error = redact(format_validation_error(e), extra_secrets=secrets)
            except ValueError as e:
                rec.error = redact(f"not a JSON object: {e}", extra_secrets=secrets)
            else:
                rec.parsed = redact(obj.model_dump(mode="json"), extra_secrets=secrets)
            if rec.error is not None:
                self._record(rec)
                raise SchemaError(rec.error, rec.call_id, text)
        self._record(rec)
        return text, obj

    def _record(self, rec: LLMCall) -> None:
        if self.store is not None:
            self.store.append_jsonl(LLM_CALLS, rec)

    # ------------------------------------------------------------ live
    def _live(self, convo: list[dict[str, Any]], rec: LLMCall) -> tuple[str | None, str | None]:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm  # imported lazily: replay never loads it

        litellm.suppress_debug_info = True
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": convo,
            "api_base": self.api_base,
            "temperature": 0,
            "timeout": self.timeout_s,
            "max_retries": 0,
            "num_retries": 0,
        }
        if self.api_key_env:
            kwargs["api_key"] = os.environ.get(self.api_key_env)
        t0 = time.perf_counter()
        try:
            resp = litellm.completion(**kwargs)
        except Exception as e:  # noqa: BLE001 - every failure is recorded, then retried/raised
            rec.latency_s = time.perf_counter() - t0
            status = getattr(e, "status_code", None)
            rec.http_status = status if isinstance(status, int) else None
            return None, f"{type(e).__name__}" + (f" (HTTP {status})" if status else "") + f": {e}"
        rec.latency_s = time.perf_counter() - t0
        try:
            text = resp.choices[0].message.content
        except (AttributeError, IndexError, KeyError, TypeError) as e:
            return None, f"malformed response: {type(e).__name__}: {e}"
        usage = getattr(resp, "usage", None)
        if usage is not None:
            rec.tokens_in = usage_int(usage, "prompt_tokens")
            rec.tokens_out = usage_int(usage, "completion_tokens")
        rec.cost_usd = self._cost(litellm, resp, rec)
        served = getattr(resp, "model", None)
        if served and served != self.model:
            rec.served_model = served  # type: ignore[attr-defined]  # an extra field (Record keeps extras): the name the server answered with
        return text if text is not None else "", None

    @staticmethod
    def _cost(litellm: Any, resp: Any, rec: LLMCall) -> float | None:
        try:
            c = litellm.completion_cost(completion_response=resp)
        except Exception:  # noqa: BLE001 - unknown model price: the cost is unknown, not 0
            return None
        if not isinstance(c, (int, float)) or not math.isfinite(c) or c < 0:
            return None
        if c == 0 and (rec.tokens_in or rec.tokens_out):
            return None  # tokens were used; a zero price means "not mapped", not "free"
        return float(c)

    # ------------------------------------------------------------ replay
    def _load_replay(self, src: Path) -> None:
        f = src / LLM_CALLS if src.is_dir() else src
        self.replay_file = f.resolve()
        if not f.is_file():
            raise FileNotFoundError(f"replay source {f} does not exist")
        rs = RunStore(f.parent)
        for _line, rec, problems in rs.iter_jsonl(f.name, LLMCall):
            self.replay_problems.extend(str(p) for p in problems)
            if rec is not None:
                self._replay.setdefault((rec.role, rec.prompt_sha256, rec.attempt), []).append(rec)

    def _replayed(
        self, role: str, sha: str, attempt: int, convo: list[dict[str, Any]], rec: LLMCall
    ) -> tuple[str | None, str | None]:
        key = (role, sha, attempt)
        recs = self._replay.get(key)
        if not recs:
            assert self.replay_file is not None
            raise ReplayMiss(role, sha, attempt, last_user_text(convo), self.replay_file)
        # The n-th identical request gets the n-th recorded answer; past the end, the last one.
        with self._lock:
            n = self._replay_served.get(key, 0)
            self._replay_served[key] = n + 1
        src = recs[min(n, len(recs) - 1)]
        t0 = time.perf_counter()
        rec.model = src.model
        rec.replayed_call_id = src.call_id
        rec.tokens_in, rec.tokens_out = src.tokens_in, src.tokens_out
        rec.http_status = src.http_status
        rec.latency_s = time.perf_counter() - t0
        if src.response_text is None:
            return None, src.error or "recorded call has no response"
        return src.response_text, None
