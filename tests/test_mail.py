"""Email input (small_lm/mail.py) and both infer scripts on real-shaped messages.

The fixtures in tests/fixtures/mail/ are hand-written (no real person's mail): a multipart/alternative message
with quoted-printable text, base64 HTML and a PDF attachment; a forwarded thread with an "Original Message"
block; an mbox of three messages, the second attachment-only and cut short; a pasted raw message with folded
headers.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import NEEDLE

from classification import infer_bert
from small_lm.data import Span, make_example, tokenize
from small_lm.mail import (
    InputError,
    Message,
    from_text,
    looks_like_raw_message,
    mask_transport_headers,
    predict_messages,
    read_messages,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
# Words that only occur in the fixtures' transport and MIME header lines.
TRANSPORT_WORDS = ["charset", "ascii", "relay7", "ESMTPS", "MIME", "Spam", "198", "boundary", "Mailer", "7bit"]


def transport_words_in(text: str) -> list[str]:
    words = {w for w, _, _ in tokenize(text)}
    return [w for w in TRANSPORT_WORDS if w in words]


def test_multipart_alternative_is_decoded_to_its_plain_text():
    (message,) = read_messages([], str(FIXTURES / "multipart_alternative.eml"))
    assert message.error is None
    assert "Café after =)" in message.text, "quoted-printable UTF-8 decoded"
    assert "Subject: Thursday meeting – room 4C" in message.text, "RFC 2047 subject decoded"
    assert 'To: "Vega, Marisol" <marisol.vega@harbor.example>' in message.text
    assert "<p>" not in message.text and "PDF" not in message.text, "text/plain preferred, attachment skipped"
    assert transport_words_in(message.text) == [] and "Received" not in message.text
    assert message.source["message_id"] == "<20250303141244.ABC123@tradewind.example>"
    assert any("agenda.pdf (application/pdf)" in w for w in message.warnings)


def test_html_only_message_becomes_text():
    raw = (
        "From: Ruth Adeyemi <ruth@orchard.example>\nSubject: lunch\nMIME-Version: 1.0\n"
        "Content-Type: text/html; charset=utf-8\n\n"
        "<html><style>td {font: 9pt}</style><body><p>Lunch with <b>Nils</b> on Friday?</p>"
        "<div>Ruth&nbsp;A.</div></body></html>"
    )
    (message,) = read_messages([raw], None)
    assert "Lunch with Nils on Friday?" in message.text and "\n\nRuth A.\n" in message.text
    assert "<" not in message.text.split("\n\n", 1)[1] and "font" not in message.text


def test_forwarded_thread_keeps_the_original_message_block():
    (message,) = read_messages([], str(FIXTURES / "forwarded_thread.eml"))
    for kept in ("-----Original Message-----", "From: \tOkonkwo, Adaeze", "Cc:\tPark, Jiwoo", "10:00 - 11:30"):
        assert kept in message.text
    assert transport_words_in(message.text) == [], "X-Mailer and Content-* lines are not in the decoded text"
    assert message.source["message_id"] == "<77001.1043@relay.quillon.example>"


def test_mbox_reads_every_message_and_reports_the_bad_one_by_index():
    messages = read_messages([], str(FIXTURES / "inbox.mbox"))
    assert [m.source["index"] for m in messages] == [0, 1, 2]
    assert [m.source["message_id"] for m in messages] == ["<m1@lakeside.example>", "<m2@lakeside.example>",
                                                           "<m3@lakeside.example>"]  # fmt: skip
    good, bad, reply = messages
    assert good.error is None and "September 9 at 11am" in good.text
    assert bad.error is not None and "no text part" in bad.error and "image/png" in bad.error
    assert reply.error is None and "> Hugo, are you free Wednesday afternoon?" in reply.text, "quotes are kept"


def test_pasted_raw_message_is_masked_in_place():
    raw = (FIXTURES / "pasted_raw.txt").read_text()
    assert looks_like_raw_message(raw)
    (message,) = read_messages([raw], None)
    assert message.text == raw, "offsets index the text the user gave"
    assert len(message.view) == len(raw) and message.view.count("\n") == raw.count("\n")
    assert transport_words_in(raw) and transport_words_in(message.view) == []
    assert "    charset=us-ascii" not in message.view, "a folded transport line is masked with its header"
    assert "    Soren Holm <soren.holm@example.org>" in message.view, "a folded content line is kept"
    assert message.source["message_id"] == "<CAF9x1-2025-11-05@northwind.example>"


def test_transport_lines_are_masked_anywhere_and_person_x_fields_are_read():
    text = "Hi Ana,\n\nForwarded:\nContent-Type: text/plain; charset=us-ascii\nX-From: Baker, Ann\nX-Folder: misc\n"
    view = mask_transport_headers(text)
    assert "charset" not in view and "X-Folder" not in view
    assert "X-From: Baker, Ann" in view and "Hi Ana," in view


def test_plain_text_is_not_mistaken_for_a_raw_message():
    assert not looks_like_raw_message("Note: the 3pm call moved.\nSee you there.")
    assert not looks_like_raw_message("Can we meet tomorrow at 10?")
    assert looks_like_raw_message("From: a@b.example\nSubject: hi\n\nbody")


def test_a_text_file_holds_one_message_unless_split_is_asked(tmp_path: Path):
    path = tmp_path / "mail.txt"
    path.write_text("Hi Ana,\n\nCan we meet Tuesday?\n\nThanks,\nBo\n")
    (one,) = read_messages([], str(path))
    assert one.text == path.read_text() and one.source == {"file": str(path)}
    split = read_messages([], str(path), split_blank_lines=True)
    assert [m.text for m in split] == ["Hi Ana,", "Can we meet Tuesday?", "Thanks,\nBo"]


def test_folder_of_eml_files_and_stdin(tmp_path: Path):
    for name in ("b.eml", "a.eml"):
        (tmp_path / name).write_bytes((FIXTURES / "forwarded_thread.eml").read_bytes())
    (tmp_path / "notes.txt").write_text("not a message")
    messages = read_messages([], str(tmp_path))
    assert [Path(m.source["file"]).name for m in messages] == ["a.eml", "b.eml"]

    mbox_text = (FIXTURES / "inbox.mbox").read_text()
    from_stdin = read_messages([], None, stdin=io.StringIO(mbox_text))
    assert [m.source for m in from_stdin][0] == {"file": "<stdin>", "index": 0, "message_id": "<m1@lakeside.example>"}
    assert len(from_stdin) == 3


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "empty"),
        (b"From: a@b.example\nSubject: x\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBE",
         "no text part"),
    ],
)  # fmt: skip
def test_unreadable_messages_are_reported_not_raised(tmp_path: Path, raw: bytes, problem: str):
    path = tmp_path / "bad.eml"
    path.write_bytes(raw)
    (message,) = read_messages([], str(path))
    assert message.error is not None and problem in message.error


def test_truncated_mime_and_wrong_charsets_are_read_with_warnings(tmp_path: Path):
    cut = (
        b"From: Ola <ola@fjord.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
        b"--XX\nContent-Type: text/plain; charset=utf-8\n\nMeet Ines at 9am on Monday"
    )
    (message,) = read_messages([], str(_write(tmp_path / "cut.eml", cut)))
    assert message.error is None and "Meet Ines at 9am on Monday" in message.text
    assert any("malformed" in w for w in message.warnings)

    wrong = b"From: x@y.example\nContent-Type: text/plain; charset=us-ascii\n\nJos\xc3\xa9 at noon"
    (message,) = read_messages([], str(_write(tmp_path / "wrong.eml", wrong)))
    assert "José at noon" in message.text and any("not us-ascii as declared" in w for w in message.warnings)

    broken = b"From: x@y.example\nContent-Type: text/plain; charset=utf-8\n\nJos\xe9 at noon"
    (message,) = read_messages([], str(_write(tmp_path / "broken.eml", broken)))
    assert "Jos\ufffd at noon" in message.text and any("1 bytes" in w for w in message.warnings)

    unknown = b"From: x@y.example\nContent-Type: text/plain; charset=klingon-8\n\nnoon"
    (message,) = read_messages([], str(_write(tmp_path / "unknown.eml", unknown)))
    assert "noon" in message.text and any("unknown charset" in w for w in message.warnings)


def test_a_five_megabyte_message_is_read_whole(tmp_path: Path):
    body = ("Please book the review room for Tuesday at 3pm. " * 110_000)[:5_000_000]
    raw = f"From: Ada <ada@example.org>\nSubject: big\n\n{body}\n".encode()
    (message,) = read_messages([], str(_write(tmp_path / "big.eml", raw)))
    assert message.error is None and len(message.text) > 5_000_000


def test_bad_input_files_are_clear_errors(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        read_messages([], str(tmp_path / "missing.eml"))
    with pytest.raises(InputError, match="no .eml files"):
        read_messages([], str(tmp_path))
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        read_messages([], str(_write(tmp_path / "x.jsonl", b'{"text": "a"}\n{"text": \n')))
    with pytest.raises(InputError, match="not UTF-8"):
        read_messages([], str(_write(tmp_path / "x.txt", b"caf\xe9 at noon")))


def _write(path: Path, raw: bytes) -> Path:
    path.write_bytes(raw)
    return path


# --- The models on messages ------------------------------------------------------------------------------------------


class _Recorder:
    """A stand-in tagger that records what it is shown and tags every "Soren" as a NAME: it tests what reaches a
    model and how its offsets come back, not a model."""

    intents = ["inquiry", "cancel"]

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        self.seen += texts
        return [
            {"text": t, "intent": "inquiry", "intent_score": None,
             "entities": [{"type": "NAME", "text": m.group(), "start": m.start(), "end": m.end(), "score": None}
                          for m in re.finditer("Soren", t)]}
            for t in texts
        ]  # fmt: skip


def test_models_see_the_content_and_errors_keep_their_place():
    recorder = _Recorder()
    messages = read_messages([], str(FIXTURES / "inbox.mbox")) + [Message("", "", {"file": "x"}, error="empty")]
    predictions = predict_messages(recorder, messages, batch_size=4)
    assert len(recorder.seen) == 2, "the model is not run on messages that could not be read"
    assert [p.get("error") is not None for p in predictions] == [False, True, False, True]
    assert [p["source"].get("index") for p in predictions] == [0, 1, 2, None]

    raw = (FIXTURES / "pasted_raw.txt").read_text()
    (prediction,) = predict_messages(recorder, [from_text(raw, {"file": "<argument>"})])
    shown = recorder.seen[-1]
    assert transport_words_in(shown) == [] and "From: Lucia" in shown.splitlines()[0], "masked lines are not shown"
    assert [raw[e["start"] : e["end"]] for e in prediction["entities"]] == ["Soren", "Soren"]
    assert [e["start"] for e in prediction["entities"]] == [m.start() for m in re.finditer("Soren", raw)]


def test_an_entity_deep_inside_a_3000_word_message_is_found(needle_tagger: Path, tmp_path: Path, capsys):
    short = tmp_path / "short.txt"
    short.write_text(f"see you then {NEEDLE} thanks for the notes")
    filler = " ".join(["all good here, see you then."] * 500)  # 3,000 words
    long = tmp_path / "long.eml"
    long.write_text(f"From: Bo <bo@example.org>\nSubject: notes\n\n{filler}\n\nhello {NEEDLE}, lunch is on me\n")
    for path in (short, long):
        assert infer_bert.main([str(needle_tagger), "--file", str(path), "--json"]) == 0
        (prediction,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        # The tiny model never saw a header line, so what it makes of one is its own affair; the needle is the test.
        names = [e for e in prediction["entities"] if e["type"] == "NAME" and e["text"] == NEEDLE]
        assert len(names) == 1, (path.name, prediction["entities"])
        assert prediction["text"][names[0]["start"] : names[0]["end"]] == NEEDLE, "offsets index the returned text"
        assert path == short or names[0]["start"] > len(prediction["text"]) * 0.9, "found at the end of the message"
        assert prediction["source"]["file"] == str(path)


def test_infer_bert_reads_every_message_of_an_mbox(trained_tiny: Path, capsys):
    assert infer_bert.main([str(trained_tiny), "--file", str(FIXTURES / "inbox.mbox"), "--json"]) == 0
    out, err = capsys.readouterr()
    predictions = [json.loads(line) for line in out.splitlines()]
    assert [p["source"]["message_id"] for p in predictions] == [f"<m{i}@lakeside.example>" for i in (1, 2, 3)]
    assert "no text part" in predictions[1]["error"] and "index': 1" in err
    for p in predictions:
        assert all(p["text"][e["start"] : e["end"]] == e["text"] for e in p["entities"])
    for name in ("multipart_alternative.eml", "pasted_raw.txt"):
        assert infer_bert.main([str(trained_tiny), "--file", str(FIXTURES / name), "--json"]) == 0
        (p,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        view = mask_transport_headers(p["text"])
        for e in p["entities"]:
            assert view[e["start"] : e["end"]] == e["text"], "no entity inside a masked header line"
            assert not re.search(r"charset|ascii|relay", e["text"])


def test_infer_slm_reads_every_message_of_an_mbox(tmp_path: Path, capsys):
    from slm_fixtures import build_tiny_model, train_tiny_checkpoint

    from causal_slms import infer_slm

    checkpoint = train_tiny_checkpoint(build_tiny_model(tmp_path / "tiny-llama"), tmp_path / "slm")
    capsys.readouterr()  # what training printed
    assert infer_slm.main([str(checkpoint), "--file", str(FIXTURES / "inbox.mbox"), "--json"]) == 0
    predictions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["source"]["index"] for p in predictions] == [0, 1, 2]
    assert "no text part" in predictions[1]["error"]
    for p in predictions:
        assert all(p["text"][e["start"] : e["end"]] == e["text"] for e in p["entities"])


def test_evaluator_scores_gold_raw_messages_with_their_own_offsets():
    import evaluate_models

    raw = (FIXTURES / "pasted_raw.txt").read_text()
    gold = make_example("raw-1", raw, "inquiry", [Span("NAME", m.start(), m.end()) for m in re.finditer("Soren", raw)])
    recorder = _Recorder()
    candidate = evaluate_models.Candidate("recorder", "test", recorder)
    metrics, rows = evaluate_models.score(candidate, [gold], batch_size=4)
    assert transport_words_in(recorder.seen[0]) == [], "the model reads the gold text masked"
    assert metrics["entities"]["NAME"]["f1"] == 1.0 and rows[0]["errors"] == 0


def test_an_argument_that_names_a_file_is_read_as_that_file(tmp_path: Path, capsys):
    path = _write(tmp_path / "meeting 2026-03-06.eml", b"Subject: hi\n\nCan we meet at noon?\n")
    (message,) = read_messages([str(path)], None)
    assert message.view.strip().endswith("Can we meet at noon?") and "2026-03-06" not in message.view
    assert str(path) in capsys.readouterr().err
    (typed,) = read_messages(["no such file.eml"], None)  # words that name no file stay words
    assert typed.text == "no such file.eml"
    long = "Cancel Friday at noon, please. " * 20  # longer than any file name the OS allows
    assert read_messages([long], None)[0].text == long
