"""The LLM client against a local OpenAI-compatible server (stdlib http.server), via litellm."""

from __future__ import annotations

import hashlib
import os

import pytest
from pydantic import BaseModel

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_openai import FakeOpenAI, _completion  # noqa: F401  (tests/fake_openai.py)

from geak.auditor.evidence.store import RunStore
from geak.agents.roles.llm import (
    LLM_CALLS,
    InvalidOutput,
    LLMCall,
    LLMCallFailed,
    LLMClient,
    ReplayMiss,
    canonical_json,
    extract_json_object,
)

KEY_ENV = "GEAK_TESTLLM_API_KEY"
KEY = "sk-test-0123456789abcdefXYZ"
MODEL = "openai/test-model"


class Plan(BaseModel):
    op: str
    speedup: float


@pytest.fixture
def server():
    s = FakeOpenAI()
    yield s
    s.stop()


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def live(server, store, **kw):
    return LLMClient(
        "live", model=MODEL, store=store, api_base=server.api_base, api_key_env=KEY_ENV, timeout_s=10, **kw
    )


def calls(store: RunStore) -> list[LLMCall]:
    recs, problems = store.read_jsonl(LLM_CALLS, LLMCall)
    assert problems == []
    return [r for _, r in recs]


MSGS = [{"role": "system", "content": "You are the profiler."}, {"role": "user", "content": "Which op first?"}]


@pytest.mark.parametrize("sent", ["authorization", "Authorization", "AUTHORIZATION"])
def test_fake_server_reads_header_names_case_insensitively(server, sent):
    # clients differ in how they spell header names (openai 3.x sends lowercase); HTTP says
    # the spelling means nothing, so the tests' server must not either
    import http.client

    seen = {}
    server.script = [lambda body, headers: seen.update(auth=headers["Authorization"]) or "ok"]
    # http.client sends the name as spelled (urllib would capitalize it)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=b"{}", headers={sent: "Bearer x"})
    assert conn.getresponse().status == 200
    conn.close()
    assert seen["auth"] == "Bearer x"
    h = server.requests[0]["headers"]
    assert h["authorization"] == h["AUTHORIZATION"] == h.get("Authorization") == "Bearer x"
    assert "AuThOrIzAtIoN" in h and h.get("x-missing") is None


def test_live_call_is_recorded_with_tokens_latency_and_hash(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = ["Start with attention."]
    out = live(server, store).complete("profiler", MSGS)
    assert out == "Start with attention."
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "test-model" and req["body"]["temperature"] == 0
    assert req["body"]["messages"] == MSGS
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    [rec] = calls(store)
    assert (rec.kind, rec.mode, rec.role, rec.model, rec.attempt) == ("llm_call", "live", "profiler", MODEL, 1)
    assert rec.schema_version == 1
    assert rec.messages == MSGS and rec.response_text == "Start with attention."
    assert rec.prompt_sha256 == hashlib.sha256(canonical_json(MSGS).encode()).hexdigest()
    assert (rec.tokens_in, rec.tokens_out) == (42, 7)
    assert rec.latency_s is not None and 0 < rec.latency_s < 10
    assert rec.cost_usd is None  # test-model has no price: unknown, not 0
    assert rec.error is None and rec.parsed is None


def test_schema_fails_then_passes_on_retry(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = ['{"op": "attention"}', 'Sure:\n```json\n{"op": "attention", "speedup": 1.25}\n```']
    out = live(server, store).complete("planner", MSGS, schema=Plan)
    assert out == Plan(op="attention", speedup=1.25)
    first, second = calls(store)
    assert first.attempt == 1 and "speedup" in first.error and first.parsed is None
    assert second.attempt == 2 and second.error is None and second.parsed == {"op": "attention", "speedup": 1.25}
    assert first.request_id == second.request_id
    # the retry carries the bad reply and a user message naming the validation error
    retry_msgs = server.requests[1]["body"]["messages"]
    assert retry_msgs[:2] == MSGS
    assert retry_msgs[2] == {"role": "assistant", "content": '{"op": "attention"}'}
    assert retry_msgs[3]["role"] == "user"
    assert "speedup" in retry_msgs[3]["content"] and "Field required" in retry_msgs[3]["content"]
    assert second.messages == retry_msgs


def test_never_valid_raises_invalid_output_after_all_attempts(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = ["no json here", '{"op": 3, "speedup": "fast"}', "[1, 2]"]
    with pytest.raises(InvalidOutput) as ei:
        live(server, store, max_retries=2).complete("planner", MSGS, schema=Plan)
    e = ei.value
    assert len(e.errors) == 3 and len(e.call_ids) == 3
    assert "no JSON object" in e.errors[0] and "op" in e.errors[1] and "speedup" in e.errors[1]
    assert "attempt 3" in str(e)
    recs = calls(store)
    assert [r.attempt for r in recs] == [1, 2, 3] and all(r.error for r in recs)
    assert [r.call_id for r in recs] == e.call_ids
    assert len(server.requests) == 3


def test_replay_reproduces_outputs_without_network(server, key_env, tmp_path, monkeypatch):
    rec_store = RunStore(tmp_path / "recorded")
    server.script = [
        '{"op": "attention"}',
        '{"op": "attention", "speedup": 1.25}',  # planner: retry then ok
        "free text answer",  # profiler
        (500, {"error": {"message": "overloaded"}}),
        '{"op": "moe", "speedup": 1.1}',  # 500 then ok
    ]
    c = live(server, rec_store)
    msgs2 = [{"role": "user", "content": "second question"}]
    live_out = [
        c.complete("planner", MSGS, schema=Plan),
        c.complete("profiler", MSGS),
        c.complete("planner", msgs2, schema=Plan),
    ]
    server.stop()

    import litellm

    def no_network(*a, **k):
        raise AssertionError("replay must not call the model")

    monkeypatch.setattr(litellm, "completion", no_network)
    monkeypatch.delenv(KEY_ENV)
    new_store = RunStore(tmp_path / "replayed")
    r = LLMClient("replay", store=new_store, replay_from=rec_store.root)
    replay_out = [
        r.complete("planner", MSGS, schema=Plan),
        r.complete("profiler", MSGS),
        r.complete("planner", msgs2, schema=Plan),
    ]
    assert replay_out == live_out
    # a second replay from the file itself is identical too (deterministic)
    r2 = LLMClient("replay", store=None, replay_from=rec_store.root / LLM_CALLS)
    assert [
        r2.complete("planner", MSGS, schema=Plan),
        r2.complete("profiler", MSGS),
        r2.complete("planner", msgs2, schema=Plan),
    ] == live_out

    orig, rep = calls(rec_store), calls(new_store)
    assert len(rep) == len(orig) == 5 and all(x.mode == "replay" for x in rep)
    assert [(x.role, x.prompt_sha256, x.attempt, x.error) for x in rep] == [
        (x.role, x.prompt_sha256, x.attempt, x.error) for x in orig
    ]
    assert [x.replayed_call_id for x in rep] == [x.call_id for x in orig]
    assert rep[0].model == MODEL


def test_replay_miss_names_role_hash_prompt_and_file(server, key_env, tmp_path):
    store = RunStore(tmp_path / "recorded")
    server.script = ["ok"]
    live(server, store).complete("profiler", MSGS)
    r = LLMClient("replay", store=None, replay_from=store.root)
    long_prompt = "p" * 200 + "TAILMARKER"
    msgs = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": long_prompt},
    ]
    with pytest.raises(ReplayMiss) as ei:
        r.complete("profiler", msgs)
    text = str(ei.value)
    want_sha = hashlib.sha256(canonical_json(msgs).encode()).hexdigest()
    assert "'profiler'" in text and want_sha in text and "p" * 200 in text
    assert "TAILMARKER" not in text
    assert str(store.root / LLM_CALLS) in text
    # the same prompt under another role is a miss as well
    with pytest.raises(ReplayMiss, match="'planner'"):
        r.complete("planner", MSGS)


def test_echoed_api_key_never_reaches_the_file(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")

    def echo_auth(body, headers):
        return f'your header was {headers["Authorization"]} and key {KEY}; json: {{"op": "{KEY}", "speedup": 2}}'

    server.script = [echo_auth]
    out = live(server, store).complete("planner", [{"role": "user", "content": f"my key is {KEY}"}], schema=Plan)
    assert out.op == KEY  # the caller gets the real reply; only the file is redacted
    raw = (store.root / LLM_CALLS).read_text()
    assert KEY not in raw and KEY[8:] not in raw
    assert "[REDACTED]" in raw
    [rec] = calls(store)
    assert rec.parsed == {"op": "[REDACTED]", "speedup": 2.0}


def test_key_in_env_not_matching_any_pattern_is_redacted(server, tmp_path, monkeypatch):
    plain = "plainkeyvalue-0123456789"
    monkeypatch.setenv("OTHER_PROVIDER_API_KEY", plain)
    monkeypatch.setenv(KEY_ENV, plain)
    store = RunStore(tmp_path / "run")
    server.script = [lambda body, headers: "echo " + headers["Authorization"].split()[-1]]
    out = live(server, store).complete("producer", MSGS)
    assert out == f"echo {plain}"
    assert plain not in (store.root / LLM_CALLS).read_text()


def test_http_500_is_recorded_with_error_text(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = [(500, {"error": {"message": "upstream exploded", "type": "server_error"}})] * 2
    with pytest.raises(LLMCallFailed) as ei:
        live(server, store, max_retries=1).complete("profiler", MSGS)
    assert len(server.requests) == 2  # no hidden retries inside litellm/openai
    recs = calls(store)
    assert [r.attempt for r in recs] == [1, 2]
    for r in recs:
        assert r.response_text is None and r.tokens_in is None and r.cost_usd is None
        assert r.http_status == 500 and "500" in r.error and "upstream exploded" in r.error
    assert ei.value.call_ids == [r.call_id for r in recs] and "upstream exploded" in str(ei.value)


def test_http_500_then_success_recovers(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = [(500, {"error": {"message": "blip"}}), "fine"]
    assert live(server, store).complete("profiler", MSGS) == "fine"
    first, second = calls(store)
    assert "blip" in first.error and second.error is None and second.response_text == "fine"
    assert first.prompt_sha256 == second.prompt_sha256


def test_extract_json_object_variants():
    assert extract_json_object('{"a": 1}') == {"a": 1}
    assert extract_json_object('text\n```json\n{"a": 1}\n```\nmore') == {"a": 1}
    assert extract_json_object('```\n{"a": [1, {"b": 2}]}\n```') == {"a": [1, {"b": 2}]}
    assert extract_json_object('Here you go: {"a": "}"} trailing {junk') == {"a": "}"}
    for bad in ["", "[1, 2]", "{not json"]:
        with pytest.raises(ValueError):
            extract_json_object(bad)


def test_constructor_guards(tmp_path):
    with pytest.raises(ValueError, match="model"):
        LLMClient("live", store=None)
    with pytest.raises(ValueError, match="replay_from"):
        LLMClient("replay", store=None)
    with pytest.raises(FileNotFoundError):
        LLMClient("replay", store=None, replay_from=tmp_path)


def test_client_error_is_not_retried_and_replays_the_same(server, key_env, tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")
    server.script = [(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})]
    with pytest.raises(LLMCallFailed, match="bad key"):
        live(server, store, max_retries=2).complete("profiler", MSGS)
    [rec] = calls(store)
    assert rec.http_status == 401 and "bad key" in rec.error and len(server.requests) == 1
    r = LLMClient("replay", store=None, replay_from=store.root)
    with pytest.raises(LLMCallFailed, match="bad key") as ei:
        r.complete("profiler", MSGS)
    assert len(ei.value.errors) == 1


def test_same_prompt_twice_replays_in_recorded_order(server, key_env, tmp_path):
    store = RunStore(tmp_path / "run")
    server.script = ["first", "second"]
    c = live(server, store)
    assert [c.complete("judge", MSGS), c.complete("judge", MSGS)] == ["first", "second"]
    r = LLMClient("replay", store=None, replay_from=store.root)
    assert [r.complete("judge", MSGS), r.complete("judge", MSGS), r.complete("judge", MSGS)] == [
        "first",
        "second",
        "second",
    ]
