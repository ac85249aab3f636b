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

Speculative decoding: most answer tokens copy the email, so after choosing each row's next token the decoder
drafts the tokens that follow it from the email (prompt lookup, ``_Drafter``: the text of the last 3, else 2, else
1 tokens is looked up in an answer skeleton, the email and the answer so far) and feeds the chosen token and its
drafts in one forward pass.  Drafts are then checked in order against the scores at their positions: a draft
token is kept only while it is exactly what this decoder would choose there (the plain top token, or the
grammar's choice with the grammar fed the tokens kept before it), so answers, overrule counts and
log-probabilities are those of one token per step; the first refused draft and everything after it are dropped,
and the grammar state stays where the last kept token left it.  Rows keep different numbers of tokens in one pass:
the cache is cut back to the longest kept run and each row's unkept slots are masked out (like padding: positions
go on from the row's own last kept token), so no row waits for another.  Drafts the grammar refuses are cut
before the pass.  How many draft tokens a pass checks is chosen per pass (``_Odds``): extra tokens per pass cost
arithmetic, which a full batch on a CPU is short of, while one email alone (or a GPU) has it to spare.  Only the
speed depends on that choice.  Arithmetic on several positions at once can round differently from one position
at a time, as batching already does, so a near-tie could in principle be decided differently.
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
DRAFT_TOKENS = 6  # at most this many tokens drafted per row and step (0: one token per step)
DRAFT_NGRAM = 3  # drafts follow a match of the text of the last 3 tokens, else 2, else 1
DRAFT_TRIES = 8  # matches looked at per query
# What one forward pass costs beyond the tokens it reads, in tokens: on a CPU (one torch thread) a pass over
# 3 to 16 rows x W tokens took about 0.09 s + 0.0035 s per token (SmolLM2-135M, fp32, ~100-token cache), so ~26; a
# GPU reads a few hundred tokens for the price of one.  Only the speed depends on it, never the answers.
STEP_COST_TOKENS = {"cpu": 26, "cuda": 512}


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
    draft_tokens: int | None = None,
    stats: dict | None = None,
) -> list[Generation]:
    """Greedy answers for ``rows`` (email + assistant header ids) after the cached prefix, in order.

    With ``grammars`` (one per row, plus the tokenizer's ``TokenTable``) decoding is constrained as the
    module docstring explains; without, it is plain greedy decoding up to a stop id.  Rows run longest email
    first (long emails have long answers: started last, they would run on alone), at most ``batch_size`` at a
    time; when a quarter of the batch has finished, waiting rows are run through the prompt (a few at a time,
    to pad little) and join it, so the batch stays full instead of idling on its longest answer.
    ``on_done(n)`` is called as rows finish (for a progress bar).

    ``draft_tokens``: at most this many tokens drafted from the row's own email per step and checked in the same
    forward pass (see "Speculative decoding" in the module docstring); 0 decodes one token per step.  None takes
    the module's ``DRAFT_TOKENS``.  The answers are the same either way.  ``stats``, if given, gets the counts
    ``steps`` (forward passes after the prompt), ``drafted`` and ``accepted`` (draft tokens) added to it.
    """
    if draft_tokens is None:
        draft_tokens = DRAFT_TOKENS
    with _grouped_query_attention(model):
        return _decode(
            model,
            tokenizer,
            prefix,
            rows,
            stop_ids,
            pad_id,
            max_new_tokens,
            batch_size,
            grammars,
            table,
            on_done,
            max(0, draft_tokens),
            stats,
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


class _Drafter:
    """Prompt lookup: the tokens that followed, in the email (or earlier in the answer), what was just written.

    The match is made on the tokens' vocabulary strings, not their ids: an answer writes an entity's first word
    without the space before it (``Tom``) where the email has it with one (``ĠTom``), or in other pieces
    (``Pri`` ``ya`` against ``ĠPriya``).  The text of the last ``max_n`` tokens is looked for first, then of
    fewer; a match must end where a token of the source begins, and the draft is the tokens from there on.  The
    first match in the source wins: the email comes before the answer, and entities are mostly written in order.
    """

    def __init__(self, ids: list[int], pieces: list[str], max_n: int = DRAFT_NGRAM):
        self.ids: list[int] = []
        self.pieces: list[str] = []
        self.text = ""
        self.starts: dict[int, int] = {}  # character offset in ``text`` where a token begins -> its index
        self.max_n = max_n
        self.extend(ids, pieces)
        self.prompt = len(self.ids)  # what came before the answer; the answer's tokens follow
        self.matched = 0  # tokens the last draft's match was made of (0: no draft)

    def extend(self, ids: list[int], pieces: list[str]) -> None:
        for token, piece in zip(ids, pieces, strict=True):
            self.starts.setdefault(len(self.text), len(self.ids))
            self.ids.append(token)
            self.pieces.append(piece)
            self.text += piece

    def draft(self, k: int) -> list[int]:
        self.matched = 0
        if k <= 0:
            return []
        for n in range(min(self.max_n, len(self.ids)), 0, -1):
            query = "".join(self.pieces[-n:])
            if not query:
                continue
            pos = self.text.find(query)
            for _ in range(DRAFT_TRIES):  # matches that end inside a token are skipped
                if pos < 0:
                    break
                j = self.starts.get(pos + len(query))
                if j is not None:  # never the end of the text itself: no token begins there yet
                    self.matched = n
                    return self.ids[j : j + k]
                pos = self.text.find(query, pos + 1)
        return []


def _decode(
    model,
    tokenizer,
    prefix,
    rows,
    stop_ids,
    pad_id,
    max_new_tokens,
    batch_size,
    grammars,
    table,
    on_done,
    draft_tokens=0,
    stats=None,
):
    waiting = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    results = [Generation() for _ in rows]
    # What each token adds to the answer text: a character written in several byte tokens appears with its last.
    utf8 = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in rows]
    states = [g.start() for g in grammars] if grammars else None
    drafters: list[_Drafter | None] = [None] * len(rows)
    piece_cache: dict[int, str] = {}
    counts = {"steps": 0, "drafted": 0, "accepted": 0}
    seed = _answer_skeleton(tokenizer, grammars[0]) if grammars and draft_tokens else []
    odds = _Odds(draft_tokens, STEP_COST_TOKENS.get(model.device.type, STEP_COST_TOKENS["cuda"]))

    def pieces(ids: list[int]) -> list[str]:
        missing = [t for t in set(ids) if t not in piece_cache]
        if missing:
            for t, piece in zip(missing, tokenizer.convert_ids_to_tokens(missing), strict=True):
                piece_cache[t] = piece if isinstance(piece, str) else "\ufffe"  # unknown id: matches nothing
        return [piece_cache[t] for t in ids]

    def commit(i: int, token: int, logprob: float) -> bool:
        """Add ``token`` to row ``i``'s answer; True when the row is done."""
        result = results[i]
        result.token_ids.append(token)
        added = b"" if token in stop_ids or table is None else table.bytes_of(token)
        result.pieces.append(utf8[i].decode(added))
        result.logprobs.append(logprob)
        result.finished = token in stop_ids
        if drafters[i] is not None:
            drafters[i].extend([token], pieces([token]))
        done = result.finished or len(result.token_ids) >= max_new_tokens
        if done and on_done:
            on_done(1)
        return done

    batch: _Batch | None = None
    while waiting or batch is not None:
        free = batch_size - (len(batch.rows) if batch else 0)
        if waiting and free >= min(max(1, batch_size // 4), len(waiting)):
            joining, waiting = waiting[:free], waiting[free:]
            for start in range(0, len(joining), PREFILL_ROWS):  # small groups of similar length: little padding
                group = joining[start : start + PREFILL_ROWS]
                new = _prefill(model, prefix, [rows[i] for i in group], group, pad_id)
                batch = new if batch is None else _merge(batch, new)
                if draft_tokens:
                    for i in group:
                        drafters[i] = _Drafter(seed + rows[i], pieces(seed + rows[i]))
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
            if not commit(i, token, logprobs[j]):
                keep.append(j)
        if not keep:
            batch = None
            continue
        if len(keep) < len(batch.rows):  # drop finished rows from the batch and its cache
            _select(batch, keep)
        firsts = [chosen[j] for j in keep]
        drafts = [_draft(drafters[i], draft_tokens, max_new_tokens - len(results[i].token_ids), states, grammars,
                         i, table) for i in batch.rows] if draft_tokens else [[] for _ in keep]  # fmt: skip
        kinds = [drafters[i].matched for i in batch.rows] if draft_tokens else [0] * len(drafts)
        width = odds.width([len(d) for d in drafts], kinds)
        drafts = [d[: width - 1] for d in drafts]
        n = len(keep)
        input_ids = torch.full((n, width), pad_id, dtype=torch.long)
        new_mask = torch.zeros((n, width), dtype=batch.mask.dtype)
        for j, (first, draft) in enumerate(zip(firsts, drafts, strict=True)):
            input_ids[j, : 1 + len(draft)] = torch.tensor([first, *draft])
            new_mask[j, : 1 + len(draft)] = 1
        input_ids, new_mask = input_ids.to(model.device), new_mask.to(model.device)
        before = batch.mask.shape[1]
        batch.mask = torch.cat([batch.mask, new_mask], dim=-1)
        offsets = torch.arange(1, width + 1, device=model.device)
        out = model(
            input_ids=input_ids,
            attention_mask=batch.mask,
            position_ids=batch.positions + offsets,
            cache=batch.cache,
            use_cache=True,
            logits_to_keep=width,  # only the scores of the new positions are needed
        )
        counts["steps"] += 1
        if width == 1:
            batch.positions = batch.positions + 1
            batch.logits = out.logits[:, -1, :].float()
            continue
        # Check the drafts: each is kept while it is the token this decoder would choose there (the grammar's
        # choice, fed with the drafts kept before it), so the answer is the one that one step at a time gives.
        logits = out.logits.float()
        tops = logits[:, :-1].topk(min(TOP_K, logits.shape[-1])).indices.tolist()
        draft_logprobs = (
            logits[:, :-1].gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            - torch.logsumexp(logits[:, :-1], dim=-1)
        ).tolist()
        accepted, done = [], []
        for j, i in enumerate(batch.rows):
            a = 0
            for t, token in enumerate(drafts[j]):
                if states is None:
                    if tops[j][t][0] != token:
                        break
                else:
                    choice, state, overruled = _constrained_choice(
                        logits[j, t], tops[j][t], grammars[i], states[i], stop_ids, table
                    )
                    if choice != token:
                        break
                    states[i] = state
                    results[i].overruled += overruled
                a += 1
                if commit(i, token, draft_logprobs[j][t]):
                    done.append(j)
                    break
            accepted.append(a)
            odds.update(kinds[j], len(drafts[j]), a)
            counts["drafted"] += len(drafts[j])
            counts["accepted"] += a
        # Keep the cache up to the longest accepted run; a row that kept fewer masks the slots it did not keep.
        kept = 1 + max(accepted)
        for layer in batch.cache.layers:
            layer.keys = layer.keys[..., : before + kept, :]
            layer.values = layer.values[..., : before + kept, :]
        runs = torch.tensor(accepted, device=model.device)
        batch.mask = _masked(batch.mask[:, : before + kept], before, runs)
        batch.positions = batch.positions + 1 + runs.unsqueeze(-1)
        batch.logits = logits[torch.arange(n, device=model.device), runs]
        if done:
            live = [j for j in range(n) if j not in set(done)]
            if not live:
                batch = None
                continue
            _select(batch, live)
    if stats is not None:
        for key, value in counts.items():
            stats[key] = stats.get(key, 0) + value
    for r in results:  # constrained answers are exactly the pieces the grammar checked
        ids = [t for t in r.token_ids if t not in stop_ids]
        r.text = "".join(r.pieces) if grammars else tokenizer.decode(ids, skip_special_tokens=False)
    return results


def _masked(mask: torch.Tensor, before: int, runs: torch.Tensor) -> torch.Tensor:
    """``mask`` with the new slots after each row's kept run (its first token and ``runs`` drafts) zeroed."""
    slots = torch.arange(mask.shape[1] - before, device=mask.device)
    keep = (slots <= runs.unsqueeze(-1)).to(mask.dtype)
    return torch.cat([mask[:, :before], mask[:, before:] * keep], dim=-1)


def _select(batch: _Batch, keep: list[int]) -> None:
    """Keep only the batch rows ``keep`` (indices into the batch), in their cache too."""
    index = torch.tensor(keep, device=batch.mask.device)
    batch.cache.batch_select_indices(index)
    batch.mask, batch.positions, batch.logits = batch.mask[index], batch.positions[index], batch.logits[index]
    batch.rows = [batch.rows[j] for j in keep]


def _answer_skeleton(tokenizer: PreTrainedTokenizerBase, grammar: AnswerGrammar) -> list[int]:
    """Token ids of an answer with two made-up entities: drafts for the JSON around the copied texts (the first
    ``{"intent":"``, ``","entities":[{"type":"``, ...), which the email does not hold."""
    types = (grammar.entity_types * 2)[:2] or ["", ""]
    entities = ",".join(f'{{"type":"{t}","text":"{text}"}}' for t, text in zip(types, ("Ann", "May"), strict=True))
    answer = f'{{"intent":"{grammar.intents[0] if grammar.intents else ""}","entities":[{entities}]}}'
    return tokenizer(answer, add_special_tokens=False, verbose=False)["input_ids"]


class _Odds:
    """How far drafts get accepted, learnt as decoding goes, and so how many tokens a step should check.

    ``ok[n][i] / tried[n][i]`` is the share of drafts found by a match of ``n`` tokens whose token ``i`` was
    accepted when the tokens before it were (with a prior of one in two).  A step over ``rows`` rows checking
    ``width - 1`` draft tokens costs about ``step_cost + rows * width`` tokens' worth of work and is expected to
    write ``rows`` tokens plus the accepted drafts; the width with the most tokens per cost wins (1: no drafts).
    """

    def __init__(self, k: int, step_cost: float, kinds: int = DRAFT_NGRAM):
        self.ok = [[1.0] * k for _ in range(kinds + 1)]
        self.tried = [[2.0] * k for _ in range(kinds + 1)]
        self.step_cost = step_cost

    def update(self, kind: int, drafted: int, accepted: int) -> None:
        ok, tried = self.ok[kind], self.tried[kind]
        for i in range(min(drafted, accepted + 1)):
            tried[i] += 1
            ok[i] += i < accepted

    def _gains(self, kind: int, length: int) -> list[float]:
        """Expected accepted tokens of the first 0, 1, ... ``length`` tokens of a draft."""
        gains, p = [0.0], 1.0
        for i in range(length):
            p *= self.ok[kind][i] / self.tried[kind][i]
            gains.append(gains[-1] + p)
        return gains

    def width(self, lengths: list[int], kinds: list[int]) -> int:
        gains = [self._gains(kind, n) for kind, n in zip(kinds, lengths, strict=True)]
        rows = len(lengths)
        best, best_value = 1, rows / (self.step_cost + rows)
        for width in range(2, max(lengths, default=0) + 2):
            value = (rows + sum(g[min(len(g) - 1, width - 1)] for g in gains)) / (self.step_cost + rows * width)
            if value > best_value:
                best, best_value = width, value
        return best


def _draft(drafter, k, budget, states, grammars, i, table) -> list[int]:
    """Up to ``k`` draft tokens for row ``i``, no more than its token ``budget``, cut where the grammar would
    refuse one (the decoder could never choose it)."""
    draft = drafter.draft(min(k, budget))
    if states is None or not draft:
        return draft
    state = states[i]
    for n, token in enumerate(draft):
        state = table.feed(grammars[i], state, token)
        if state is None:
            return draft[:n]
    return draft


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
