from geak.agents.roles.redact import REDACTED, redact, redact_text, secret_env_values


def test_env_secret_values_are_redacted_recursively(monkeypatch):
    monkeypatch.setenv("MYPROVIDER_API_KEY", "plainvalue-123456789")  # matches no pattern
    monkeypatch.setenv("SOME_TOKEN", "tok_abcdefghijkl")
    monkeypatch.setenv("APP_SECRET", "hush-hush-hush")
    monkeypatch.setenv("SHORT_TOKEN", "12345678")  # 8 chars: not treated as a secret
    monkeypatch.setenv("NOT_A_KEY", "plainvalue-but-public")
    obj = {
        "a": "key=plainvalue-123456789 and tok_abcdefghijkl",
        "b": ["x", {"c": "hush-hush-hush!", "n": 3, "none": None}],
        "t": ("12345678", "plainvalue-but-public"),
    }
    out = redact(obj)
    assert out["a"] == f"key={REDACTED} and {REDACTED}"
    assert out["b"] == ["x", {"c": f"{REDACTED}!", "n": 3, "none": None}]
    assert out["t"] == ("12345678", "plainvalue-but-public")
    assert obj["a"].startswith("key=plainvalue")  # input untouched


def test_env_values_read_at_call_time_longest_first(monkeypatch):
    monkeypatch.setenv("A_TOKEN", "abcdefghij")
    monkeypatch.setenv("B_TOKEN", "abcdefghij-klmnop")
    vals = secret_env_values()
    assert vals.index("abcdefghij-klmnop") < vals.index("abcdefghij")
    assert redact_text("x abcdefghij-klmnop y") == f"x {REDACTED} y"


# Fake key shapes are assembled at run time so that no key-shaped literal sits in the repository.
FAKE_AWS = "AKIA" + "IOSFODNN7" + "EXAMPLE"


def test_known_key_shapes():
    cases = {
        "openai sk-proj-AbCdEfGhIjKlMnOpQrSt123 end": f"openai {REDACTED} end",
        "anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrSt_-xyz": f"anthropic {REDACTED}",
        f"aws {FAKE_AWS}.": f"aws {REDACTED}.",
        "Authorization: Bearer eyJhbGciOi.abc.def": f"Authorization: Bearer {REDACTED}",
        "gh ghp_" + "a" * 36: f"gh {REDACTED}",
    }
    for text, want in cases.items():
        assert redact(text) == want, text


def test_ordinary_text_is_untouched():
    text = "sk-short, AKIA lower, Bearer of news, task-1234567890abcdef is a task id"
    assert redact(text) == text
    assert redact({"k": 1.5, "l": [True, None]}) == {"k": 1.5, "l": [True, None]}


def test_extra_secrets_and_dict_keys(monkeypatch):
    out = redact({"supersecretvalue": "supersecretvalue"}, extra_secrets=["supersecretvalue", "short"])
    assert out == {REDACTED: REDACTED}
