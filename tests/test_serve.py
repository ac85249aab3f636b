"""serve.py and serving: a real uvicorn on 127.0.0.1 (a free port) with the tiny checkpoints of both
families.  Answers equal the CLI's; batches really form across requests; readiness; each limit and fault (413, 422,
503 + Retry-After, 504, a client that disconnects, a text that breaks the model); the bearer token; SIGTERM drains.

No assertion depends on timing: where a test needs texts to wait, a gate in front of the model holds them, and
every wait polls for a state with a generous bound.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from conftest import NEEDLE
from slm_fixtures import build_tiny_model

import serve
from serving import ModelSpec, ServerSettings, create_app, load_served, parse_model_arg

ROOT = Path(__file__).resolve().parents[1]
RAW_EMAIL = (ROOT / "tests" / "fixtures" / "mail" / "pasted_raw.txt").read_text()
TEXTS = [
    f"hello {NEEDLE}, see you then",
    "thanks for the notes - Quentin",
    RAW_EMAIL,  # a raw message: transport headers are masked, offsets index this text
    "",  # unreadable: an error in its own result
    "Can we meet tomorrow at 3pm with Priya?",
    "lunch is on me",
]
BOOM = "EXPLODE"  # a text holding this makes the gated model raise


# --- fixtures and helpers --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slm_checkpoint(tmp_path_factory) -> Path:
    """A tiny SLM checkpoint laid out as train_slm.py writes it, untrained (what it answers does not matter here,
    only that server and CLI answer the same); 16 answer tokens keep generation quick."""
    from causal_slms.slm import ChatFormat, SlmConfig, ensure_pad_token, load_model

    folder = build_tiny_model(tmp_path_factory.mktemp("slm") / "ckpt")
    model, tokenizer, _ = load_model(str(folder))
    config = SlmConfig(entity_types=["DATE", "TIME", "NAME", "EMAIL"], intents=["inquiry", "cancel"], max_new_tokens=16)
    ensure_pad_token(tokenizer, model, ChatFormat(tokenizer, config.system_prompt).end_of_turn)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config.save(folder)
    return folder


class Gated:
    """A real tagger behind a gate: ``predict`` waits while the gate is closed, says when a call has begun, and
    raises on a text holding BOOM, so that tests can hold texts in the queue or break the model on purpose."""

    def __init__(self, tagger: Any) -> None:
        self.tagger, self.gate, self.entered = tagger, threading.Event(), threading.Event()
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tagger, name)

    def predict(self, texts: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        self.entered.set()
        self.gate.wait()
        if any(BOOM in text for text in texts):
            raise RuntimeError("this text breaks the model")
        return self.tagger.predict(texts, **kwargs)


@dataclass
class Served:
    host: str
    port: int
    service: Any

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None, headers=None):
        """(status, headers, decoded body) of one request on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        kind = response.getheader("Content-Type", "")
        return response.status, dict(response.getheaders()), json.loads(payload) if "json" in kind else payload.decode()

    def extract(self, texts: list[str], model: str | None = None, **kw):
        return self.call("POST", "/v1/extract", {"texts": texts, **({"model": model} if model else {})}, **kw)

    def metric(self, name: str, **labels: str) -> float:
        text = self.call("GET", "/metrics")[2]
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            m = re.match(r"(\w+)(?:\{(.*)\})? (\S+)$", line)
            if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
                return float(m.group(3))
        return 0.0


def until(condition: Callable[[], bool], what: str, limit: float = 120) -> None:
    """Poll until ``condition`` holds (a bound on waiting, not on speed)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


@contextmanager
def serving(
    specs: list[ModelSpec], settings: ServerSettings, load=load_served, ready: bool = True, gated: list[Gated] = ()
) -> Iterator[Served]:
    """The app on a real uvicorn, in a thread, on a free port of 127.0.0.1.  On the way out the ``gated`` models'
    gates open, so that a failing test does not leave texts held (and the server waiting for them) forever."""
    app = create_app(specs, settings, load=load)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on", timeout_graceful_shutdown=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    until(lambda: server.started, "uvicorn started")
    served = Served("127.0.0.1", sock.getsockname()[1], app.state.service)
    if ready:

        def is_ready() -> bool:
            status, _, body = served.call("GET", "/readyz")
            failed = [state for state in body["models"].values() if state.startswith("failed")]
            assert not failed, failed
            return status == 200

        until(is_ready, "models ready")
    try:
        yield served
    finally:
        for model in gated:
            model.gate.set()
        server.should_exit = True
        thread.join(120)


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn`` in a thread; the returned function joins it and gives its result."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(300)
        assert out, "the request thread did not finish"
        return out[0]

    return result


def cli_predictions(script: str, checkpoint: Path, texts: list[str], capsys) -> list[dict[str, Any]]:
    """What ``infer_*.py CHECKPOINT TEXTS --json`` prints, one object per text."""
    if script == "bert":
        from classification import infer_bert as infer
    else:
        from causal_slms import infer_slm as infer
    capsys.readouterr()
    assert infer.main([str(checkpoint), *texts, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def assert_same_answer(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal but for ``source`` (where the text came from) and scores to 1e-3: a batch pads texts to a common
    length, which moves float sums in the last bits, and the CLI batches its texts differently."""

    def without_scores(value: Any, scores: list[float]) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in ("score", "intent_score") and v is not None:
                    scores.append(v)
                    v = "<score>"
                if k != "source":
                    out[k] = without_scores(v, scores)
            return out
        if isinstance(value, list):
            return [without_scores(v, scores) for v in value]
        return value

    got_scores: list[float] = []
    want_scores: list[float] = []
    assert without_scores(got, got_scores) == without_scores(want, want_scores)
    assert got_scores == pytest.approx(want_scores, abs=1e-3)


# --- the answers -----------------------------------------------------------------------------------------------------


def test_concurrent_requests_get_the_cli_answers_in_shared_batches(needle_tagger, slm_checkpoint, capsys):
    expected = {
        "joint": cli_predictions("bert", needle_tagger, TEXTS, capsys),
        "slm": cli_predictions("slm", slm_checkpoint, TEXTS, capsys),
    }
    specs = [parse_model_arg(f"joint={needle_tagger}"), parse_model_arg(f"slm={slm_checkpoint}")]
    assert [s.family for s in specs] == ["joint-bert", "causal-slm"]
    # A batch runs only once it holds every text (or after a minute): the texts of the four requests per model
    # can only come back if they shared one batch.
    settings = ServerSettings(max_batch_size=len(TEXTS), max_wait_ms=60_000)
    requests = [[0, 1], [2], [3, 4], [5]]
    with serving(specs, settings) as served:
        pending = {
            (model, tuple(part)): in_thread(lambda m=model, p=part: served.extract([TEXTS[i] for i in p], m))
            for model in expected
            for part in requests
        }
        for (model, part), result in pending.items():
            status, _, body = result()
            assert status == 200, body
            assert body["model"] == model and len(body["results"]) == len(part)
            for k, (i, got) in enumerate(zip(part, body["results"], strict=True)):
                # Where the text came from: its place in the request, instead of the CLI's argument number.
                want_source = {**expected[model][i]["source"], "file": "<request>", "index": k}
                assert got["source"] == want_source
                assert_same_answer(got, expected[model][i])
        for model in expected:
            assert served.metric("small_lm_batch_size_count", model=model) == 1  # one model call for all six
            assert served.metric("small_lm_batch_size_sum", model=model) == len(TEXTS)
            assert served.metric("small_lm_text_errors_total", model=model) >= 1  # the empty text
        assert any(e["type"] == "NAME" for e in pending[("joint", (0, 1))]()[2]["results"][0]["entities"])
        raw = pending[("joint", (2,))]()[2]["results"][0]
        assert raw["text"] == RAW_EMAIL and all(RAW_EMAIL[e["start"] : e["end"]] == e["text"] for e in raw["entities"])
        status, _, models = served.call("GET", "/v1/models")
        assert status == 200 and [(m["name"], m["family"], m["ready"]) for m in models["models"]] == [
            ("joint", "joint-bert", True),
            ("slm", "causal-slm", True),
        ]
        # With two models served, a request must say which.
        status, _, body = served.extract(["hi"])
        assert status == 422 and "several models" in body["detail"]


def test_readiness_before_and_after_the_models_load(needle_tagger):
    gate = threading.Event()

    def slow_load(spec: ModelSpec, settings: ServerSettings) -> Any:
        gate.wait()
        return load_served(spec, settings)

    with serving([parse_model_arg(str(needle_tagger))], ServerSettings(), load=slow_load, ready=False) as served:
        assert served.call("GET", "/healthz")[0] == 200
        status, _, body = served.call("GET", "/readyz")
        assert status == 503 and body["ready"] is False and set(body["models"].values()) == {"loading"}
        status, headers, body = served.extract(["hi"])
        assert status == 503 and headers.get("retry-after") and "still loading" in body["detail"]
        gate.set()
        until(lambda: served.call("GET", "/readyz")[0] == 200, "ready after loading")
        assert served.extract(["hi"])[0] == 200
        # Shutting down: not ready any more, and new work is refused while accepted work finishes.
        served.service.begin_drain_threadsafe()
        until(lambda: served.call("GET", "/readyz")[0] == 503, "not ready while draining")
        status, headers, body = served.extract(["hi"])
        assert status == 503 and body["detail"] == "shutting down" and headers.get("retry-after")


# --- limits and faults -----------------------------------------------------------------------------------------------


def test_limits_and_malformed_bodies_get_clear_answers(needle_tagger):
    settings = ServerSettings(max_texts=3, max_chars=40)
    with serving([parse_model_arg(f"needle={needle_tagger}")], settings) as served:
        assert served.extract(["a", "b", "c"])[0] == 200  # at the limits is fine
        assert served.extract(["x" * 40], "needle")[0] == 200
        status, _, body = served.extract(["a", "b", "c", "d"])
        assert status == 413 and "4 texts" in body["detail"] and "--max-texts" in body["detail"]
        status, _, body = served.extract(["fine", "y" * 41])
        assert status == 413 and "text 1 has 41 characters" in body["detail"] and "--max-chars" in body["detail"]
        status, _, body = served.call("POST", "/v1/extract", raw=b"{" + b" " * settings.max_body_bytes() + b"}")
        assert status == 413 and "larger than any allowed request" in body["detail"]
        secret = "do-not-echo-this-text"
        for raw, says in [
            (b'{"texts": ["a",', "not valid JSON at character"),
            (json.dumps({"texts": [secret, 5]}).encode(), "body.texts.1: Input should be a valid string"),
            (json.dumps({"text": [secret]}).encode(), "body.texts: Field required"),
            (json.dumps({"texts": []}).encode(), "body.texts: List should have at least 1 item"),
            (json.dumps({"texts": [secret], "temperature": 1}).encode(), "body.temperature: Extra inputs"),
        ]:
            status, _, body = served.call("POST", "/v1/extract", raw=raw)
            assert status == 422 and body["detail"].startswith("malformed request body") and says in body["detail"]
            assert secret not in json.dumps(body)  # the input is never echoed back
        status, _, body = served.extract(["hi"], "nope")
        assert status == 404 and "needle" in body["detail"]
        assert served.call("GET", "/docs")[0] == 200
        assert "/v1/extract" in served.call("GET", "/openapi.json")[2]["paths"]
        assert served.metric("small_lm_http_requests_total", path="/v1/extract", code="413") == 3
        assert served.metric("small_lm_http_requests_total", path="/v1/extract", code="422") == 5


@contextmanager
def serving_gated(checkpoint: Path, settings: ServerSettings) -> Iterator[tuple[Served, Gated]]:
    """``checkpoint`` served as "m" behind a gate (open at first)."""
    taggers: list[Gated] = []

    def load(spec: ModelSpec, settings: ServerSettings) -> Any:
        taggers.append(Gated(load_served(spec, settings)))
        return taggers[-1]

    with serving([parse_model_arg(f"m={checkpoint}")], settings, load=load, gated=taggers) as served:
        yield served, taggers[0]


def test_a_full_queue_sheds_load_and_a_client_that_leaves_frees_its_place(needle_tagger):
    settings = ServerSettings(max_batch_size=1, max_wait_ms=0, max_queue=2)
    with serving_gated(needle_tagger, settings) as (served, model):
        model.gate.clear()
        model.entered.clear()
        first = in_thread(lambda: served.extract([f"hi {NEEDLE}"]))
        until(model.entered.is_set, "the first text in the model")
        second = in_thread(lambda: served.extract(["see you then"]))
        leaver = http.client.HTTPConnection(served.host, served.port, timeout=60)
        leaver.request(
            "POST", "/v1/extract", json.dumps({"texts": ["I will hang up"]}), {"Content-Type": "application/json"}
        )
        until(lambda: served.metric("small_lm_queue_depth", model="m") == 2, "two texts queued")

        status, headers, body = served.extract(["one too many"])
        assert status == 503 and int(headers["retry-after"]) >= 1 and "limit 2" in body["detail"]

        leaver.close()  # the client goes away: its text leaves the queue
        until(lambda: served.metric("small_lm_queue_depth", model="m") == 1, "the place freed")
        third = in_thread(lambda: served.extract(["all good here"]))
        until(lambda: served.metric("small_lm_queue_depth", model="m") == 2, "the freed place taken")

        model.gate.set()
        for result, text in [(first, f"hi {NEEDLE}"), (second, "see you then"), (third, "all good here")]:
            status, _, body = result()
            assert status == 200 and body["results"][0]["text"] == text
        until(lambda: served.metric("small_lm_http_requests_total", path="/v1/extract", code="499") == 1, "499 counted")
        assert served.metric("small_lm_texts_total", model="m") == 3  # the leaver's text never ran


async def _post_all(host: str, port: int, bodies: list[bytes]) -> list[tuple[int, Any]]:
    """Send every body at once, each on its own connection; (status, decoded body) of each, in order."""
    import asyncio

    async def post(body: bytes) -> tuple[int, Any]:
        reader, writer = await asyncio.open_connection(host, port)
        head = (f"POST /v1/extract HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
        writer.write(head.encode() + body)
        await writer.drain()
        response = await reader.read()  # to the end: the server closes after its answer
        writer.close()
        status_line, _, rest = response.partition(b"\r\n")
        return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])

    return await asyncio.gather(*(post(body) for body in bodies))


def test_a_burst_of_512_requests_is_answered_in_full_and_the_queue_drains(needle_tagger):
    """512 clients at once while the model is held: every request is either queued or, past --max-queue, refused
    with 503 at once; when the model is let go, every queued one gets its own answer and nothing is left over."""
    import asyncio

    settings = ServerSettings(max_batch_size=32, max_wait_ms=2, max_queue=400)
    texts = [f"burst {i} for {NEEDLE}" for i in range(512)]
    with serving_gated(needle_tagger, settings) as (served, model):
        model.gate.clear()
        model.entered.clear()
        bodies = [json.dumps({"texts": [text]}).encode() for text in texts]
        burst = in_thread(lambda: asyncio.run(_post_all(served.host, served.port, bodies)))
        until(model.entered.is_set, "a batch in the model")
        until(lambda: served.metric("small_lm_http_requests_total", path="/v1/extract", code="503") >= 512 - 400 - 32,
              "the requests past the queue refused")  # fmt: skip
        model.gate.set()
        answers = burst()
        ok = [(text, body) for text, (status, body) in zip(texts, answers, strict=True) if status == 200]
        refused = [body for status, body in answers if status == 503]
        assert len(ok) + len(refused) == 512, "every request answered: 200, or 503 when the queue was full"
        assert len(ok) >= 400, "the queue's 400 places (and the batch in the model) were all used"
        assert all("limit 400" in body["detail"] for body in refused)
        for text, body in ok:  # each answer is its own request's
            assert body["results"][0]["text"] == text and "error" not in body["results"][0]
        until(lambda: served.metric("small_lm_queue_depth", model="m") == 0, "the queue drained")
        assert served.metric("small_lm_texts_total", model="m") == len(ok)
        assert served.extract([f"after the burst, {NEEDLE}"])[0] == 200, "nothing stuck"


def test_a_request_past_its_timeout_gets_504_and_leaves_the_queue(needle_tagger):
    settings = ServerSettings(max_batch_size=1, max_wait_ms=0, request_timeout=0.5)
    with serving_gated(needle_tagger, settings) as (served, model):
        model.gate.clear()
        model.entered.clear()
        running = in_thread(lambda: served.extract(["held in the model"]))
        until(model.entered.is_set, "a text in the model")
        status, _, body = served.extract(["held in the queue"])
        assert status == 504 and "--request-timeout" in body["detail"]
        assert served.metric("small_lm_queue_depth", model="m") == 0
        assert running()[0] == 504
        model.gate.set()
        assert served.extract(["after the gate opened"])[0] == 200
        until(lambda: served.metric("small_lm_texts_total", model="m") == 2, "both run texts counted")
        assert served.metric("small_lm_texts_total", model="m") == 2  # the text that timed out in the queue never ran


def test_a_text_that_breaks_the_model_fails_alone(needle_tagger, capsys):
    good = [f"hello {NEEDLE}, see you then", "lunch is on me"]
    expected = cli_predictions("bert", needle_tagger, good, capsys)
    settings = ServerSettings(max_batch_size=3, max_wait_ms=0)
    with serving_gated(needle_tagger, settings) as (served, model):
        status, _, body = served.extract([good[0], f"{BOOM} now", good[1]])
        assert status == 200
        first, broken, last = body["results"]
        assert_same_answer(first, expected[0])
        assert_same_answer(last, expected[1])
        assert broken["text"] == f"{BOOM} now" and broken["intent"] is None and broken["entities"] == []
        assert "the model failed on this text (RuntimeError" in broken["error"]
        assert served.metric("small_lm_batch_size_count", model="m") == 1  # the three went in as one batch
        assert served.metric("small_lm_text_errors_total", model="m") == 1


# --- security --------------------------------------------------------------------------------------------------------


def test_the_bearer_token_is_required_and_never_logged(needle_tagger, caplog):
    key, private = "k3y-that-must-not-leak", "private words of an email"
    settings = ServerSettings(api_key=key)
    assert key not in repr(settings)
    caplog.set_level("DEBUG")
    with serving([parse_model_arg(f"m={needle_tagger}")], settings) as served:
        assert served.extract([private])[0] == 401  # no token
        status, headers, _ = served.extract([private], headers={"Authorization": "Bearer wrong"})
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert served.extract([private], headers={"Authorization": f"Basic {key}"})[0] == 401
        assert served.call("GET", "/v1/models")[0] == 401
        status, _, body = served.extract([private], headers={"Authorization": f"Bearer {key}"})
        assert status == 200 and body["results"][0]["text"] == private
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and metrics stay open for orchestrators
            assert served.call("GET", path)[0] == 200
    assert key not in caplog.text and private not in caplog.text


def test_api_key_comes_from_the_environment_before_dot_env(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=not-this-one\nSMALL_LM_API_KEY=from-file\n")
    monkeypatch.delenv("SMALL_LM_API_KEY", raising=False)
    assert serve.read_api_key(env_file) == "from-file"
    assert "OPENAI_API_KEY" not in os.environ or os.environ["OPENAI_API_KEY"] != "not-this-one"
    monkeypatch.setenv("SMALL_LM_API_KEY", " from-env ")
    assert serve.read_api_key(env_file) == "from-env"
    monkeypatch.setenv("SMALL_LM_API_KEY", "")  # set but empty: no token, whatever .env says
    assert serve.read_api_key(env_file) is None
    assert serve.read_api_key(tmp_path / "missing") is None


def test_serve_refuses_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    assert serve.main([str(tmp_path)]) == 2
    assert "not a checkpoint of either family" in capsys.readouterr().err
    assert serve.main([str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


# --- graceful shutdown -----------------------------------------------------------------------------------------------


def test_sigterm_answers_every_accepted_request_then_exits(needle_tagger, capsys):
    texts = [f"hello {NEEDLE}, see you then", "all good here", "thanks for the notes - Quentin", "see you then"]
    expected = cli_predictions("bert", needle_tagger, texts, capsys)
    # Batches wait ten minutes to fill: the queued texts can only come back this soon because SIGTERM drains them.
    command = [sys.executable, str(ROOT / "serve.py"), str(needle_tagger), "--port", "0", "--max-wait-ms", "600000",
               "--max-batch-size", "64"]  # fmt: skip
    env = {**os.environ, "SMALL_LM_API_KEY": ""}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        until(lambda: any("Uvicorn running on" in line for line in log) or proc.poll() is not None, "the server")
        port = int(next(re.search(r"127\.0\.0\.1:(\d+)", line).group(1) for line in log if "Uvicorn running" in line))
        served = Served("127.0.0.1", port, None)
        until(lambda: served.call("GET", "/readyz")[0] == 200, "ready")
        pending = [in_thread(lambda t=t: served.extract([t])) for t in texts]
        until(lambda: served.metric("small_lm_queue_depth", model=needle_tagger.name) == len(texts), "all queued")
        proc.send_signal(signal.SIGTERM)
        for result, want in zip(pending, expected, strict=True):
            status, _, body = result()
            assert status == 200
            assert_same_answer(body["results"][0], want)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert any("drained: every accepted text was answered" in line for line in log), "".join(log)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
