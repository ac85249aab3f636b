"""Batched greedy decoding with a shared system-prompt KV cache and a JSON answer grammar.

How every answer comes out as valid JSON of the right shape
-----------------------------------------------------------
The answer must read ``{"intent":"I","entities":[{"type":"T","text":"S"},...]}`` followed by the end-of-turn
token, where ``I`` is one of the dataset's intents, ``T`` one of its entity types and ``S`` a piece of the email
copied exactly (JSON-escaped).  ``AnswerGrammar`` is a small automaton over characters that accepts exactly the
prefixes of such answers.  At every step the decoder takes the model's highest-scoring token whose text keeps the
answer a valid prefix: it looks at the top 32 tokens first and, only when none of them fits, walks down the whole
vocabulary in score order (some single-character token always fits, because a string may be closed at any
point, so this always finds one).  The end-of-turn token is only allowed once the closing ``}`` is written, and
is forced then.  The grammar does not change what a model that already answers well would write: its top token
is taken whenever it is allowed, so answers match plain greedy decoding; the number of steps where the grammar
had to overrule the model is counted.  One more rule stops the loops of an undertrained model ("4 april",
"4 april", ... until the token limit): once an entity text has been written more often than the email contains
it, the list must close.

What can still go wrong is reported, never papered over: an answer that reaches the token limit before its
closing ``}`` is "cut off" (the complete entities before the cut are kept, the email gets an ``"error"``), and an
entity string that is in the email but not on word edges (so it cannot become a span) is dropped and named in
the email's ``"warning"``.  Entities are never invented: every string is a substring of the email.

Speed: emails are sorted by length and run in batches; the system prompt, identical for every email, is run
through the model once per ``predict`` call and its keys/values are shared by all rows of every batch.  Rows are
laid out as ``[system prompt][padding][email + assistant header]`` so the shared prefix sits at the same
positions in every row; padding is masked out and position ids skip it, so each row computes exactly what it
would alone.  Rows that finish are dropped from the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from small_lm.data import tokenize

TOP_K = 32


class State(NamedTuple):
    """Where the automaton is: ``mode``, what it needs (the rest of a literal, the value so far) and the entity
    texts written so far."""

    mode: str  # "lit", "intent", "type", "list", "text", "after", "end"
    typed: str = ""  # "lit": the literal still to write; "intent"/"type"/"text": the value so far
    then: str = ""  # "lit": the mode that follows the literal
    texts: tuple[str, ...] = ()  # entity texts so far (JSON-escaped)


class AnswerGrammar:
    """Accepts the prefixes of ``{"intent":"I","entities":[{"type":"T","text":"S"},...]}`` for one email.

    It also ends runaway lists, the way a barely trained model fails: once an entity text has been written more
    often than it occurs in the email (or is empty, or the list has as many entities as the email has words),
    the only way on is ``]``.  Every state has a way on, so decoding never gets stuck.
    """

    def __init__(self, intents: list[str], entity_types: list[str], email: str):
        self.intents = list(intents)
        self.entity_types = list(entity_types)
        # Entity texts are JSON strings, so they are checked against the email as JSON writes it.
        self.escaped_email = json.dumps(email, ensure_ascii=False)[1:-1]
        self.max_entities = max(1, len(tokenize(email)))

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
        mode, typed, then, texts = state
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
        if mode == "text":
            backslashes = len(typed) - len(typed.rstrip("\\"))
            if char == '"' and backslashes % 2 == 0:
                return State("lit", "}", "after", (*texts, typed))
            return State("text", typed + char, texts=texts) if typed + char in self.escaped_email else None
        if mode == "after":  # after an entity's '}'
            if char == "," and not self._list_must_end(texts):
                return State("lit", '{"type":"', "type", texts)
            return State("lit", "}", "end", texts) if char == "]" else None
        return None  # "end": nothing more may be written

    def _list_must_end(self, texts: tuple[str, ...]) -> bool:
        last = texts[-1]
        return not last or texts.count(last) > self.escaped_email.count(last) or len(texts) >= self.max_entities


def token_strings(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> list[str | None]:
    """The text of every token id, or None where a token may never appear in an answer.

    Special and added tokens, ids past the tokenizer's vocabulary and byte pieces that are not whole UTF-8
    characters (they decode to U+FFFD) are None.
    """
    n = len(tokenizer)
    texts: list[str | None] = list(
        tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    )
    for i in set(tokenizer.added_tokens_decoder) | set(tokenizer.all_special_ids):
        if i < n:
            texts[i] = None
    texts = [None if t is None or t == "" or "\ufffd" in t else t for t in texts]
    return texts + [None] * max(0, vocab_size - n)


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


@torch.no_grad()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prefix: list[tuple[torch.Tensor, torch.Tensor]],
    rows: list[list[int]],
    *,
    stop_ids: set[int],
    pad_id: int,
    max_new_tokens: int,
    grammars: list[AnswerGrammar] | None = None,
    strings: list[str | None] | None = None,
) -> list[Generation]:
    """Greedy answers for ``rows`` (email + assistant header ids) after the cached prefix.

    With ``grammars`` (one per row, plus ``strings`` from ``token_strings``) decoding is constrained as the
    module docstring explains; without, it is plain greedy decoding up to a stop id.
    """
    device = model.device
    batch = len(rows)
    prefix_len = prefix[0][0].shape[-2]
    width = max(len(r) for r in rows)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((batch, prefix_len + width), dtype=torch.long, device=device)
    mask[:, :prefix_len] = 1
    for i, row in enumerate(rows):  # padding goes between the shared prefix and the email
        input_ids[i, width - len(row) :] = torch.tensor(row, device=device)
        mask[i, prefix_len + width - len(row) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
    cache = expand_cache(prefix, batch)

    results = [Generation() for _ in rows]
    states = [g.start() for g in grammars] if grammars else None
    active = list(range(batch))  # original row index of each row still in the batch
    step = dict(cache=cache, use_cache=True, logits_to_keep=1)  # only the last position's logits are needed
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, **step)
    for _ in range(max_new_tokens):
        logits = out.logits[:, -1, :].float()
        logsumexp = torch.logsumexp(logits, dim=-1)
        chosen = []
        for j, i in enumerate(active):
            if states is None:
                token = int(logits[j].argmax())
            else:
                token, states[i], overruled = _constrained_choice(logits[j], grammars[i], states[i], stop_ids, strings)
                results[i].overruled += overruled
            results[i].token_ids.append(token)
            results[i].pieces.append("" if token in stop_ids or strings is None else strings[token] or "")
            results[i].logprobs.append(float(logits[j, token] - logsumexp[j]))
            results[i].finished = token in stop_ids
            chosen.append(token)
        keep = [j for j, i in enumerate(active) if not results[i].finished]
        if not keep:
            break
        next_ids = torch.tensor(chosen, device=device)[keep].unsqueeze(-1)
        if len(keep) < len(active):  # drop finished rows from the batch and the cache
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, positions = mask[index], positions[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
        positions = positions[:, -1:] + 1
        out = model(input_ids=next_ids, attention_mask=mask, position_ids=positions, **step)
    for r in results:  # constrained answers are exactly the pieces the grammar checked
        ids = [t for t in r.token_ids if t not in stop_ids]
        r.text = "".join(r.pieces) if grammars else tokenizer.decode(ids, skip_special_tokens=False)
    return results


def _constrained_choice(
    logits: torch.Tensor, grammar: AnswerGrammar, state: State, stop_ids: set[int], strings: list[str | None]
) -> tuple[int, State, int]:
    """The best-scoring token that keeps the answer valid, the new state, and 1 if the top token was refused."""
    if grammar.is_final(state):  # the answer is complete: end the turn
        token = min(stop_ids, key=lambda t: -float(logits[t]))
        return token, state, int(token != int(logits.argmax()))
    top = logits.topk(min(TOP_K, logits.shape[-1])).indices.tolist()
    for n, token in enumerate(top):
        if (text := strings[token]) is not None and (new := grammar.feed(state, text)) is not None:
            return token, new, int(n > 0)
    for token in logits.argsort(descending=True).tolist()[len(top) :]:
        if (text := strings[token]) is not None and (new := grammar.feed(state, text)) is not None:
            return token, new, 1
    raise RuntimeError(f"no token continues the answer from {state}")  # unreachable with a byte-level vocabulary
