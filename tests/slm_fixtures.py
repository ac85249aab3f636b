"""Helpers for the causal_slms tests: a small templated dataset and a tiny Llama with a ChatML tokenizer.

The tiny model (hidden size 32, 2 layers) is saved to a folder and loaded back through the same
``from_pretrained`` code as the real one.  Its tokenizer is a byte-level BPE trained on the fly, with
``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>`` and SmolLM2's habit of padding with ``<|im_end|>``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from small_lm.data import Span, build_document, make_example, split_examples, write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_MODEL = REPO_ROOT / "pretrained" / "SmolLM2-135M-Instruct"
needs_real = pytest.mark.skipif(not (REAL_MODEL / "model.safetensors").is_file(), reason="pretrained/ not converted")

INTENTS = ["inquiry", "cancel"]
TYPES = ["DATE", "TIME", "NAME", "EMAIL"]
EMAILS = [
    "Can we meet tomorrow at 3pm with Priya?",
    "Please cancel my meeting with Tom Baker next friday. Reply to ana@example.com",
    "hi",
    "Is there a slot monday? Thanks, Aiko",
]
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

VALUES = {
    "NAME": ["Priya", "Tom Baker", "Aiko", "Jean-Luc", "Okafor"],
    "DATE": ["tomorrow", "next friday", "June 3rd", "3/6", "monday"],
    "TIME": ["3pm", "nine am", "10:30", "noon", "half past two"],  # clock times: a part of the day is no TIME
    "EMAIL": ["ana@example.com", "tom.b@mail.org"],
}
TEMPLATES = [
    ("inquiry", "Can we meet {DATE} at {TIME} with {NAME}?"),
    ("inquiry", "hi {NAME}, are you free {DATE} around {TIME}"),
    ("inquiry", "Could you send the agenda to {EMAIL} before {DATE}?"),
    ("inquiry", "Is there a slot {DATE}? Thanks, {NAME}"),
    ("inquiry", "Can we find a time to talk?"),
    ("cancel", "Please cancel my meeting with {NAME} {DATE}. Reply to {EMAIL}"),
    ("cancel", "{NAME} here, I need to call off {DATE} at {TIME}, sorry"),
    ("cancel", "Cancel the {TIME} call please."),
]


def make_examples(n: int, seed: int = 0) -> list[dict]:
    """``n`` examples from the templates, with exact spans by construction."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        intent, template = rng.choice(TEMPLATES)
        text, spans, pos = "", [], 0
        for m in re.finditer(r"\{(\w+)\}", template):
            text += template[pos : m.start()]
            value = rng.choice(VALUES[m.group(1)])
            spans.append(Span(m.group(1), len(text), len(text) + len(value)))
            text += value
            pos = m.end()
        text += template[pos:]
        examples.append(make_example(f"slm-{i}", text, intent, spans))
    return examples


def write_dataset(path: Path, n: int = 40, seed: int = 0) -> Path:
    """A dataset file of ``n`` templated examples split 60/20/20."""
    splits = split_examples(make_examples(n, seed), (0.6, 0.2, 0.2))
    metadata = {"generator": "tests/slm_fixtures.py", "seed": seed}
    write_json_atomic(path, build_document(splits, ["DATE", "TIME", "NAME", "EMAIL"], ["inquiry", "cancel"], metadata))
    return path


def build_tiny_tokenizer(vocab_size: int = 400):
    """A byte-level BPE with ChatML special tokens, trained on the templates and JSON answers (~0.1 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [x["text"] for x in make_examples(200)] + ['{"intent":"inquiry","entities":[{"type":"DATE","text":"']
    corpus += ["Extract from the email its intent (inquiry, cancel) and entities (DATE, TIME, NAME, EMAIL)"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",  # as SmolLM2 ships it: train_slm must replace it
        model_max_length=2048,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer Llama (hidden 32) and its tokenizer to ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.3,  # large weights: attention that depends on positions, so tests can see mistakes
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_tiny(folder: Path):
    """(model, tokenizer, ChatFormat) of a model folder, loaded through the same code as a real model, with the
    system prompt for ``TYPES`` and ``INTENTS`` and the pad token fixed."""
    from causal_slms.slm import ChatFormat, ensure_pad_token, load_model, system_prompt

    model, tokenizer, _ = load_model(str(folder))
    chat = ChatFormat(tokenizer, system_prompt(TYPES, INTENTS))
    ensure_pad_token(tokenizer, model, chat.end_of_turn)
    return model, tokenizer, chat


def train_tiny_checkpoint(base: Path, root: Path) -> Path:
    """A checkpoint folder from two training steps of train_slm.py on ``base``, with a 30-example dataset."""
    from causal_slms import train_slm

    dataset = write_dataset(root / "data.json", n=30)
    output = root / "out"
    argv = ["--dataset", str(dataset), "--model", str(base), "--output-dir", str(output), "--max-steps", "2"]
    argv += ["--batch-size", "4", "--eval-samples", "3", "--test-samples", "3", "--max-length", "1024"]
    assert train_slm.main(argv) == 0
    return output
