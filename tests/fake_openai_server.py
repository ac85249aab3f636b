"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for the tests and the benchmark.

It answers ``POST /v1/chat/completions`` the way ``small_lm.generation`` asks: it reads the requested count and
intent mix from the user prompt ("Write 8 messages: 5 with intent "cancel", ...") and the entity types and
intents from the ``json_schema`` response format, and returns that many distinct, correctly annotated
messages.  Each request takes the next behaviour from ``script`` (then ``default``):

    ok              a valid answer
    malformed       content that is not JSON
    schema          JSON of the wrong shape
    missing_entity  a valid answer whose first message lists an entity that is not in its text
    unknown_type    ... whose first message has an entity of an unknown type
    unknown_intent  ... whose first message has an unknown intent
    duplicate       ... whose last message repeats the first one (other casing and spacing)
    429, 500, 401   that HTTP error with an OpenAI-style error body
    slow            waits ``slow_s`` (longer than the client's timeout), then a valid answer

The server is threaded, so concurrent requests overlap; every answer also waits ``delay_s``.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 1000  # fixed usage per answer, so tests can check the token and cost totals
COMPLETION_TOKENS_PER_EXAMPLE = 50

NAMES = ["Priya", "Tom Baker", "Aiko Tanaka", "Olu", "Mr Okafor", "Jean-Luc", "Sofía", "Mei", "Lars", "Fatima"]
DATES = ["tomorrow", "next friday", "June 3rd", "2025-07-14", "the 14th", "monday to wednesday", "3/6"]
TIMES = ["3pm", "nine am", "10:30", "noon", "4:15 pm", "half past two", "10-11am"]
EMAILS = ["ana@example.com", "tom.b@mail.org", "k.lee@uni.edu", "joe at gmail dot com"]
TEMPLATES = {
    "cancel": [
        "Hi {NAME}, I have to cancel our meeting {DATE} at {TIME}. Reply to {EMAIL} if needed.",
        "please call off {DATE} {TIME} with {NAME}, thanks ({EMAIL})",
    ],
    "other": [
        "Can we meet {DATE} at {TIME}, {NAME}? My address is {EMAIL}.",
        "hey {NAME} are you free {DATE} around {TIME} - write to {EMAIL}",
    ],
}


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a 6th simultaneous connection is dropped and the client's
    # TCP retries it a second later, which would look like the client failing to run requests in parallel.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (timeout, cancelled request, finished run) resets its connection: not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """``with FakeOpenAIServer(script=[...]) as server: ... server.url ... server.behaviours``."""

    def __init__(
        self,
        script: Iterable[str] = (),
        default: str = "ok",
        delay_s: float = 0.0,
        slow_s: float = 1.0,
        api_key: str | None = None,
    ) -> None:
        self.script = deque(script)
        self.default = default
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.api_key = api_key  # when set, other keys get a 401 (which echoes the key, as a careless server might)
        self.lock = threading.Lock()
        self.behaviours: list[str] = []  # one entry per HTTP request, in arrival order
        self.authorizations: list[str] = []
        self.prompts: list[str] = []  # every request's user prompt, in arrival order (a retry repeats one)
        self.texts: list[str] = []  # every valid message served, in a well-formed answer
        self.broken: list[str] = []  # messages spoilt on purpose (or sent in a malformed answer)
        self.usage = Counter()  # tokens reported in the answers sent
        self.in_flight = 0
        self.max_in_flight = 0  # how many requests overlapped at most: the proof that concurrency works
        self._counter = itertools.count()
        self._httpd = QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def counts(self) -> Counter:
        with self.lock:
            return Counter(self.behaviours)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---------------------------------------------------------------- answers

    def next_behaviour(self, authorization: str) -> str:
        with self.lock:
            self.authorizations.append(authorization)
            if self.api_key is not None and authorization != f"Bearer {self.api_key}":
                behaviour = "401"
            else:
                behaviour = self.script.popleft() if self.script else self.default
            self.behaviours.append(behaviour)
            return behaviour

    def message(self, intent: str, entity_types: list[str]) -> dict[str, Any]:
        """A distinct, correctly annotated message: every served text differs from all others."""
        with self.lock:
            n = next(self._counter)
        template = TEMPLATES.get(intent, TEMPLATES["other"])[n % 2]
        values = {
            "NAME": NAMES[n % len(NAMES)],
            "DATE": DATES[n // len(NAMES) % len(DATES)],
            "TIME": TIMES[n // 3 % len(TIMES)],
            "EMAIL": EMAILS[n % len(EMAILS)],
        }
        text, entities = "", []
        for literal, field in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
            text += literal
            if field and field in entity_types:
                entities.append({"type": field, "text": values[field]})
                text += values[field]
            elif field:
                text += "someone" if field == "NAME" else "soon"
        for entity_type in entity_types:  # extra types (LOCATION, PHONE, ...) get a made-up value each
            if entity_type not in values:
                value = f"{entity_type.lower()}{n}"
                text += f" {entity_type.title()}: {value}."
                entities.append({"type": entity_type, "text": value})
        text += f" (ref {n})"  # unique whatever the mix of templates and values
        return {"text": text, "intent": intent, "entities": entities}

    def answer(self, behaviour: str, request: dict[str, Any]) -> str:
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        schema = request["response_format"]["json_schema"]["schema"]["properties"]["examples"]["items"]
        entity_types = schema["properties"]["entities"]["items"]["properties"]["type"]["enum"]
        mix = [(intent, int(n)) for n, intent in re.findall(r'(\d+) with intent "([^"]+)"', user)]
        examples = [self.message(intent, entity_types) for intent, n in mix for _ in range(n)]
        if behaviour == "missing_entity":
            examples[0]["entities"].append({"type": entity_types[0], "text": "the day after never"})
        elif behaviour == "unknown_type":
            examples[0]["entities"].append({"type": "COLOR", "text": examples[0]["text"].split()[0]})
        elif behaviour == "unknown_intent":
            examples[0]["intent"] = "party"
        elif behaviour == "duplicate":
            examples[-1] = {**examples[0], "text": "  " + examples[0]["text"].upper().replace(" ", "   ")}
            examples[-1]["entities"] = [{**e, "text": e["text"].upper()} for e in examples[0]["entities"]]
        spoilt = {"missing_entity": 0, "unknown_type": 0, "unknown_intent": 0, "duplicate": len(examples) - 1}
        with self.lock:
            for i, example in enumerate(examples):
                ok = behaviour not in ("malformed", "schema") and spoilt.get(behaviour) != i
                (self.texts if ok else self.broken).append(example["text"])
        if behaviour == "malformed":
            return '{"examples": [{"text": "Can we meet tomor'
        if behaviour == "schema":
            return json.dumps({"messages": examples})
        return json.dumps({"examples": examples}, ensure_ascii=False)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            # Headers and body go out in separate writes; with Nagle's algorithm on, the body would wait for
            # the client's delayed ACK, adding ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def send_json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/v1/chat/completions":
                    self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                behaviour = server.next_behaviour(self.headers.get("Authorization", ""))
                user = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
                with server.lock:
                    server.prompts.append("\n".join(user))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay_s + (server.slow_s if behaviour == "slow" else 0))
                with server.lock:
                    server.in_flight -= 1
                try:
                    if behaviour in ("429", "500", "401"):
                        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                        message = {
                            "429": "Rate limit reached, try again later",
                            "500": "The server had an error while processing your request",
                            "401": f"Incorrect API key provided: {key}",
                        }[behaviour]
                        self.send_json(int(behaviour), {"error": {"message": message, "type": "error", "code": None}})
                        return
                    content = server.answer(behaviour, request)
                    n = content.count('"intent"')
                    with server.lock:
                        server.usage["prompt_tokens"] += PROMPT_TOKENS
                        server.usage["completion_tokens"] += COMPLETION_TOKENS_PER_EXAMPLE * n
                    self.send_json(
                        200,
                        {
                            "id": f"chatcmpl-{len(server.behaviours)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": request.get("model", "fake"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content, "refusal": None},
                                    "finish_reason": "stop",
                                    "logprobs": None,
                                }
                            ],
                            "usage": {
                                "prompt_tokens": PROMPT_TOKENS,
                                "completion_tokens": COMPLETION_TOKENS_PER_EXAMPLE * n,
                                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS_PER_EXAMPLE * n,
                            },
                        },
                    )
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (the slow case)
                    pass

        return Handler


if __name__ == "__main__":  # a manual server: python tests/fake_openai_server.py, then --base-url it prints
    with FakeOpenAIServer(delay_s=0.2) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()
