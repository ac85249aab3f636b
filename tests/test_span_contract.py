"""The span contract (small_lm/io.py): every entity any model returns is ``text[start:end]`` of the text returned
with it, within one line, outside the hidden header lines, on word edges.  Checked on every generated style, the
mail fixtures, the page fixture and the real emails of ../shared/benchmarks, and the joint model's reading and
decoding of a page (classification/reading.py, classification/bio_decoding.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from conftest import tiny_tokenizer
from hypothesis import given, settings
from hypothesis import strategies as st

from classification.checkpoint import JointOutput
from classification.joint import JointTagger
from classification.reading import SHAPE_IDS, page_words, shape_of
from generation.offline.layouts import MESSAGE_BUILDERS
from generation.offline.messages import generate_offline
from small_lm.data import bio_labels, tokenize
from small_lm.io import keep_span_contract
from small_lm.mail import from_text, predict_messages, read_messages

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
PAGE = FIXTURES / "page.txt"
REAL_EMAILS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "real_email_names_dev.jsonl"
LABELS = bio_labels(["DATE", "TIME", "NAME", "EMAIL"])


def contract_breaks(prediction: dict) -> list[dict]:
    """The entities of ``prediction`` that break the contract."""
    text = prediction["text"]
    starts, ends = {s for _, s, _ in tokenize(text)}, {e for _, _, e in tokenize(text)}
    return [
        e
        for e in prediction["entities"]
        if text[e["start"] : e["end"]] != e["text"]
        or "\n" in e["text"]
        or e["start"] not in starts
        or e["end"] not in ends
    ]


def corpus() -> list[str]:
    """Texts of every kind the models read: each generated style, the mail fixtures' files as they are, the page
    fixture, and (where ../shared is present) the shared real emails."""
    texts = [x["text"] for style in MESSAGE_BUILDERS for x in generate_offline(4, seed=7, styles={style: 1.0})]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted(FIXTURES.iterdir()) if p.is_file()]
    if REAL_EMAILS.is_file():
        texts += [json.loads(line)["text"] for line in REAL_EMAILS.read_text(encoding="utf-8").splitlines()]
    return texts


CORPUS = corpus()


class WildTagger:
    """A model that returns spans anywhere: across lines and hidden header lines, inside words, over white space."""

    intents = ["inquiry"]

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        rng = random.Random(0)
        out = []
        for text in texts:
            entities = []
            for _ in range(30):
                start = rng.randrange(len(text) + 1)
                end = min(len(text), start + rng.randrange(1, 80))
                entities.append({"type": "NAME", "text": text[start:end], "start": start, "end": end, "score": 0.5})
            out.append({"text": text, "intent": "inquiry", "intent_score": 1.0, "entities": entities})
        return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 300)), max_size=8))
def test_any_spans_come_out_under_the_contract(text: str, spans: list[tuple[int, int]]):
    entities = [{"type": "NAME", "start": s, "end": s + n, "text": "?", "score": None} for s, n in spans]
    kept = keep_span_contract(text, entities)
    assert not contract_breaks({"text": text, "entities": kept})
    for entity in kept:  # nothing is invented: each kept piece lies where a given span reached
        assert any(s <= entity["end"] and s + n >= entity["start"] for s, n in spans)


def test_every_model_output_keeps_the_contract_through_predict_messages():
    """What infer_*.py, serve.py and evaluate_models.py return goes through ``predict_messages``: whatever the
    model (here one that puts spans anywhere), the entities index the returned text, within a line, and never
    reach into a hidden header line."""
    messages = [from_text(text, {"index": i}) for i, text in enumerate(CORPUS)]
    messages += read_messages([], str(FIXTURES / "inbox.mbox"))
    messages += [m for p in sorted(FIXTURES.glob("*.eml")) for m in read_messages([], str(p))]
    predictions = predict_messages(WildTagger(), messages)
    assert sum(len(p["entities"]) for p in predictions) > 20 * len(messages), "most spans survive, cut to lines"
    for message, prediction in zip(messages, predictions, strict=True):
        assert not contract_breaks(prediction)
        for e in prediction["entities"]:  # the model read the masked view: a hidden line is blank there
            assert message.view[e["start"] : e["end"]] == e["text"]


class EverythingIs:
    """A model whose every sub-word says I-``kind`` (B-``kind`` second): its per-word argmax reads a page as one
    entity of that kind."""

    def __init__(self, kind: str):
        self.kind = kind

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> JointOutput:
        logits = torch.zeros(*input_ids.shape, len(LABELS))
        logits[..., LABELS.index(f"I-{self.kind}")] = 5.0
        logits[..., LABELS.index(f"B-{self.kind}")] = 3.0
        return JointOutput(logits=logits, intent_logits=torch.zeros(input_ids.shape[0], 2))


def scripted_tagger(tmp_path: Path, constrained: bool = True, kind: str = "NAME") -> JointTagger:
    meta = {"labels": LABELS, "intents": ["inquiry", "cancel"], "subword_labels": "all"}
    return JointTagger(EverythingIs(kind), tiny_tokenizer(tmp_path / "tok"), meta, constrained=constrained)


def test_the_joint_model_decodes_a_page_line_by_line_and_addresses_as_emails(tmp_path: Path):
    text = PAGE.read_text(encoding="utf-8")
    (free,) = scripted_tagger(tmp_path, constrained=False).predict([text])
    assert any("\n" in e["text"] for e in free["entities"]), "the case must start from spans across lines"
    (page,) = scripted_tagger(tmp_path).predict([text])
    assert page["entities"] and not contract_breaks(page)
    lines = {e["text"] for e in page["entities"]}
    assert {"Pamela Ortiz", "Lee Chen", "RAVI NAIR", "Pam"} <= lines, "one name a line stays one entity a line"
    for e in page["entities"]:
        assert e["type"] != "NAME" or "@" not in e["text"], f"an address inside a NAME: {e['text']!r}"


def test_an_email_is_an_address_never_the_routing_around_one(tmp_path: Path):
    (prediction,) = scripted_tagger(tmp_path, kind="EMAIL").predict(["cc: Ann Lee/NYC/ACME@ACME, lee@corp.example"])
    assert [e["text"] for e in prediction["entities"]] == ["lee@corp.example"]


def test_hidden_header_lines_never_join_the_words_around_them(tmp_path: Path):
    """The MIME lines between To and Subject are masked; a model that runs one span on across them must not
    return an entity whose slice holds them."""
    message = from_text(PAGE.read_text(encoding="utf-8"), {"file": "page.txt"})
    (prediction,) = predict_messages(scripted_tagger(tmp_path, constrained=False), [message])
    assert not contract_breaks(prediction)
    assert not any("MIME" in e["text"] or "Content-Type" in e["text"] for e in prediction["entities"])


def test_a_page_reads_with_a_marker_at_each_line_break_and_shapes_for_case():
    text = PAGE.read_text(encoding="utf-8")
    offsets = [(s, e) for _, s, e in tokenize(text)]
    words, index = page_words(text, offsets, ["[L]", "[T]"])
    attendees = words[words.index("Attendees") :][:12]
    assert attendees == ["Attendees", ":", "[L]", "Pamela", "Ortiz", "[L]", "Lee", "Chen", "[L]", "RAVI", "NAIR", "[L]"]
    assert [words[i] for i, t in enumerate(index) if t is not None] == [text[s:e] for s, e in offsets]
    nair = words.index("NAIR")
    assert words[nair + 1 : nair + 4] == ["[L]", "[L]", "Can"], "a blank line is two markers"
    assert page_words(text, offsets, None)[0] == [text[s:e] for s, e in offsets], "no markers: the words only"
    shapes = [shape_of(w) for w in ("ravi", "Ravi", "RAVI", "McDonald", "4102", "Q3", "&", "")]
    assert shapes == [SHAPE_IDS[s] for s in ("lower", "title", "upper", "mixed", "digits", "alphanumeric", "other",
                                             "special")]  # fmt: skip


def test_the_page_fixture_answer_follows_the_guideline_rules():
    """The expected answer is a valid one: each entity on word edges, within a line, found in order."""
    text = PAGE.read_text(encoding="utf-8")
    expected = json.loads((FIXTURES / "page.expected.json").read_text())
    cursor, entities = 0, []
    for e in expected["entities"]:
        start = text.index(e["text"], cursor)
        entities.append({**e, "start": start, "end": start + len(e["text"])})
        cursor = start + len(e["text"])
    assert not contract_breaks({"text": text, "entities": entities})
