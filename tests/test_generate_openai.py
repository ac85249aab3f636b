"""The openai backend of generate_dataset.py (``generation``), driven through the real ``openai`` client
against a local fake server."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from fake_openai_server import PROMPT_TOKENS, FakeOpenAIServer

from generation.answers import check_item, normalize, parse_answer
from generation.cli import main
from generation.openai_backend import PLACEHOLDER_KEY
from generation.prompts import (
    EMAIL_EXAMPLES_PER_REQUEST,
    draw_style,
    intent_mix,
    response_schema,
    system_prompt,
    user_prompt,
)
from generation.styles import default_mix, styles
from small_lm.data import SCHEMA_PATH, make_example, read_dataset_file

KEY = "sk-test-CANARY-7f3e9a1b"  # distinctive, so a leak anywhere is easy to spot
ANSWERED = {"ok", "malformed", "schema", "missing_entity", "unknown_type", "unknown_intent", "duplicate"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set (not delete) the variables so that a developer's .env cannot fill them in.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "")


def generate(server: FakeOpenAIServer, output: Path, *flags: str) -> int:
    """Run the command in-process with fast retries; ``flags`` override the defaults given here."""
    args = ["--base-url", server.url, "--output", str(output), "--retry-delay", "0.01", "--timeout", "5"]
    args += ["--num-examples", "20", "--examples-per-request", "4", "--concurrency", "1"]
    # Short styles only, so every request asks for --examples-per-request (the request counts below rely on it);
    # the style tests pass their own --styles, which wins as the later flag.
    args += ["--styles", "voice,chat,email,thread"]
    return main([*args, *flags])


def styles_named(prompt: str) -> list[str]:
    """The styles whose description a user prompt carries."""
    return [name for name, style in styles().items() if style.description in prompt]


def asked(prompt: str) -> int:
    """How many messages a user prompt asks for."""
    return int(re.search(r"^Write (\d+) messages", prompt, re.M).group(1))


def load_valid(path: Path) -> tuple[dict, list[dict]]:
    """The document, checked against the JSON schema and small_lm's validator, and all its examples."""
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    splits, _ = read_dataset_file(path)
    return document, [x for examples in splits.values() for x in examples]


def test_scripted_answers_are_counted_by_reason_and_retried(tmp_path: Path) -> None:
    script = [
        "ok",
        "malformed",
        "missing_entity",
        "429",
        "schema",
        "unknown_type",
        "unknown_intent",
        "duplicate",
        "500",
    ]
    with FakeOpenAIServer(script=script) as server:
        assert generate(server, tmp_path / "out.json") == 0
    document, examples = load_valid(tmp_path / "out.json")
    meta = document["metadata"]
    assert meta["rejected"] == {
        "malformed_json": 1,
        "schema_mismatch": 1,
        "unknown_intent": 1,
        "unknown_entity_type": 1,
        "entity_not_in_text": 1,
        "duplicate": 1,
    }
    assert meta["requests"] == {"sent": len(server.behaviours), "retries": 2, "failed": 0}
    assert server.counts["429"] == server.counts["500"] == 1
    answered = sum(server.counts[b] for b in ANSWERED)
    assert meta["usage"]["prompt_tokens"] == PROMPT_TOKENS * answered == server.usage["prompt_tokens"]
    assert meta["usage"]["completion_tokens"] == server.usage["completion_tokens"] > 0
    assert meta["usage"]["estimated_cost_usd"] == pytest.approx(
        (meta["usage"]["prompt_tokens"] * 0.40 + meta["usage"]["completion_tokens"] * 1.60) / 1e6
    )
    assert meta["generator"] == "openai" and meta["model"] == "gpt-4.1-mini"
    assert meta["base_url_host"] == server.url.split("/")[2]
    assert "Annotation guideline" in meta["system_prompt"]
    assert len(examples) == 20 and len({x["text"] for x in examples}) == 20
    assert Counter(x["intent"] for x in examples) == {"inquiry": 10, "cancel": 10}  # the mix steers to balance
    assert {x["text"] for x in examples} <= set(server.texts)
    assert not (tmp_path / "out.json.partial.jsonl").exists()


def test_every_accepted_example_reaches_the_file(tmp_path: Path) -> None:
    # One bad message in every answer: the yield drops to 3/4, so later requests ask for a bit more.
    with FakeOpenAIServer(default="missing_entity") as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "22") == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert (
        document["metadata"]["rejected"]["entity_not_in_text"] == len(server.broken) == server.counts["missing_entity"]
    )
    assert {x["text"] for x in examples} == set(server.texts)  # every valid message served is in the file
    assert len(server.behaviours) == 8  # 4+4+4+4+4+4 asked -> 18 accepted, then 4 missing -> ask 4, get 3, ask 2


def test_extras_from_concurrent_requests_are_trimmed(tmp_path: Path) -> None:
    with FakeOpenAIServer(default="missing_entity", delay_s=0.05) as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "21", "--concurrency", "4") == 0
    _, examples = load_valid(tmp_path / "out.json")
    assert len(examples) == 21 and {x["text"] for x in examples} <= set(server.texts)


def test_timeout_is_retried(tmp_path: Path) -> None:
    with FakeOpenAIServer(script=["slow"], slow_s=1.0) as server:
        assert generate(server, tmp_path / "out.json", "--timeout", "0.3", "--num-examples", "4") == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert server.behaviours == ["slow", "ok"]
    assert document["metadata"]["requests"]["retries"] == 1 and len(examples) == 4


def test_request_failing_after_its_retries_is_skipped(tmp_path: Path) -> None:
    with FakeOpenAIServer(script=["500", "500", "500"]) as server:
        assert generate(server, tmp_path / "out.json", "--max-retries", "2", "--num-examples", "8") == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert document["metadata"]["requests"] == {"sent": 5, "retries": 2, "failed": 1}
    assert len(examples) == 8


def test_everything_failing_stops_with_a_clear_error(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with FakeOpenAIServer(default="500") as server:
        assert generate(server, tmp_path / "out.json", "--max-retries", "1") == 1
    err = capfd.readouterr().err
    assert "error: 3 requests in a row failed after 1 retries each" in err and "Traceback" not in err
    assert len(server.behaviours) == 6
    assert not (tmp_path / "out.json").exists()


def test_bad_key_stops_at_once_without_echoing_it(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    # The fake server's 401 message repeats the key it got, as some servers do; the script must redact it.
    with FakeOpenAIServer(api_key="sk-the-right-one") as server:
        assert generate(server, tmp_path / "out.json", "--concurrency", "4") == 1
    out, err = capfd.readouterr()
    assert "rejected the API key" in err and "OPENAI_API_KEY" in err and "Traceback" not in err
    assert KEY not in out + err
    assert set(server.behaviours) == {"401"} and len(server.behaviours) <= 4  # no retries on 401


def test_wrong_base_url_path_says_what_to_check(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with FakeOpenAIServer() as server:
        status = main(["--base-url", server.url.removesuffix("/v1"), "--output", str(tmp_path / "out.json")])
    assert status == 1
    err = capfd.readouterr().err
    assert "not found" in err and "check --model and --base-url" in err and "Traceback" not in err


def test_api_key_is_never_printed_or_saved(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    output = tmp_path / "out.json"
    partial = tmp_path / "out.json.partial.jsonl"
    with FakeOpenAIServer(script=["ok", "ok"], default="500") as server:
        assert generate(server, output, "--max-retries", "0") == 1  # stops after 2 answers, partial kept
        assert partial.exists() and KEY not in partial.read_text(encoding="utf-8")
        kept = [json.loads(line) for line in partial.read_text(encoding="utf-8").splitlines()]
        assert len(kept) == 8
        server.default = "ok"
        assert generate(server, output, "--max-retries", "0") == 0  # the same command resumes
    assert set(server.authorizations) == {f"Bearer {KEY}"}  # the key was used...
    out, err = capfd.readouterr()
    assert KEY not in out + err  # ...but never shown
    assert KEY not in output.read_text(encoding="utf-8")
    document, examples = load_valid(output)
    assert document["metadata"]["resumed_examples"] == 8
    assert {x["text"] for x in kept} <= {x["text"] for x in examples} and len(examples) == 20


def test_torn_last_line_of_the_partial_file_is_dropped(tmp_path: Path) -> None:
    partial = tmp_path / "out.json.partial.jsonl"
    kept = [make_example(f"openai-00000{i}", f"Cancel my meeting with Ana on day {i}", "cancel", []) for i in range(2)]
    partial.write_text("".join(json.dumps(x) + "\n" for x in kept) + '{"id": "openai-000002", "te', encoding="utf-8")
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "10") == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert document["metadata"]["resumed_examples"] == 2
    assert {x["text"] for x in kept} <= {x["text"] for x in examples} and len(examples) == 10
    assert sum(server.counts.values()) == 2  # 8 missing examples, 4 per request


def test_complete_partial_file_needs_no_request(tmp_path: Path) -> None:
    partial = tmp_path / "out.json.partial.jsonl"
    kept = [make_example(f"openai-00000{i}", f"Can we meet on day {i}?", "inquiry", []) for i in range(5)]
    partial.write_text("".join(json.dumps(x) + "\n" for x in kept), encoding="utf-8")
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "4") == 0  # the 5th is an extra
    assert not server.behaviours
    _, examples = load_valid(tmp_path / "out.json")
    assert {x["text"] for x in examples} == {x["text"] for x in kept[:4]}  # the first accepted are kept


def test_partial_file_from_other_labels_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    partial = tmp_path / "out.json.partial.jsonl"
    partial.write_text(json.dumps(make_example("x", "Reschedule my call", "reschedule", [])) + "\n", encoding="utf-8")
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "out.json") == 1
    err = capfd.readouterr().err
    assert "line 1" in err and "reschedule" in err and "delete the file" in err
    assert not server.behaviours


def test_more_entity_types_and_intents_than_the_defaults(tmp_path: Path) -> None:
    flags = ["--entity-types", "DATE,TIME,NAME,EMAIL,LOCATION,PHONE", "--intents", "inquiry,cancel,reschedule"]
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "30", *flags) == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert document["entity_types"] == ["DATE", "TIME", "NAME", "EMAIL", "LOCATION", "PHONE"]
    assert "B-PHONE" in document["labels"] and document["intents"] == ["inquiry", "cancel", "reschedule"]
    assert Counter(x["intent"] for x in examples) == {"inquiry": 10, "cancel": 10, "reschedule": 10}
    assert document["metadata"]["counts"]["entities"]["LOCATION"] == 30
    assert "LOCATION" in document["metadata"]["system_prompt"]


def test_requests_overlap_with_concurrency(tmp_path: Path) -> None:
    with FakeOpenAIServer(delay_s=0.2) as server:
        assert generate(server, tmp_path / "out.json", "--num-examples", "32", "--examples-per-request", "2",
                        "--concurrency", "8") == 0  # fmt: skip
    assert server.max_in_flight >= 4  # 8 asked; a loaded machine may not reach all of them
    assert len(load_valid(tmp_path / "out.json")[1]) == 32


def test_unknown_model_has_no_cost_and_default_output_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with FakeOpenAIServer() as server:
        assert main(["--base-url", server.url, "--model", "qwen2.5:7b", "--num-examples", "4"]) == 0
    [output] = (tmp_path / "datasets").glob("openai-qwen2.5_7b-*.json")
    document, _ = load_valid(output)
    assert document["metadata"]["usage"]["estimated_cost_usd"] is None
    assert document["metadata"]["model"] == "qwen2.5:7b"


def test_local_server_without_key_gets_a_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the environment variable works like --base-url
        assert main(["--output", str(tmp_path / "out.json"), "--num-examples", "4", "--retry-delay", "0"]) == 0
    assert set(server.authorizations) == {f"Bearer {PLACEHOLDER_KEY}"}  # 1 or 2 requests, by the style drawn


# ----------------------------------------------------------------------------------- pure helpers, no server


def test_check_item_aligns_repeats_in_order_and_rejects_partial_words() -> None:
    types, intents = ["DATE", "TIME", "NAME", "EMAIL"], ["inquiry", "cancel"]
    item = {
        "text": "Ana, ask Ana if Monday works; Monday at 3pm. ",
        "intent": "inquiry",
        "entities": [
            {"type": "NAME", "text": "Ana"},
            {"type": "NAME", "text": "Ana"},
            {"type": "DATE", "text": "Monday"},
            {"type": "DATE", "text": " Monday"},
            {"type": "TIME", "text": "3pm"},
        ],
    }
    (text, intent, spans), reason = check_item(item, types, intents, set())
    assert reason is None and text == item["text"].strip()
    assert [(s.type, s.start) for s in spans] == [("NAME", 0), ("NAME", 9), ("DATE", 16), ("DATE", 30), ("TIME", 40)]
    not_on_edges = {"text": "Tomorrow works", "intent": "inquiry", "entities": [{"type": "NAME", "text": "Tom"}]}
    assert check_item(not_on_edges, types, intents, set()) == (None, "entity_not_in_text")
    assert check_item({**item, "intent": "party"}, types, intents, set()) == (None, "unknown_intent")
    assert check_item({"text": 3}, types, intents, set()) == (None, "schema_mismatch")
    seen = {normalize("ana,  ASK ana if monday works; monday at 3pm.")}
    assert check_item(item, types, intents, seen) == (None, "duplicate")


def test_parse_answer_reasons() -> None:
    assert parse_answer('{"examples": [') == ([], "malformed_json")
    assert parse_answer(None) == ([], "malformed_json")
    assert parse_answer('{"items": []}') == ([], "schema_mismatch")
    assert parse_answer('{"examples": [1]}') == ([1], None)


def test_intent_mix_steers_toward_the_short_intent() -> None:
    mix = intent_mix(8, ["inquiry", "cancel"], Counter(inquiry=10, cancel=4), random.Random(0))
    assert mix == {"inquiry": 1, "cancel": 7}
    assert sum(intent_mix(5, ["a", "b", "c"], Counter(), random.Random(0)).values()) == 5


def test_user_prompts_vary_and_are_reproducible() -> None:
    types = ["DATE", "TIME", "NAME", "EMAIL", "LOCATION"]
    chat = styles()["chat"]
    prompts = [user_prompt(random.Random(f"0:{i}"), {"inquiry": 4, "cancel": 4}, types, chat) for i in range(20)]
    assert len(set(prompts)) == 20
    assert prompts[3] == user_prompt(random.Random("0:3"), {"inquiry": 4, "cancel": 4}, types, chat)
    assert all('4 with intent "cancel"' in p for p in prompts)
    assert not any("places (" in p or "room and building numbers" in p for p in prompts)  # LOCATION is an entity
    assert any("places (" in p for p in (user_prompt(random.Random(i), {"cancel": 2}, ["DATE"], chat)
                                         for i in range(40)))  # fmt: skip


# ------------------------------------------------------------------------------------------------ --styles


def test_one_style_per_request_in_the_weighted_shares(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "chat.json", "--styles", "chat=1", "--num-examples", "24") == 0
    assert len(server.prompts) == 6 and all(styles_named(p) == ["chat"] for p in server.prompts)
    assert json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))["metadata"]["styles"] == {"chat": 1.0}

    flags = ["--styles", "voice=1,chat=3", "--num-examples", "160", "--examples-per-request", "4"]
    with FakeOpenAIServer() as server:
        assert generate(server, tmp_path / "mix.json", *flags) == 0
    named = [styles_named(p) for p in server.prompts]
    assert all(len(n) == 1 for n in named)  # exactly one style in every prompt
    shares = Counter(n for [n] in named)
    assert len(server.prompts) == 40 and 4 <= shares["voice"] <= 16  # 10 expected; a fixed seed, so no flakes
    document, examples = load_valid(tmp_path / "mix.json")
    assert document["metadata"]["styles"] == {"voice": 0.25, "chat": 0.75} and len(examples) == 160


def test_styles_are_drawn_so_that_messages_follow_the_weights() -> None:
    # Email requests ask for at most 3 messages, short ones for 8: drawing by share / request size keeps each
    # style's share of the *messages* at its weight.
    mix = {"chat": 0.5, "raw_email": 0.5}
    draws = Counter(draw_style(random.Random(f"7:{i}"), mix, 8).name for i in range(4000))
    messages = {"chat": 8 * draws["chat"], "raw_email": 3 * draws["raw_email"]}
    assert messages["chat"] / sum(messages.values()) == pytest.approx(0.5, abs=0.03)
    # With requests of the same size the draw follows the weights themselves.
    draws = Counter(draw_style(random.Random(f"7:{i}"), {"voice": 0.2, "invitation": 0.8}, 2).name
                    for i in range(4000))  # fmt: skip
    assert draws["voice"] / 4000 == pytest.approx(0.2, abs=0.03)


def test_email_styles_ask_for_headers_and_fewer_messages(tmp_path: Path) -> None:
    flags = ["--styles", "chat=1,raw_email=1,invitation=1", "--num-examples", "40", "--examples-per-request", "6"]
    with FakeOpenAIServer(default="missing_entity") as server:  # one message of each answer rejected: top-ups
        assert generate(server, tmp_path / "out.json", *flags, "--concurrency", "3") == 0
    email = [p for p in server.prompts if styles_named(p) != ["chat"]]
    chat = [p for p in server.prompts if styles_named(p) == ["chat"]]
    assert email and chat and {n for p in email for n in styles_named(p)} == {"raw_email", "invitation"}
    assert max(asked(p) for p in email) <= EMAIL_EXAMPLES_PER_REQUEST < max(asked(p) for p in chat) == 6
    for prompt in email:
        assert "header block (From: and To: lines with display names and addresses" in prompt
        assert "Subject:" in prompt and "Date:" in prompt and "100 to 600 words" in prompt
        assert "Mention, without tagging them: when a message was sent" in prompt
    assert not any("header block (From:" in p or "100 to 600 words" in p for p in chat)
    document, examples = load_valid(tmp_path / "out.json")
    assert len(examples) == 40 and document["metadata"]["rejected"]["entity_not_in_text"] > 0


def test_email_only_run_has_enough_requests_for_its_small_answers(tmp_path: Path) -> None:
    # 3 messages a request, one rejected in each: 12 requests for 24 examples, more than the request budget of
    # an 8-per-request run allows (3 * 24/8 + 1 = 10), so the budget must count email-sized requests.
    flags = ["--styles", "raw_email", "--num-examples", "24", "--examples-per-request", "8"]
    with FakeOpenAIServer(default="missing_entity") as server:
        assert generate(server, tmp_path / "out.json", *flags) == 0
    assert len(server.prompts) == 12 and all(asked(p) == 3 for p in server.prompts)
    assert len(load_valid(tmp_path / "out.json")[1]) == 24


def test_default_mix_is_used_and_recorded(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        argv = ["--base-url", server.url, "--output", str(tmp_path / "out.json"), "--num-examples", "30"]
        assert main([*argv, "--retry-delay", "0"]) == 0
    document, examples = load_valid(tmp_path / "out.json")
    assert document["metadata"]["styles"] == pytest.approx(default_mix()) and len(examples) == 30
    assert all(len(styles_named(p)) == 1 and styles_named(p)[0] in default_mix() for p in server.prompts)


def test_email_prompts_ask_for_no_entity_free_email_when_headers_hold_names() -> None:
    # A header block has display names and addresses: with NAME or EMAIL in use an entity-free email is impossible.
    raw = styles()["raw_email"]
    prompts = [user_prompt(random.Random(i), {"inquiry": 3}, ["DATE", "TIME", "NAME"], raw) for i in range(30)]
    assert not any("no entities at all" in p for p in prompts)
    prompts = [user_prompt(random.Random(i), {"inquiry": 3}, ["DATE", "TIME"], raw) for i in range(30)]
    assert any("no entities at all" in p for p in prompts)


def test_system_prompt_names_whole_emails_and_threads() -> None:
    first = system_prompt(["DATE"], ["inquiry"]).split("\n", 1)[0]
    for kind in ("whole emails with their headers", "threads", "announcements", "invitations", "voice-assistant"):
        assert kind in first


def test_response_schema_is_strict() -> None:
    schema = response_schema(["DATE", "PHONE"], ["inquiry", "reschedule"])

    def check(node: dict) -> None:
        if node.get("type") == "object":
            assert node["additionalProperties"] is False and set(node["required"]) == set(node["properties"])
            for child in node["properties"].values():
                check(child)
        if node.get("type") == "array":
            check(node["items"])

    check(schema)
    item = schema["properties"]["examples"]["items"]
    assert item["properties"]["intent"]["enum"] == ["inquiry", "reschedule"]
    assert item["properties"]["entities"]["items"]["properties"]["type"]["enum"] == ["DATE", "PHONE"]
