"""The joint model and its tagger: one shared encoder (any ``AutoModel``: DistilBERT, BERT, MiniLM), a
token-classification head for the BIO labels and a sentence head for the intent (``JointModel``), and batched
reading of whole emails (``JointTagger``).  What a checkpoint is (config, files, checks) is ``checkpoint.py``;
the encoder a new model starts from is ``encoder.py``.

``JointModel`` is a transformers ``PreTrainedModel`` with its own ``JointConfig`` (model type ``joint-bert``:
BIO labels as ``id2label``, intents, the encoder's config, the loss weight), registered with the Auto classes on
import, so a checkpoint folder is an ordinary transformers folder (``config.json``, ``model.safetensors``, the
tokenizer) that loads either way:

    import classification.joint  # registers joint-bert with AutoConfig, AutoModel, AutoModelForTokenClassification
    model = AutoModelForTokenClassification.from_pretrained("trained_models/bert-demo")  # a JointModel
    tagger = JointTagger.from_pretrained("trained_models/bert-demo")  # batched reading of whole emails

Its output has ``logits`` (the entity head, what the token-classification pipeline reads) and ``intent_logits``.
``small_lm.json`` holds only the family name, the marker both families' checkpoints carry.  Folders written
before the joint model was a ``PreTrainedModel`` (labels in ``small_lm.json``, the bare encoder's config) are
refused with a pointer to ``classification/convert_checkpoint.py``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoTokenizer, PreTrainedModel

from classification.bio_decoding import BioDecoder, is_address
from classification.checkpoint import (
    FAMILY,
    MARKER_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    JointConfig,
    JointOutput,
    check_not_old_format,
    check_weights_file,
    checkpoint_meta,
    is_joint_checkpoint,
)
from classification.onnx_backend import choose_backend, load_onnx_checkpoint
from classification.reading import SHAPES, encode_windows, inside_label_ids, length_buckets, line_starts, page_words
from small_lm.data import bio_to_spans, tokenize


class JointModel(PreTrainedModel):
    """Encoder + token head + intent head; loss = entity loss + ``intent_loss_weight`` * intent loss.

    ``encoder`` may be given already loaded (``init_joint_model`` passes a pretrained one); otherwise it is built
    from ``config.encoder``, as ``from_pretrained`` does before reading the weights.
    """

    config_class = JointConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def __init__(self, config: JointConfig, encoder: PreTrainedModel | None = None):
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder)
        # One config object for the encoder, so what the joint config says is what the encoder runs with.
        config.encoder._attn_implementation = self.encoder.config._attn_implementation
        self.encoder.config = config.encoder
        hidden = config.encoder.hidden_size
        dropout = getattr(config.encoder, "hidden_dropout_prob", None) or getattr(config.encoder, "dropout", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.token_head = nn.Linear(hidden, len(config.id2label))
        self.intent_head = nn.Linear(hidden, len(config.intents or []))
        # Case for an encoder that lowercases: one vector per sub-word shape, added to the token embeddings; it
        # starts at zero, so an untrained model reads exactly as its encoder did.
        self.shape_embeddings = nn.Embedding(len(SHAPES), hidden) if config.word_shapes else None
        # DistilBERT takes no token_type_ids; BERT's tokenizers (and the pipeline) pass them.
        self._takes_token_types = "token_type_ids" in inspect.signature(self.encoder.forward).parameters
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # The heads only: transformers hands the encoder's modules to the encoder's own _init_weights, and skips
        # those already loaded.
        if module is self.token_head or module is self.intent_head:
            std = getattr(self.config.encoder, "initializer_range", None) or 0.02
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        elif module is self.shape_embeddings:
            nn.init.zeros_(module.weight)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """``PreTrainedModel.from_pretrained``, safetensors only; a folder in the old format is refused with a
        ``CheckpointError`` that names the converter."""
        if Path(str(pretrained_model_name_or_path)).is_dir():
            check_not_old_format(Path(pretrained_model_name_or_path))
        kwargs.setdefault("use_safetensors", True)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """``PreTrainedModel.save_pretrained`` (safetensors), plus the family marker ``small_lm.json``."""
        super().save_pretrained(save_directory, *args, **kwargs)
        (Path(save_directory) / MARKER_FILE).write_text(json.dumps({"family": FAMILY}, indent=1) + "\n")

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        shape_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        intent_labels: torch.Tensor | None = None,
    ) -> JointOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None and self._takes_token_types else {}
        if self.shape_embeddings is not None and shape_ids is not None:
            extra["inputs_embeds"] = self.encoder.get_input_embeddings()(input_ids) + self.shape_embeddings(shape_ids)
        else:
            extra["input_ids"] = input_ids
        hidden = self.encoder(attention_mask=attention_mask, **extra).last_hidden_state
        token_logits = self.token_head(self.dropout(hidden))
        # Mean over real tokens rather than [CLS]: MiniLM's [CLS] was never trained as a sentence summary.
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        intent_logits = self.intent_head(self.dropout(pooled))
        loss = None
        if labels is not None and intent_labels is not None:
            entity_loss = nn.functional.cross_entropy(token_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            intent_loss = nn.functional.cross_entropy(intent_logits, intent_labels)
            loss = entity_loss + self.config.intent_loss_weight * intent_loss
        return JointOutput(loss=loss, logits=token_logits, intent_logits=intent_logits)


AutoConfig.register(FAMILY, JointConfig)
AutoModel.register(JointConfig, JointModel)
# The entity head is a token classifier, so the token-classification pipeline runs a joint checkpoint as it is.
AutoModelForTokenClassification.register(JointConfig, JointModel)


def load_checkpoint(folder: str | Path) -> tuple[JointModel, Any, dict[str, Any]]:
    """Model (in eval mode), tokenizer and a summary of the config (family, labels, intents, base model,
    intent loss weight, training) from a checkpoint folder; a ``CheckpointError`` that says what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder (expected a checkpoint written by train_bert.py)")
    check_not_old_format(folder)
    if not is_joint_checkpoint(folder) or not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"{folder}: not a joint-BERT checkpoint (expected config.json of model type {FAMILY!r} and {WEIGHTS_FILE})"
        )
    check_weights_file(folder / WEIGHTS_FILE)
    try:
        model = JointModel.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{folder}: cannot load the joint model: {err}") from None
    model.eval()
    return model, tokenizer, checkpoint_meta(model.config)


class JointTagger:
    """Batched inference: emails in, predictions in the shared format out (offsets into the original text).

    Each text is read as a page (``classification/reading.py``: words, line-break markers, sub-word shapes, as
    the checkpoint was trained to read).  Emails longer than the model's window are read in overlapping windows of
    sub-words; each word keeps its scores from the window where it sits farthest from an edge, and the intent
    averages the windows.  Tags are decoded under the BIO rules (``classification/bio_decoding.py``:
    ``constrained=False`` takes each word's argmax instead, as checkpoints were read before).
    """

    def __init__(
        self,
        model: JointModel,
        tokenizer: Any,
        meta: dict[str, Any] | None = None,
        max_length: int = 256,
        bf16: bool = False,
        constrained: bool = True,
    ):
        self.model, self.tokenizer = model, tokenizer
        self.meta = meta if meta is not None else checkpoint_meta(model.config)
        # bf16 autocast: ~1.5x faster on CPUs with AVX512-BF16/AMX, same F1 on MASSIVE dev (benchmarks/bench_bert.py)
        self.bf16 = bf16
        self.labels, self.intents = self.meta["labels"], self.meta["intents"]
        self.entity_types = [label[2:] for label in self.labels if label.startswith("B-")]
        self.max_length = min(max_length, tokenizer.model_max_length or max_length, 512)
        self.markers = self.meta.get("layout_tokens")
        self.word_shapes = bool(self.meta.get("word_shapes"))
        self.inside = inside_label_ids(self.labels) if self.meta.get("subword_labels") == "all" else None
        self.decoder = BioDecoder(self.labels) if constrained else None
        self.outside = self.labels.index("O")
        self.backend = "torch" if isinstance(model, nn.Module) else "onnx"  # from_pretrained says which exactly
        self.backend_reason = "built from a model object"

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, max_length: int = 256, bf16: bool = False, backend: str = "auto"
    ) -> JointTagger:
        """The tagger of a checkpoint folder; ``CheckpointError`` saying what is wrong if it cannot be read.

        ``backend``: ``"auto"`` (int8 where the folder's export allows it, see ``onnx_backend.choose_backend``),
        ``"torch"``, or ``"onnx"`` / ``"onnx-int8"`` for ONNX Runtime on the folder's export.  The tagger's
        ``backend`` and ``backend_reason`` say which ran and why."""
        backend, reason = choose_backend(folder, backend, bf16)
        if backend == "torch":
            tagger = cls(*load_checkpoint(folder), max_length=max_length, bf16=bf16)
        elif bf16:
            raise ValueError("bf16 autocast is for the torch backend; the ONNX backends run their own precision")
        else:
            tagger = cls(*load_onnx_checkpoint(folder, backend), max_length=max_length)
        tagger.backend, tagger.backend_reason = backend, reason
        return tagger

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for ``texts``: their windows sorted by length and run in batches of similar length
        (``length_buckets``), so little compute goes to padding however the texts' lengths mix."""
        offsets = [[(s, e) for _, s, e in tokenize(text)] for text in texts]
        pages = [page_words(text, o, self.markers) for text, o in zip(texts, offsets, strict=True)]
        windows = encode_windows(self.tokenizer, [words for words, _ in pages], self.max_length, self.markers)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        word_scores: list[dict[int, tuple[int, np.ndarray]]] = [{} for _ in texts]
        intent_probs: list[list[np.ndarray]] = [[] for _ in texts]
        pad_id = self.tokenizer.pad_token_id or 0
        for start, end in length_buckets([len(windows[i].input_ids) for i in order], batch_size):
            batch = [windows[i] for i in order[start:end]]
            width = max(len(w.input_ids) for w in batch)
            ids = torch.tensor([w.input_ids + [pad_id] * (width - len(w.input_ids)) for w in batch])
            mask = torch.tensor([[1] * len(w.input_ids) + [0] * (width - len(w.input_ids)) for w in batch])
            inputs = {"input_ids": ids, "attention_mask": mask}
            if self.word_shapes:
                inputs["shape_ids"] = torch.tensor([w.shape_ids + [0] * (width - len(w.shape_ids)) for w in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model(**inputs)
            token_scores = out.logits.float().log_softmax(-1).numpy()
            intents = out.intent_logits.float().softmax(-1).numpy()
            for b, window in enumerate(batch):
                intent_probs[window.source].append(intents[b])
                self._keep_word_scores(window, token_scores[b], word_scores[window.source])
        return [
            self._prediction(text, o, index, scores, probs)
            for text, o, (_, index), scores, probs in zip(texts, offsets, pages, word_scores, intent_probs, strict=True)
        ]

    def _keep_word_scores(self, window: Any, scores: np.ndarray, kept: dict[int, tuple[int, np.ndarray]]) -> None:
        """For each word that begins in ``window``, its label scores (log-probabilities: its first sub-word's, or
        with ``subword_labels="all"`` the mean over its sub-words, later ones read through their inside labels),
        kept when the word sits farther from the window's edge than in any window before."""
        ids, n = window.word_ids, len(window.word_ids)
        later = scores[:, self.inside] if self.inside is not None else None  # per label y: its inside label's score
        i = 0
        while i < n:
            word = ids[i]
            j = i + 1
            while j < n and word is not None and ids[j] == word:
                j += 1
            if word is not None and window.first[i]:
                distance_to_edge = min(i, n - 1 - i)
                if word not in kept or kept[word][0] < distance_to_edge:
                    if later is not None and j > i + 1:
                        kept[word] = (distance_to_edge, (scores[i] + later[i + 1 : j].sum(0)) / (j - i))
                    else:
                        kept[word] = (distance_to_edge, scores[i])
            i = j

    def _prediction(
        self, text: str, offsets: list, index: list, kept: dict[int, tuple[int, np.ndarray]], intent_probs: list
    ) -> dict[str, Any]:
        intent_p = np.mean(intent_probs, axis=0)
        scores = np.full((len(offsets), len(self.labels)), -np.inf)
        scores[:, self.outside] = 0.0  # a word the tokenizer gave no sub-word (a control character) is O
        for page_word, (_, score) in kept.items():
            if (token := index[page_word]) is not None:  # None: a layout marker, not a word of the text
                scores[token] = score
        if self.decoder is not None:
            label_ids = self.decoder.decode(scores, [text[s:e] for s, e in offsets], line_starts(text, offsets))
        else:
            label_ids = scores.argmax(1)
        tags = [self.labels[i] for i in label_ids]
        chosen = np.exp(scores[np.arange(len(offsets)), label_ids])
        first_word = {start: i for i, (start, _) in enumerate(offsets)}
        last_word = {end: i for i, (_, end) in enumerate(offsets)}
        entities = []
        for span in bio_to_spans(offsets, tags):
            if self.decoder is not None and span.type == "EMAIL" and not is_address(text[span.start : span.end]):
                continue  # rule 5 of bio_decoding: a routing string's rest is no EMAIL
            inside = chosen[first_word[span.start] : last_word[span.end] + 1]
            entities.append(
                {
                    "type": span.type,
                    "text": text[span.start : span.end],
                    "start": span.start,
                    "end": span.end,
                    "score": round(float(inside.mean()), 4),
                }
            )
        best = int(intent_p.argmax())
        return {
            "text": text,
            "intent": self.intents[best],
            "intent_score": round(float(intent_p[best]), 4),
            "entities": entities,
        }
