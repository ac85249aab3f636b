"""generate_dataset.py --annotate: the user's own messages labelled by a chat model (the loopback stand-in, through
the real ``openai`` client), aligned here, with the privacy guards; and --mix."""

from __future__ import annotations

import io
import json
import mailbox
import re
import sys
from email.message import EmailMessage
from pathlib import Path

import jsonschema
import pytest
from fake_openai_server import FakeOpenAIServer

from generation.annotate import cut
from generation.cli import main
from small_lm.data import SCHEMA_PATH, read_dataset_file

KEY = "sk-test-CANARY-annotate-90c1"

# Our own messages (none from any benchmark), each with what a good annotator answers.  The subject keys the
# stand-in's answer; "Tide tables" gets an entity that is not in the text, "Pottery" a refusal.
MESSAGES = [
    {
        "from": "Marta Quinlan <marta.q@example.org>",
        "to": "Dev Okoro <dev.okoro@example.org>",
        "subject": "Kiln rota",
        "body": "Dev,\n\nI have to cancel our kiln rota check on Thursday at 2pm.\n\nMarta\n",
        "answer": {
            "intent": "cancel",
            "entities": [
                {"type": "NAME", "text": "Marta Quinlan"},
                {"type": "EMAIL", "text": "marta.q@example.org"},
                {"type": "NAME", "text": "Dev Okoro"},
                {"type": "EMAIL", "text": "dev.okoro@example.org"},
                {"type": "NAME", "text": "Dev"},
                {"type": "DATE", "text": "Thursday"},
                {"type": "TIME", "text": "2pm"},
                {"type": "NAME", "text": "Marta"},
            ],
        },
    },
    {
        "from": "Ines Barrow <ines@example.net>",
        "to": "crew@example.net",
        "subject": "Tide tables",
        "body": "Could we look at the tide tables together next Monday?\n",
        # "Friday" is not in the message: the answer cannot be aligned and is rejected.
        "answer": {"intent": "inquiry", "entities": [{"type": "DATE", "text": "Friday"}]},
    },
    {
        "from": "Pim Vos <pim@example.com>",
        "to": "studio@example.com",
        "subject": "Pottery",
        "body": "Is the wheel free on Saturday morning?\n",
        "answer": "I can't help with that.",  # a refusal
    },
]
# The first message again, under another Message-ID: skipped as a duplicate, never sent.
DUPLICATE = 0


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def write_mbox(path: Path, messages: list[dict], duplicate: int | None = DUPLICATE) -> Path:
    box = mailbox.mbox(path)
    for i, spec in enumerate([*messages, *([messages[duplicate]] if duplicate is not None else [])]):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = spec["from"], spec["to"], spec["subject"]
        message["Message-ID"] = f"<m{i}@example.org>"
        message.set_content(spec["body"])
        box.add(message)
    box.flush()
    box.close()
    return path


def annotator(text: str) -> dict | str:
    """The stand-in model: the answer of the message whose subject the text carries."""
    return next(spec["answer"] for spec in MESSAGES if f"Subject: {spec['subject']}" in text)


def annotate(server: FakeOpenAIServer, mbox: Path, output: Path, *flags: str) -> int:
    args = ["--annotate", str(mbox), "--base-url", server.url, "--output", str(output), "--yes"]
    return main([*args, "--retry-delay", "0.01", "--timeout", "5", "--concurrency", "2", *flags])


def sent_texts(server: FakeOpenAIServer) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.chat_bodies]


def test_labels_align_and_bad_answers_are_counted(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator) as server:
        assert annotate(server, mbox, tmp_path / "labelled.json") == 0
    assert len(server.chat_bodies) == 3  # the duplicate is never sent
    for body in server.chat_bodies:  # strict structured outputs, the guideline in the system prompt
        assert body["response_format"]["json_schema"]["strict"] is True
        assert "Annotation guideline" in body["messages"][0]["content"]
    # Transport headers are not sent (the model never reads them at inference either); content headers are.
    assert all("Message-ID" not in text and "Subject:" in text for text in sent_texts(server))

    splits, info = read_dataset_file(tmp_path / "labelled.json")
    [example] = [x for xs in splits.values() for x in xs]
    assert example["intent"] == "cancel"
    got = [(e["type"], e["text"]) for e in example["entities"]]
    assert got == [(e["type"], e["text"]) for e in MESSAGES[0]["answer"]["entities"]]
    # "Dev" is the greeting, not the "Dev" inside "Dev Okoro" or the address: aligned in the order listed.
    dev = example["entities"][4]
    assert example["text"][dev["start"] :].startswith("Dev,\n")
    assert example["text"] in sent_texts(server)  # the example holds exactly what was sent
    assert example["source"] == {"file": str(mbox), "index": 0, "message_id": "<m0@example.org>"}

    metadata = info.metadata
    assert metadata["rejected"]["entity_not_in_text"] == 1 and metadata["rejected"]["refused"] == 1
    assert metadata["annotated"]["skipped"] == {"duplicate": 1}
    assert metadata["annotated"]["messages"] == 3
    assert metadata["usage"]["estimated_cost_usd"] > 0
    out, err = capfd.readouterr()
    # Nothing from the messages is printed; how many go where is.
    assert "3 messages" in err and "127.0.0.1" in err
    for spec in MESSAGES:
        assert spec["body"].strip().splitlines()[-1] not in out + err
    # The answers and files of the run are gone once the dataset holds them.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbox.mbox", "labelled.json"]


def test_nothing_is_sent_without_confirmation(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    args = ["--annotate", str(mbox), "--base-url", "", "--output", str(tmp_path / "x.json")]
    with FakeOpenAIServer(annotator=annotator) as server:
        args[3] = server.url
        assert main(args) == 1  # standard input is not a terminal under pytest: no one to ask
    assert server.chat_bodies == []
    assert "pass --yes" in capfd.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_answers_no_to_the_question_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with FakeOpenAIServer(annotator=annotator) as server:
        args = ["--annotate", str(mbox), "--base-url", server.url, "--output", str(tmp_path / "x.json")]
        assert main(args) == 1
    assert server.chat_bodies == []


def test_max_chars_caps_what_is_sent(tmp_path: Path) -> None:
    long = dict(MESSAGES[0], body="Dev,\n\n" + "We talked about the glaze order again.\n" * 40 + "Thursday at 2pm?\n")
    long["answer"] = {"intent": "inquiry", "entities": [{"type": "NAME", "text": "Dev"}]}
    mbox = write_mbox(tmp_path / "inbox.mbox", [long], duplicate=None)
    with FakeOpenAIServer(annotator=lambda text: long["answer"]) as server:
        assert annotate(server, mbox, tmp_path / "out.json", "--max-chars", "300") == 0
    [text] = sent_texts(server)
    assert len(text) <= 300 and "Thursday" not in text  # cut at a line break before the cap
    splits, info = read_dataset_file(tmp_path / "out.json")
    assert [x["text"] for xs in splits.values() for x in xs] == [text]
    assert info.metadata["annotated"]["truncated"] == 1


def test_cut_prefers_line_breaks() -> None:
    assert cut("short", 10) == "short"
    assert cut("first line\nsecond line", 15) == "first line"
    assert cut("one two three four", 12) == "one two"


def test_a_stopped_run_resumes_without_asking_twice(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(5)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)

    def good(text: str) -> dict:
        return {"intent": "cancel", "entities": [{"type": "DATE", "text": "Thursday"}]}

    output = tmp_path / "out.json"
    # Two answers, then a bad key: the run stops, keeping the two answers.
    with FakeOpenAIServer(annotator=good, script=["ok", "ok", "401"]) as server:
        assert annotate(server, mbox, output, "--concurrency", "1") == 1
    assert (tmp_path / "out.json.answers.jsonl").exists() and not output.exists()
    with FakeOpenAIServer(annotator=good) as server:
        assert annotate(server, mbox, output) == 0
    assert len(server.chat_bodies) == 3  # only the three not answered before
    splits, _ = read_dataset_file(output)
    assert sum(map(len, splits.values())) == 5
    out, err = capfd.readouterr()
    assert KEY not in out + err
    assert all(KEY.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_mix_combines_datasets_with_fresh_splits(tmp_path: Path) -> None:
    generated = tmp_path / "generated.json"
    assert main(["--backend", "offline", "--num-examples", "30", "--output", str(generated)]) == 0
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(10)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    with FakeOpenAIServer(annotator=lambda text: MESSAGES[0]["answer"]) as server:
        assert annotate(server, mbox, tmp_path / "mixed.json", "--mix", str(generated)) == 0
    document = json.loads((tmp_path / "mixed.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    splits, info = read_dataset_file(tmp_path / "mixed.json")
    examples = [x for xs in splits.values() for x in xs]
    assert len(examples) == 40 and len({x["id"] for x in examples}) == 40
    assert sum(1 for x in examples if "source" in x) == 10  # the labelled ones say where they came from
    sources = {s["source"]: s for s in info.metadata["mix"]["sources"]}
    assert sources["this run"]["examples"] == 10 and sources[str(generated)]["examples"] == 30
    assert sources["this run"]["share"] == 0.25
    per_split = info.metadata["mix"]["splits"]
    assert sum(n for counts in per_split.values() for n in counts.values()) == 40
    assert len(per_split["train"]) == 2  # fresh splits: both sources in the training split


def test_mix_with_other_labels_is_refused_before_sending(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    other = tmp_path / "other.json"
    assert (
        main(["--backend", "offline", "--num-examples", "10", "--entity-types", "DATE,TIME", "--output", str(other)])
        == 0
    )
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator) as server, pytest.raises(SystemExit) as exit_info:
        annotate(server, mbox, tmp_path / "x.json", "--mix", str(other))
    assert exit_info.value.code == 2 and server.chat_bodies == []
    assert "--mix" in capsys.readouterr().err


def test_annotate_needs_a_chat_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with pytest.raises(SystemExit):
        main(["--annotate", str(mbox), "--output", str(tmp_path / "x.json")])
    assert "--annotate needs a chat model" in capsys.readouterr().err


def test_jsonl_input_names_its_lines(tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "can we move the kiln check to Thursday?"}) + "\n", encoding="utf-8")
    answer = {"intent": "inquiry", "entities": [{"type": "DATE", "text": "Thursday"}]}
    with FakeOpenAIServer(annotator=lambda text: answer) as server:
        assert annotate(server, texts, tmp_path / "out.json") == 0
    splits, _ = read_dataset_file(tmp_path / "out.json")
    [example] = [x for xs in splits.values() for x in xs]
    assert example["source"] == {"file": str(texts), "line": 1}


def test_dry_run_sends_nothing_and_prices_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator) as server:
        assert annotate(server, mbox, tmp_path / "out.json", "--dry-run") == 0
    assert server.chat_bodies == [] and not (tmp_path / "out.json").exists()
    out = capsys.readouterr().out
    assert "3 messages" in out
    sync, batch = (float(x) for x in re.findall(r"~\$([0-9.]+)", out))
    assert sync > 0 and batch == pytest.approx(sync / 2, abs=1e-4)
