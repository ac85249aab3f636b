"""A scripted OpenAI-compatible server on 127.0.0.1 (chat completions, files, batches), for the tests and the benchmark.

``POST /v1/chat/completions`` answers two kinds of request:

* generation (the ``json_schema`` has ``examples``), the way ``generation`` asks: it reads the
  requested intent mix from the user prompt ("Write 8 messages: 5 with intent "cancel", ...") and the entity
  types and intents from the schema, and returns that many distinct, correctly annotated messages;
* annotation (the schema has ``intent`` and ``entities``): the user message is the text to label; the answer is
  ``annotator(text)`` (a dict), or a refusal (``content`` null, ``refusal`` set) when it returns a str; without
  an annotator, the first intent of the schema's enum and no entities.  The behaviours below spoil that one
  label as they spoil a generation's first message.

Each chat request takes the next behaviour from ``script`` (then ``default``):

    ok              a valid answer
    malformed       content that is not JSON
    schema          JSON of the wrong shape
    missing_entity  a valid answer whose first message lists an entity that is not in its text
    unknown_type    ... whose first message has an entity of an unknown type
    unknown_intent  ... whose first message has an unknown intent
    duplicate       ... whose last message repeats the first one (other casing and spacing); annotation: ok
    429, 500, 401   that HTTP error with an OpenAI-style error body
    slow            waits ``slow_s`` (longer than the client's timeout), then a valid answer

The server is threaded, so concurrent requests overlap; every chat answer also waits ``delay_s``.

The Files and Batch APIs work as the ``openai`` client calls them: ``POST /v1/files`` (multipart upload), ``GET
/v1/files/{id}`` and ``/v1/files/{id}/content``, ``DELETE /v1/files/{id}``, ``POST /v1/batches``, ``GET
/v1/batches/{id}`` and ``GET /v1/batches``. A batch is validated like OpenAI does (an invalid one ends "failed"
with ``errors``); each retrieve moves it on: "in_progress" after the first, finished on the ``batch_polls``-th. Its
final status is the next entry of ``batch_script`` (then "completed"): "completed", "expired" (only the first half
of its lines run, the rest get ``batch_expired`` error lines) or "failed" (the whole batch). Each line that runs
takes the next entry of ``line_script`` (then "ok"): an answered behaviour gives an output-file line holding the
exact chat.completion the synchronous endpoint would send; "429"/"500"/"401" and "expired" give error-file lines.
Output and error files are shuffled, since OpenAI does not keep the input order either.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROMPT_TOKENS = 1000  # fixed usage per answer, so tests can check the token and cost totals
COMPLETION_TOKENS_PER_EXAMPLE = 50
ANNOTATION_COMPLETION_TOKENS = 20

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
HTTP_ERRORS = {"429": "rate_limit_exceeded", "500": "server_error", "401": "invalid_request_error"}  # -> type
ERROR_MESSAGES = {
    "429": "Rate limit reached, try again later",
    "500": "The server had an error while processing your request",
}
EXPIRED = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}
FINISHED = ("completed", "expired", "failed")


def is_annotation(request: dict[str, Any]) -> bool:
    properties = request.get("response_format", {}).get("json_schema", {}).get("schema", {}).get("properties", {})
    return "intent" in properties and "entities" in properties and "examples" not in properties


def multipart_fields(content_type: str, data: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body, parsed by hand so the bytes stay exact."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = str(header.get_param("boundary", "")).encode()
    fields = {}
    for part in data.split(b"--" + boundary)[1:-1]:  # the preamble and the closing "--" go
        head, _, body = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = Message()
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        name = str(headers.get_param("name", header="content-disposition"))
        fields[name] = (headers.get_filename(), body.removesuffix(b"\r\n"))
    return fields


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
        annotator: Callable[[str], dict[str, Any] | str] | None = None,
        batch_polls: int = 2,
        batch_script: Iterable[str] = (),
        line_script: Iterable[str] = (),
    ) -> None:
        self.script = deque(script)
        self.default = default
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.api_key = api_key  # when set, other keys get a 401 (which echoes the key, as a careless server might)
        self.annotator = annotator
        self.batch_polls = batch_polls
        self.batch_script = deque(batch_script)  # one final status per created batch
        self.line_script = deque(line_script)  # one behaviour per batch line that runs
        # Reentrant: finishing a batch (under the lock) builds answers, which take the lock again.
        self.lock = threading.RLock()
        self.behaviours: list[str] = []  # one entry per chat request, in arrival order
        self.authorizations: list[str] = []  # the Authorization header of every request to a known route
        self.prompts: list[str] = []  # every chat request's user prompt, in arrival order (a retry repeats one)
        self.chat_bodies: list[dict[str, Any]] = []  # every chat request's JSON body, in arrival order
        self.texts: list[str] = []  # every valid message served, in a well-formed answer
        self.broken: list[str] = []  # messages spoilt on purpose (or sent in a malformed answer)
        self.usage = Counter()  # tokens reported in the answers sent (batch answers included)
        self.in_flight = 0
        self.max_in_flight = 0  # how many requests overlapped at most: the proof that concurrency works
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"purpose", "filename", "content": bytes}
        # Files deleted through DELETE /v1/files/{id}: gone for the client, kept in ``files`` for the tests.
        self.deleted_files: list[str] = []
        self.batches: dict[str, dict[str, Any]] = {}  # id -> the batch object, as last served
        self.batches_created: list[str] = []  # batch ids, in creation order
        self.line_behaviours: list[str] = []  # the behaviour given to each batch line that runs, in order
        self._counter = itertools.count()
        self._ids = itertools.count(1)  # file-, batch_, batch_req_ and req_ numbers
        self._file_objects: dict[str, dict[str, Any]] = {}  # id -> the file object served
        self._plans: dict[str, dict[str, Any]] = {}  # batch id -> its lines, their behaviours, polls so far
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

    # ---------------------------------------------------------------- chat answers

    def authorized(self, authorization: str) -> bool:
        with self.lock:
            self.authorizations.append(authorization)
        return self.api_key is None or authorization == f"Bearer {self.api_key}"

    def next_behaviour(self, authorization: str) -> str:
        with self.lock:
            behaviour = "401" if not self.authorized(authorization) else None
            behaviour = behaviour or (self.script.popleft() if self.script else self.default)
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

    def annotation(self, behaviour: str, request: dict[str, Any]) -> tuple[str | None, str | None]:
        """(content, refusal) for a request to label its user message."""
        text = next(m["content"] for m in request["messages"] if m["role"] == "user")
        properties = request["response_format"]["json_schema"]["schema"]["properties"]
        intents = properties["intent"].get("enum") or ["other"]
        entity = properties["entities"].get("items", {}).get("properties", {}).get("type", {})
        if behaviour == "malformed":
            return '{"intent": "canc', None
        label = self.annotator(text) if self.annotator else {"intent": intents[0], "entities": []}
        if isinstance(label, str):
            return None, label
        label = copy.deepcopy(label)  # the spoiling below must not touch the annotator's data
        if behaviour == "schema":
            return json.dumps({"label": label["intent"]}), None
        if behaviour == "unknown_intent":
            label["intent"] = "party"
        elif behaviour == "unknown_type":
            label["entities"].append({"type": "COLOR", "text": (text.split() or [text])[0]})
        elif behaviour == "missing_entity":
            label["entities"].append({"type": (entity.get("enum") or ["NAME"])[0], "text": "the day after never"})
        return json.dumps(label, ensure_ascii=False), None

    def completion(self, behaviour: str, request: dict[str, Any], completion_id: str) -> dict[str, Any]:
        """The chat.completion object for an answered behaviour; its usage is added to ``self.usage``."""
        if is_annotation(request):
            content, refusal = self.annotation(behaviour, request)
            completion_tokens = ANNOTATION_COMPLETION_TOKENS
        else:
            content, refusal = self.answer(behaviour, request), None
            completion_tokens = COMPLETION_TOKENS_PER_EXAMPLE * content.count('"intent"')
        with self.lock:
            self.usage["prompt_tokens"] += PROMPT_TOKENS
            self.usage["completion_tokens"] += completion_tokens
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": completion_tokens,
                "total_tokens": PROMPT_TOKENS + completion_tokens,
            },
        }

    # ---------------------------------------------------------------- files and batches

    def store_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        with self.lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = {"purpose": purpose, "filename": filename, "content": content}
            self._file_objects[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
            }
            return self._file_objects[file_id]

    def validate_batch(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(the input lines, the validation errors) of a batch request."""
        endpoint, stored = request.get("endpoint"), self.files.get(request.get("input_file_id", ""))
        checks = [
            (endpoint == "/v1/chat/completions", "invalid_endpoint", f"Unsupported endpoint {endpoint!r}."),
            (request.get("completion_window") == "24h", "invalid_completion_window", "completion_window must be 24h."),
            (
                stored is not None and stored["purpose"] == "batch",
                "invalid_file",
                "The input file must be a batch file.",
            ),
        ]
        for ok, code, message in checks:  # checks of the whole batch: the first that fails is the error
            if not ok:
                return [], [{"code": code, "message": message, "line": None}]
        lines, errors, custom_ids = [], [], set()
        for number, raw in enumerate(stored["content"].decode("utf-8", "replace").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict):
                problem = ("invalid_json_line", "This line is not parseable as valid JSON.")
            elif not isinstance(line.get("custom_id"), str):
                problem = ("missing_required_parameter", "Missing required parameter: 'custom_id'.")
            elif line["custom_id"] in custom_ids:
                problem = ("duplicate_custom_id", f"The custom_id {line['custom_id']!r} is used more than once.")
            elif line.get("method") != "POST":
                problem = ("invalid_method", "The method must be POST.")
            elif line.get("url") != endpoint:
                problem = ("mismatched_url", f"The url must match the batch endpoint {endpoint}.")
            elif not isinstance(line.get("body"), dict):
                problem = ("invalid_body", "The body must be a JSON object.")
            else:
                custom_ids.add(line["custom_id"])
                lines.append(line)
                continue
            errors.append({"code": problem[0], "message": problem[1], "line": number})
        if not lines and not errors:
            errors.append({"code": "empty_file", "message": "The input file is empty.", "line": None})
        return lines, errors

    def create_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            batch_id, now = f"batch_{next(self._ids)}", int(time.time())
            lines, errors = self.validate_batch(request)
            final = self.batch_script.popleft() if self.batch_script else "completed"
            # Line behaviours are drawn now, in creation order, and only for the lines that will run: an
            # expired batch runs its first half; an invalid or failed batch runs none.
            runs = 0 if errors or final == "failed" else len(lines) // 2 if final == "expired" else len(lines)
            behaviours = [self.line_script.popleft() if self.line_script else "ok" for _ in range(runs)]
            self.line_behaviours += behaviours
            self._plans[batch_id] = {"lines": lines, "errors": errors, "final": final, "behaviours": behaviours}
            self._plans[batch_id]["polls"] = 0
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request.get("endpoint"),
                "input_file_id": request.get("input_file_id"),
                "completion_window": request.get("completion_window"),
                "status": "validating",
                "created_at": now,
                "metadata": request.get("metadata"),
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "expires_at": now + 24 * 3600,
                **dict.fromkeys(["in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at"]),
                **dict.fromkeys(["cancelling_at", "cancelled_at"]),
            }
            self.batches_created.append(batch_id)
            return copy.deepcopy(self.batches[batch_id])

    def poll_batch(self, batch_id: str) -> dict[str, Any]:
        """Every retrieve moves the batch on: validating -> in_progress -> its final status."""
        with self.lock:
            batch, plan = self.batches[batch_id], self._plans[batch_id]
            if batch["status"] not in FINISHED:
                plan["polls"] += 1
                now = int(time.time())
                if plan["errors"]:  # validation happens before anything runs
                    batch.update(status="failed", failed_at=now)
                    batch["errors"] = {"object": "list", "data": plan["errors"]}
                elif plan["polls"] >= self.batch_polls:
                    batch["in_progress_at"] = batch["in_progress_at"] or now
                    self.finish_batch(batch, plan, now)
                else:
                    batch.update(status="in_progress", in_progress_at=batch["in_progress_at"] or now)
                    batch["request_counts"]["completed"] = len(plan["behaviours"]) * plan["polls"] // self.batch_polls
            return copy.deepcopy(batch)

    def finish_batch(self, batch: dict[str, Any], plan: dict[str, Any], now: int) -> None:
        batch["finalizing_at"] = now
        if plan["final"] == "failed":
            error = {"code": "batch_failed", "message": "The batch failed while processing.", "line": None}
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [error]})
            batch["request_counts"].update(completed=0, failed=0)
            return
        output, errors = [], []
        for i, line in enumerate(plan["lines"]):
            behaviour = plan["behaviours"][i] if i < len(plan["behaviours"]) else "expired"  # cut off
            answered, result = self.batch_line(line, behaviour)
            (output if answered else errors).append(result)
        shuffle = random.Random(0)
        for results, kind in ((output, "output"), (errors, "error")):
            if results:
                shuffle.shuffle(results)
                content = "".join(json.dumps(result, ensure_ascii=False) + "\n" for result in results).encode()
                stored = self.store_file(content, f"{batch['id']}_{kind}.jsonl", "batch_output")
                batch[f"{kind}_file_id"] = stored["id"]
        status = "expired" if plan["final"] == "expired" else "completed"
        batch.update({"status": status, f"{status}_at": now})
        batch["request_counts"].update(completed=len(output), failed=len(errors))

    def batch_line(self, line: dict[str, Any], behaviour: str) -> tuple[bool, dict[str, Any]]:
        """(answered, the output- or error-file line) for one input line."""
        n = next(self._ids)
        head = {"id": f"batch_req_{n}", "custom_id": line["custom_id"]}
        if behaviour == "expired":
            return False, {**head, "response": None, "error": dict(EXPIRED)}
        status, body = 200, None
        if behaviour in HTTP_ERRORS:
            status, kind, message = int(behaviour), HTTP_ERRORS[behaviour], ERROR_MESSAGES.get(behaviour, "Bad key")
        else:
            try:
                body = self.completion(behaviour, line["body"], f"chatcmpl-batch-{n}")
            except (KeyError, IndexError, StopIteration, TypeError, AttributeError) as error:  # an unreadable body
                status, kind, message = 400, "invalid_request_error", f"Invalid request body: {error!r}"
        body = body or {"error": {"message": message, "type": kind, "code": None}}
        return status == 200, {
            **head,
            "response": {"status_code": status, "request_id": f"req_{n}", "body": body},
            "error": None,
        }

    def list_batches(self, query: dict[str, list[str]]) -> dict[str, Any]:
        with self.lock:
            ids = self.batches_created[::-1]  # newest first
            after = query.get("after", [None])[0]
            if after in ids:
                ids = ids[ids.index(after) + 1 :]
            limit = int(query.get("limit", ["20"])[0])
            data = [copy.deepcopy(self.batches[i]) for i in ids[:limit]]
            return {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(ids) > limit,
            }

    # ---------------------------------------------------------------- HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            # Headers and body go out in separate writes; with Nagle's algorithm on, the body would wait for
            # the client's delayed ACK, adding ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def send_bytes(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def send_json(self, status: int, body: dict[str, Any]) -> None:
                self.send_bytes(status, json.dumps(body).encode(), "application/json")

            def send_error_json(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
                self.send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

            def not_found(self) -> None:
                self.send_error_json(404, f"no route {self.command} {self.path}", "not_found")

            def authorized(self) -> bool:
                """Records the key; answers 401 (and False) for a wrong one, as chat does."""
                authorization = self.headers.get("Authorization", "")
                if server.authorized(authorization):
                    return True
                self.send_error_json(401, f"Incorrect API key provided: {authorization.removeprefix('Bearer ')}")
                return False

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                file_match = re.fullmatch(r"/v1/files/([^/]+)(/content)?", url.path)
                batch_match = re.fullmatch(r"/v1/batches/([^/]+)", url.path)
                if not (file_match or batch_match or url.path == "/v1/batches"):
                    self.not_found()
                elif not self.authorized():
                    pass
                elif file_match:
                    file_id, content = file_match.groups()
                    with server.lock:
                        stored = None if file_id in server.deleted_files else server.files.get(file_id)
                    if stored is None:
                        self.send_error_json(404, f"No such File object: {file_id}")
                    elif content:
                        self.send_bytes(200, stored["content"], "application/octet-stream")
                    else:
                        self.send_json(200, server._file_objects[file_id])
                elif batch_match:
                    if batch_match.group(1) not in server.batches:
                        self.send_error_json(404, f"No batch found with id '{batch_match.group(1)}'.")
                    else:
                        self.send_json(200, server.poll_batch(batch_match.group(1)))
                else:
                    self.send_json(200, server.list_batches(parse_qs(url.query)))

            def do_DELETE(self) -> None:
                file_match = re.fullmatch(r"/v1/files/([^/]+)", urlsplit(self.path).path)
                if not file_match:
                    self.not_found()
                elif not self.authorized():
                    pass
                else:
                    file_id = file_match.group(1)
                    with server.lock:
                        known = file_id in server.files and file_id not in server.deleted_files
                        if known:
                            server.deleted_files.append(file_id)
                    if known:
                        self.send_json(200, {"id": file_id, "object": "file", "deleted": True})
                    else:
                        self.send_error_json(404, f"No such File object: {file_id}")

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/chat/completions":
                    self.chat(json.loads(data or b"{}"))
                elif self.path not in ("/v1/files", "/v1/batches"):
                    self.not_found()
                elif not self.authorized():
                    pass
                elif self.path == "/v1/files":
                    fields = multipart_fields(self.headers.get("Content-Type", ""), data)
                    if "file" not in fields or "purpose" not in fields:
                        self.send_error_json(400, "Both 'file' and 'purpose' are required.")
                        return
                    filename, content = fields["file"]
                    purpose = fields["purpose"][1].decode()
                    self.send_json(200, server.store_file(content, filename or "upload", purpose))
                else:
                    self.send_json(200, server.create_batch(json.loads(data or b"{}")))

            def chat(self, request: dict[str, Any]) -> None:
                behaviour = server.next_behaviour(self.headers.get("Authorization", ""))
                user = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
                with server.lock:
                    server.chat_bodies.append(request)
                    server.prompts.append("\n".join(user))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay_s + (server.slow_s if behaviour == "slow" else 0))
                with server.lock:
                    server.in_flight -= 1
                try:
                    if behaviour in HTTP_ERRORS:
                        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                        message = ERROR_MESSAGES.get(behaviour, f"Incorrect API key provided: {key}")
                        self.send_json(int(behaviour), {"error": {"message": message, "type": "error", "code": None}})
                        return
                    self.send_json(200, server.completion(behaviour, request, f"chatcmpl-{len(server.behaviours)}"))
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (the slow case)
                    pass

        return Handler


if __name__ == "__main__":  # a manual server: python tests/fake_openai_server.py, then --base-url it prints
    with FakeOpenAIServer(delay_s=0.2) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()
