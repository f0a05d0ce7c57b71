"""A local OpenAI-compatible chat-completions server for tests (stdlib http.server).

litellm talks to it over real HTTP; the replies come from a script, so a test decides what
"the LLM" answers without any provider.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# the env var the LLM tests name with --api-key-env (conftest.py's llm_server sets it)
KEY_ENV = "GEAK_TESTGRAPH_API_KEY"


class Headers(dict):
    """Request headers as HTTP defines them: names are case-insensitive (RFC 9110 5.1).
    Clients differ (openai 3.x sends `authorization`); a test asks for `Authorization`."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, name: str):
        return super().__getitem__(name.lower())

    def __contains__(self, name) -> bool:
        return super().__contains__(str(name).lower())

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


class FakeOpenAI:
    """POST /v1/chat/completions answers from a script: each item is a reply string, an
    (http_status, body) pair, or a callable(request_json, headers) -> one of those."""

    def __init__(self):
        self.script: list = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                headers = Headers(self.headers.items())
                outer.requests.append({"path": self.path, "body": body, "headers": headers})
                item = outer.script.pop(0) if outer.script else (500, {"error": {"message": "script exhausted"}})
                if callable(item):
                    item = item(body, headers)
                status, payload = (200, _completion(item)) if isinstance(item, str) else item
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(text: str, tokens_in: int = 42, tokens_out: int = 7) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }
