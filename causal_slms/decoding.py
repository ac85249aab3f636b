"""Batched greedy decoding with a shared system-prompt KV cache and a JSON answer grammar.

How every answer comes out as valid JSON of the right shape
-----------------------------------------------------------
The answer must read ``{"intent":"I","entities":[{"type":"T","text":"S"},...]}`` followed by the end-of-turn
token, where ``I`` is one of the dataset's intents, ``T`` one of its entity types and ``S`` a JSON string.
``AnswerGrammar`` is a small automaton over characters that accepts exactly the prefixes of such answers.  At
every step the decoder takes the model's highest-scoring token whose text keeps the answer a valid prefix: it
looks at the top 32 tokens first and, only when none of them fits, walks down the whole vocabulary in score
order (some one-character token always fits, so this always finds one).  The end-of-turn token is only allowed
once the closing ``}`` is written, and is forced then.  The grammar fixes the structure, not the content: the
model's own top token is taken whenever it is allowed, so a model that writes well-formed answers gets exactly
its plain greedy answer, and the number of steps where the grammar had to overrule the model is counted.
Byte-level tokens that are only part of a UTF-8 character (SmolLM2 writes "ó" or "Ş" as two) are fed as bytes:
the grammar holds the begun character until a later token finishes it, so names in any script can be written.

Entity texts are then looked up in the email with ``find_entity`` (a repeated string maps to its occurrences in
order); a string that is not in the email on word edges is dropped and named in the email's ``"warning"``, so
entities are never invented.  (The grammar deliberately does not force entity texts to be substrings of the
email: when a model starts to write a name that is not there, forcing it onto some substring turns a harmless
hallucination, which would be dropped, into a false entity.)  Two more rules bound what a looping model can
write: an entity text that is written more often than the email contains it (twice if it is not in the email)
closes the list, and so does reaching as many entities as the email has words; a text may not be longer than
the email.  What can still go wrong is reported per email, never papered over: an answer that reaches the token
limit before its closing ``}`` is "cut off" (the complete entities before the cut are kept, the email gets an
``"error"``).

Speed: emails run in batches, longest first; the system prompt, identical for every email, is run
through the model once per ``predict`` call and its keys/values are shared by all rows of every batch.  Rows are
laid out as ``[system prompt][padding][email + assistant header]`` so the shared prefix sits at the same
positions in every row; padding is masked out and position ids skip it, so each row computes exactly what it
would alone.  Rows that finish leave the batch, and waiting emails join it once a quarter of it is free (caches of
different widths are evened out with masked slots), so the batch stays full instead of idling on its longest
answer.
"""

from __future__ import annotations

import codecs
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase
from transformers.convert_slow_tokenizer import bytes_to_unicode

from small_lm.data import tokenize

TOP_K = 32
FORCE_GQA = "TRANSFORMERS_SDPA_FORCE_GQA"  # read by transformers' SDPA attention at every call
PREFILL_ROWS = 4  # emails run through the prompt together before joining the batch


class State(NamedTuple):
    """Where the automaton is: ``mode``, what it needs (the rest of a literal, the value so far) and the entity
    texts written so far."""

    mode: str  # "lit", "intent", "type", "list", "text", "after", "end"
    typed: str = ""  # "lit": the literal still to write; "intent"/"type"/"text": the value so far
    then: str = ""  # "lit": the mode that follows the literal
    texts: tuple[str, ...] = ()  # entity texts so far (JSON-escaped)
    pending: bytes = b""  # the first bytes of a character that a byte-level token has begun


class AnswerGrammar:
    """Accepts the prefixes of ``{"intent":"I","entities":[{"type":"T","text":"S"},...]}`` for one email.

    It also ends runaway lists, the way a barely trained model fails: once an entity text has been written more
    often than it occurs in the email (or twice, if not at all; or it is empty; or the list has as many entities
    as the email has words), the only way on is ``]``.  Every state has a way on, so decoding never gets stuck.
    """

    def __init__(self, intents: list[str], entity_types: list[str], email: str):
        self.intents = list(intents)
        self.entity_types = list(entity_types)
        # Entity texts are JSON strings, so they are checked against the email as JSON writes it.
        self.escaped_email = json.dumps(email, ensure_ascii=False)[1:-1]
        self.max_entities = max(1, len(tokenize(email)))
        self.max_text = len(self.escaped_email)

    def start(self) -> State:
        return State("lit", '{"intent":"', "intent")

    @staticmethod
    def is_final(state: State) -> bool:
        return state.mode == "end"

    def feed(self, state: State | None, chunk: str) -> State | None:
        """The state after writing ``chunk``, or None if the answer would stop being valid."""
        for char in chunk:
            if state is None:
                return None
            state = self._step(state, char)
        return state

    def _step(self, state: State, char: str) -> State | None:
        if state.pending:  # a character was begun in bytes: only its remaining bytes may come
            return None
        mode, typed, then, texts, _ = state
        if mode == "lit":
            if char != typed[0]:
                return None
            return State("lit", typed[1:], then, texts) if len(typed) > 1 else State(then, texts=texts)
        if mode in ("intent", "type"):
            options = self.intents if mode == "intent" else self.entity_types
            if char == '"' and typed in options:
                literal, then = (',"entities":[', "list") if mode == "intent" else (',"text":"', "text")
                return State("lit", literal, then, texts)
            if any(option.startswith(typed + char) for option in options):
                return State(mode, typed + char, texts=texts)
            return None
        if mode == "list":  # right after '[': first entity or empty list
            if char == "{":
                return State("lit", '"type":"', "type", texts)
            return State("lit", "}", "end", texts) if char == "]" else None
        if mode == "text":  # a JSON string: escapes as json.dumps writes them, no raw control characters
            escaping = (len(typed) - len(typed.rstrip("\\"))) % 2 == 1
            if escaping:
                return State("text", typed + char, texts=texts) if char in '"\\/bfnrt' else None
            if char == '"':
                return State("lit", "}", "after", (*texts, typed))
            if char < " " or len(typed) >= self.max_text:
                return None
            return State("text", typed + char, texts=texts)
        if mode == "after":  # after an entity's '}'
            if char == "," and not self._list_must_end(texts):
                return State("lit", '{"type":"', "type", texts)
            return State("lit", "}", "end", texts) if char == "]" else None
        return None  # "end": nothing more may be written

    def feed_bytes(self, state: State | None, data: bytes) -> State | None:
        """The state after a byte-level token that is not whole UTF-8 characters (SmolLM2 writes "ó" as two).

        The complete characters are fed as text; bytes that begin a character are kept in ``pending`` when some
        allowed continuation starts with them: any character inside an entity text, else the literal or a label
        that comes next.  A later token must then finish that character.
        """
        if state is None:
            return None
        data = state.pending + data
        try:
            text, rest = data.decode("utf-8"), b""
        except UnicodeDecodeError as err:
            if err.reason != "unexpected end of data":
                return None  # not UTF-8 at all
            text, rest = data[: err.start].decode("utf-8"), data[err.start :]
        state = self.feed(state._replace(pending=b""), text) if text else state._replace(pending=b"")
        if state is None or not rest:
            return state
        if state.mode == "text":  # inside a text every non-ASCII character is alike: is one taken here?
            return state._replace(pending=rest) if self._step(state, "\u00e9") is not None else None
        if any(c.encode("utf-8").startswith(rest) for c in self._continuations(state)):
            return state._replace(pending=rest)
        return None

    def _continuations(self, state: State) -> list[str]:
        """What may follow a state outside entity texts, as whole strings."""
        if state.mode == "lit":
            return [state.typed]
        if state.mode in ("intent", "type"):
            options = self.intents if state.mode == "intent" else self.entity_types
            return [o[len(state.typed) :] for o in options if o.startswith(state.typed)]
        return []

    def next_chars(self, state: State) -> str | None:
        """The characters that may come next (None: almost any, inside an entity text)."""
        mode, typed, _, texts, pending = state
        if pending:
            return ""  # only bytes (``feed_bytes``) may come
        if mode == "lit":
            return typed[0]
        if mode in ("intent", "type"):
            options = self.intents if mode == "intent" else self.entity_types
            chars = {o[len(typed)] for o in options if o.startswith(typed) and len(o) > len(typed)}
            return "".join(chars) + ('"' if typed in options else "")
        if mode == "text":
            return '"\\/bfnrt' if (len(typed) - len(typed.rstrip("\\"))) % 2 == 1 else None
        if mode == "list":
            return "{]"
        if mode == "after":
            return "]" if self._list_must_end(texts) else ",]"
        return ""

    def _list_must_end(self, texts: tuple[str, ...]) -> bool:
        last = texts[-1]
        allowed = max(1, self.escaped_email.count(last))
        return not last or texts.count(last) > allowed or len(texts) >= self.max_entities


class TokenTable:
    """The text of every token id (None where a token may never appear in an answer), and the ids by first
    character, so that the grammar's fallback only looks at tokens that can possibly fit.

    Special and added tokens, ids past the tokenizer's vocabulary and byte pieces that are not whole UTF-8
    characters (they decode to U+FFFD) are None.  The bytes of the latter are in ``partial`` (byte-level BPE
    vocabularies such as SmolLM2's, and ``<0xNN>`` byte fallback), so that characters written in several tokens
    can still be written.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int):
        n = len(tokenizer)
        texts: list[str | None] = list(
            tokenizer.batch_decode(
                [[i] for i in range(n)], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
        )
        for i in set(tokenizer.added_tokens_decoder) | set(tokenizer.all_special_ids):
            if i < n:
                texts[i] = None
        self.partial: dict[int, bytes] = {}
        for i, text in enumerate(texts):
            if text is not None and "\ufffd" in text:
                data = _token_bytes(tokenizer.convert_ids_to_tokens(i))
                if data is not None and b"\xef\xbf\xbd" not in data:  # a real U+FFFD in a token stays out
                    self.partial[i] = data
        self.partial_ids = torch.tensor(sorted(self.partial), dtype=torch.long)
        texts = [None if t is None or t == "" or "\ufffd" in t else t for t in texts]
        self.texts = texts + [None] * max(0, vocab_size - n)
        by_first: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            if text is not None:
                by_first.setdefault(text[0], []).append(i)
        self.by_first_char = {c: torch.tensor(ids) for c, ids in by_first.items()}

    def bytes_of(self, token: int) -> bytes:
        """What a token adds to the answer, as UTF-8 bytes (nothing for special tokens)."""
        text = self.texts[token]
        return text.encode("utf-8") if text is not None else self.partial.get(token, b"")

    def feed(self, grammar: AnswerGrammar, state: State, token: int) -> State | None:
        """The grammar's state after ``token``, or None if it may not come next."""
        if (text := self.texts[token]) is not None:
            return grammar.feed(state, text)
        return grammar.feed_bytes(state, self.partial[token]) if token in self.partial else None


_BYTE_LEVEL = {char: byte for byte, char in bytes_to_unicode().items()}


def _token_bytes(token: str | None) -> bytes | None:
    """The bytes a vocabulary entry stands for: byte-level BPE characters, or a ``<0xNN>`` byte fallback."""
    if token is None:
        return None
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        return bytes([int(token[3:5], 16)])
    if all(char in _BYTE_LEVEL for char in token):
        return bytes(_BYTE_LEVEL[char] for char in token)
    return None


@dataclass
class Generation:
    """One row's answer: token ids, their texts and log-probabilities, and how decoding ended."""

    token_ids: list[int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    text: str = ""  # the answer without the stop token
    finished: bool = False  # wrote a stop token (for constrained rows: after a complete answer)
    overruled: int = 0  # steps where the grammar rejected the model's top token


@torch.no_grad()
def prefix_cache(model: PreTrainedModel, prefix_ids: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Keys and values of every layer for the shared prompt prefix (batch of one)."""
    device = model.device
    out = model(input_ids=torch.tensor([prefix_ids], device=device), use_cache=True, logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in out.cache.layers]


def expand_cache(prefix: list[tuple[torch.Tensor, torch.Tensor]], batch: int) -> DynamicCache:
    """A cache holding the one-row ``prefix`` keys/values for ``batch`` rows (a view: nothing is copied until the
    cache grows; gradients, if any, flow back through the expansion)."""
    return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix])


@dataclass
class _Batch:
    """The rows being decoded together: their cache, attention mask, last positions and next-token logits."""

    rows: list[int]  # index into the caller's rows, per batch row
    cache: DynamicCache
    mask: torch.Tensor  # (rows, prefix + everything so far): 1 where a token is, 0 for padding
    positions: torch.Tensor  # (rows, 1): position id of each row's last token
    logits: torch.Tensor  # (rows, vocab): scores of each row's next token


def _prefill(model, prefix, rows: list[list[int]], indices: list[int], pad_id: int) -> _Batch:
    """Run the emails of ``rows`` after the shared prefix: ``[prefix][padding][email + header]`` per row."""
    device = model.device
    prefix_len = prefix[0][0].shape[-2]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), prefix_len + width), dtype=torch.long, device=device)
    mask[:, :prefix_len] = 1
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row, device=device)
        mask[i, prefix_len + width - len(row) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]  # skip the padding
    cache = expand_cache(prefix, len(rows))
    out = model(
        input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1
    )
    return _Batch(indices, cache, mask, positions[:, -1:], out.logits[:, -1, :].float())


def _merge(a: _Batch, b: _Batch) -> _Batch:
    """One batch of both.  The narrower cache is widened with masked slots: keys already carry their rotary
    positions and the mask says what each row may see, so where the slots sit does not matter."""

    def widen(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
        shape = list(t.shape)
        shape[dim] = width - t.shape[dim]
        return torch.cat([t, t.new_zeros(shape)], dim=dim) if shape[dim] else t

    width = max(a.mask.shape[1], b.mask.shape[1])
    for layer_a, layer_b in zip(a.cache.layers, b.cache.layers, strict=True):
        layer_a.keys = torch.cat([widen(layer_a.keys, width, 2), widen(layer_b.keys, width, 2)])
        layer_a.values = torch.cat([widen(layer_a.values, width, 2), widen(layer_b.values, width, 2)])
    mask = torch.cat([widen(a.mask, width, 1), widen(b.mask, width, 1)])
    return _Batch(
        a.rows + b.rows, a.cache, mask, torch.cat([a.positions, b.positions]), torch.cat([a.logits, b.logits])
    )


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prefix: list[tuple[torch.Tensor, torch.Tensor]],
    rows: list[list[int]],
    *,
    stop_ids: set[int],
    pad_id: int,
    max_new_tokens: int,
    batch_size: int = 16,
    grammars: list[AnswerGrammar] | None = None,
    table: TokenTable | None = None,
    on_done=None,
) -> list[Generation]:
    """Greedy answers for ``rows`` (email + assistant header ids) after the cached prefix, in order.

    With ``grammars`` (one per row, plus the tokenizer's ``TokenTable``) decoding is constrained as the
    module docstring explains; without, it is plain greedy decoding up to a stop id.  Rows run longest email
    first (long emails have long answers: started last, they would run on alone), at most ``batch_size`` at a
    time; when a quarter of the batch has finished, waiting rows are run through the prompt (a few at a time,
    to pad little) and join it, so the batch stays full instead of idling on its longest answer.
    ``on_done(n)`` is called as rows finish (for a progress bar).
    """
    with _grouped_query_attention(model):
        return _decode(
            model, tokenizer, prefix, rows, stop_ids, pad_id, max_new_tokens, batch_size, grammars, table, on_done
        )


@contextmanager
def _grouped_query_attention(model: PreTrainedModel):
    """With fp32 weights on CPU, let SDPA attend with the model's grouped key/value heads as they are.

    transformers does so only when there is no attention mask; with the padding masks used here it would first
    repeat every layer's keys and values for each query head (3x for SmolLM2), a copy of the whole cache per
    layer per step.  Measured on 2 cores at batch 16: same logits up to float rounding, a quarter less time per
    decoding step in fp32, but almost twice the time in bf16; GPUs may fall back to a slower masked kernel.
    """
    cpu_fp32 = model.device.type == "cpu" and model.dtype == torch.float32
    if not cpu_fp32 or model.config._attn_implementation != "sdpa":
        yield
        return
    before = os.environ.get(FORCE_GQA)
    os.environ[FORCE_GQA] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[FORCE_GQA]
        else:
            os.environ[FORCE_GQA] = before


def _decode(model, tokenizer, prefix, rows, stop_ids, pad_id, max_new_tokens, batch_size, grammars, table, on_done):
    waiting = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    results = [Generation() for _ in rows]
    # What each token adds to the answer text: a character written in several byte tokens appears with its last.
    utf8 = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in rows]
    states = [g.start() for g in grammars] if grammars else None
    batch: _Batch | None = None
    while waiting or batch is not None:
        free = batch_size - (len(batch.rows) if batch else 0)
        if waiting and free >= min(max(1, batch_size // 4), len(waiting)):
            joining, waiting = waiting[:free], waiting[free:]
            for start in range(0, len(joining), PREFILL_ROWS):  # small groups of similar length: little padding
                group = joining[start : start + PREFILL_ROWS]
                new = _prefill(model, prefix, [rows[i] for i in group], group, pad_id)
                batch = new if batch is None else _merge(batch, new)
        logits = batch.logits
        # One top-k for the whole batch: the grammar then only looks at Python lists, not row-by-row tensors.
        tops = logits.topk(min(TOP_K, logits.shape[-1])).indices.tolist()
        chosen, keep = [], []
        for j, i in enumerate(batch.rows):
            if states is None:
                token = tops[j][0]
            else:
                token, states[i], overruled = _constrained_choice(
                    logits[j], tops[j], grammars[i], states[i], stop_ids, table
                )
                results[i].overruled += overruled
            chosen.append(token)
        picked = torch.tensor(chosen, device=logits.device).unsqueeze(-1)
        logprobs = (logits.gather(-1, picked).squeeze(-1) - torch.logsumexp(logits, dim=-1)).tolist()
        for j, (i, token) in enumerate(zip(batch.rows, chosen, strict=True)):
            results[i].token_ids.append(token)
            added = b"" if token in stop_ids or table is None else table.bytes_of(token)
            results[i].pieces.append(utf8[i].decode(added))
            results[i].logprobs.append(logprobs[j])
            results[i].finished = token in stop_ids
            if results[i].finished or len(results[i].token_ids) >= max_new_tokens:
                if on_done:
                    on_done(1)
            else:
                keep.append(j)
        if not keep:
            batch = None
            continue
        if len(keep) < len(batch.rows):  # drop finished rows from the batch and its cache
            index = torch.tensor(keep, device=model.device)
            batch.cache.batch_select_indices(index)
            batch.mask, batch.positions = batch.mask[index], batch.positions[index]
            batch.rows = [batch.rows[j] for j in keep]
        next_ids = torch.tensor([chosen[j] for j in keep], device=model.device).unsqueeze(-1)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(keep), 1))], dim=-1)
        batch.positions = batch.positions + 1
        out = model(
            input_ids=next_ids,
            attention_mask=batch.mask,
            position_ids=batch.positions,
            cache=batch.cache,
            use_cache=True,
            logits_to_keep=1,  # only the last position's scores are needed
        )
        batch.logits = out.logits[:, -1, :].float()
    for r in results:  # constrained answers are exactly the pieces the grammar checked
        ids = [t for t in r.token_ids if t not in stop_ids]
        r.text = "".join(r.pieces) if grammars else tokenizer.decode(ids, skip_special_tokens=False)
    return results


def _constrained_choice(
    logits: torch.Tensor, top: list[int], grammar: AnswerGrammar, state: State, stop_ids: set[int], table: TokenTable
) -> tuple[int, State, int]:
    """The best-scoring token that keeps the answer valid, the new state, and 1 if the top token was refused.

    ``top`` holds the row's highest-scoring token ids, best first."""
    if grammar.is_final(state):  # the answer is complete: end the turn
        token = min(stop_ids, key=lambda t: -float(logits[t]))
        return token, state, int(token != top[0])
    for n, token in enumerate(top):
        if (new := table.feed(grammar, state, token)) is not None:
            return token, new, int(n > 0)
    # The model wants something else: walk down the tokens that start with a character that may come next
    # (and the byte tokens, which may begin or finish a character that may come next).
    chars = grammar.next_chars(state)
    if chars is None:
        candidates = logits.argsort(descending=True)
    else:
        ids = [table.by_first_char[c] for c in chars if c in table.by_first_char] + [table.partial_ids]
        ids = torch.cat(ids).to(logits.device)
        candidates = ids[logits[ids].argsort(descending=True)]
    for token in candidates.tolist():
        if (new := table.feed(grammar, state, token)) is not None:
            return token, new, 1
    raise RuntimeError(f"no token continues the answer from {state}")  # unreachable with a byte-level vocabulary
