"""Fixtures shared by the tests: a tiny hand-written dataset (no generator needed)."""

from __future__ import annotations

import itertools
import json
import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, BertTokenizerFast, PreTrainedModel

from classification import train_bert
from classification.joint import load_checkpoint
from small_lm.data import Span, build_document, make_example, split_examples, write_json_atomic

BENCHMARK = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "massive_calendar_dev.jsonl"


def tiny_examples(n: int = 48) -> list[dict]:
    """Hand-written examples with every default entity type and intent; exact spans by construction."""
    names = ["Priya", "Tom Baker", "Aiko", "Olu"]
    dates = ["tomorrow", "next friday", "June 3rd"]
    times = ["3pm", "nine am", "10:30"]
    emails = ["ana@example.com", "tom.b@mail.org"]
    templates = [
        ("inquiry", "Can we meet {DATE} at {TIME} with {NAME}?"),
        ("inquiry", "hi {NAME} are you free {DATE} around {TIME}"),
        ("cancel", "Please cancel my meeting with {NAME} {DATE}. Reply to {EMAIL}"),
        ("cancel", "{NAME} here, I need to call off {DATE} at {TIME}, sorry"),
    ]
    values = {"NAME": names, "DATE": dates, "TIME": times, "EMAIL": emails}
    out = []
    for i, (intent, template) in zip(range(n), itertools.cycle(templates)):
        text, spans = "", []
        for literal, field in _parts(template):
            text += literal
            if field:
                value = values[field][(i // 4 + len(spans)) % len(values[field])]
                spans.append(Span(field, len(text), len(text) + len(value)))
                text += value
        out.append(make_example(f"tiny-{i}", text, intent, spans))
    return out


def _parts(template: str):
    pos = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        yield template[pos : m.start()], m.group(1)
        pos = m.end()
    yield template[pos:], None


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A valid dataset file of 48 examples split 32/8/8."""
    return write_tiny_dataset(tmp_path / "tiny.json")


def write_tiny_dataset(path: Path) -> Path:
    """``tiny_examples(48)`` as a dataset file split 32/8/8 at ``path``."""
    splits = split_examples(tiny_examples(48), (0.67, 0.165, 0.165))
    document = build_document(
        splits,
        ["DATE", "TIME", "NAME", "EMAIL"],
        ["inquiry", "cancel"],
        {"generator": "tests", "model": None, "system_prompt": "", "seed": 0, "created_at": "2026-01-01T00:00:00Z"},
    )
    write_json_atomic(path, document)
    return path


def tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    """A character-level WordPiece vocabulary: every word splits into known pieces, so nothing is [UNK]."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 takes the vocabulary as ``vocab``; a ``vocab_file`` keyword is ignored and every word is [UNK]
    pieces = {piece: i for i, piece in enumerate(vocab)}
    return BertTokenizerFast(vocab=pieces, do_lower_case=True, model_max_length=512)


def tiny_bert_config(vocab_size: int) -> BertConfig:
    """A 2-layer, 32-wide BERT encoder."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )


def save_tiny_model(folder: Path, make_model: Callable[[BertTokenizerFast], PreTrainedModel]) -> Path:
    """``make_model(tokenizer)`` and the character-level tokenizer saved to ``folder``, as a hub model would be."""
    tokenizer = tiny_tokenizer(folder)
    make_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path) -> Path:
    """A tiny BERT encoder (``tiny_bert_config``) and its tokenizer saved to ``folder``."""
    return save_tiny_model(folder, lambda tokenizer: BertModel(tiny_bert_config(tokenizer.vocab_size)))


@pytest.fixture
def tiny_bert(tmp_path: Path) -> Path:
    return save_tiny_bert(tmp_path / "tiny-bert")


def train_tiny(tiny_bert: Path, tiny_dataset: Path, out: Path, *extra: str) -> Path:
    """A tiny joint checkpoint in ``out``, trained for 2 epochs with ``train_bert.py``'s defaults and ``extra``;
    without the ONNX export at the end (it costs seconds, and these tests read torch; test_bert's end-to-end test
    covers the export)."""
    args = ["--dataset", str(tiny_dataset), "--model", str(tiny_bert), "--output-dir", str(out),
            "--epochs", "2", "--batch-size", "8", "--learning-rate", "5e-3", "--no-onnx", *extra]  # fmt: skip
    assert train_bert.main(args) == 0, "train_bert.py failed: see its error line above"
    return out


@pytest.fixture
def trained_tiny(tiny_bert: Path, tiny_dataset: Path, tmp_path: Path) -> Path:
    return train_tiny(tiny_bert, tiny_dataset, tmp_path / "ckpt")


# How checkpoints read before layout markers, word shapes and sub-word labels: what an old-format folder holds.
WORDS_ONLY = ("--no-layout", "--word-shapes", "off", "--subword-labels", "first")


@pytest.fixture
def trained_tiny_words_only(tiny_bert: Path, tiny_dataset: Path, tmp_path: Path) -> Path:
    return train_tiny(tiny_bert, tiny_dataset, tmp_path / "ckpt-words-only", *WORDS_ONLY)


NEEDLE = "Quentin"  # the only word of the training data that starts with q


@pytest.fixture(scope="session")
def needle_tagger(tmp_path_factory) -> Path:
    """A tiny joint checkpoint trained until it tags the needle name: a real model that reliably finds one thing,
    so a test can ask whether the reading machinery lets it."""
    root = tmp_path_factory.mktemp("needle")
    save_tiny_bert(root / "base")
    fillers = ["the plan for the week", "see you then", "thanks for the notes", "lunch is on me", "all good here"]
    examples = []
    for i in range(120):
        template = ["{f} {NAME} {f}", "hello {NAME}, {f}", "{f}, {f} - {NAME}"][i % 3]
        text, spans = "", []
        for literal, slot in _parts(template.replace("{f}", fillers[i % 5], 1).replace("{f}", fillers[(i + 2) % 5])):
            text += literal
            if slot:
                spans.append(Span("NAME", len(text), len(text) + len(NEEDLE)))
                text += NEEDLE
        examples.append(make_example(f"n{i}", text, ["inquiry", "cancel"][i % 3 == 2], spans))
    document = build_document(split_examples(examples, (0.8, 0.1, 0.1)), ["NAME"], ["inquiry", "cancel"], {})
    write_json_atomic(root / "needle.json", document)
    out = root / "ckpt"
    args = ["--dataset", str(root / "needle.json"), "--model", str(root / "base"), "--output-dir", str(out),
            "--epochs", "20", "--batch-size", "8", "--learning-rate", "2e-3",
            # The needle is the only capitalised word: without this a model may learn the shape alone, and the HF
            # pipeline, which passes no shapes, would then find nothing (tests/test_bert.py).
            "--word-shapes", "off", "--no-onnx"]  # fmt: skip
    status = train_bert.main(args)
    assert status == 0, "train_bert.py failed: see its error line above"
    return out


def write_old_format(checkpoint: Path, folder: Path) -> None:
    """``checkpoint`` (trained with ``WORDS_ONLY``, as every checkpoint was then) as train_bert.py wrote it before
    the joint model was a PreTrainedModel: the bare encoder's config.json, all weights in model.safetensors, labels
    and intents in small_lm.json."""
    model, tokenizer, meta = load_checkpoint(checkpoint)
    assert not (meta["layout_tokens"] or meta["word_shapes"]), "old checkpoints read words only: train WORDS_ONLY"
    folder.mkdir()
    model.encoder.config.save_pretrained(folder)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)
    old_meta = {k: meta[k] for k in ("labels", "intents", "base_model", "intent_loss_weight", "dataset", "max_length")}
    (folder / "small_lm.json").write_text(json.dumps({"family": "joint-bert", **old_meta}))
    (folder / "metrics.json").write_text("{}")
