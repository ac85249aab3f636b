"""Speculative decoding in causal_slms/decoding.py: drafts from the email, checked in one forward pass, must leave
every answer exactly as one-token-at-a-time greedy decoding writes it (with and without the answer grammar).

The tiny random model rarely copies its email, so most tests also feed it drafts from a stand-in drafter: the
answer itself (every draft accepted), the answer with a wrong token (accepted up to it), a wrong token first
(nothing accepted), and a mix of those in one batch, so that rows keep different numbers of tokens in the same
step.  The test marked ``real`` runs the zero-shot SmolLM2-135M-Instruct, which does copy from the email.
"""

from __future__ import annotations

import pytest
import slm_fixtures
from slm_fixtures import INTENTS, REAL_MODEL, TYPES, build_tiny_model, load_tiny, needs_real

from causal_slms import decoding
from causal_slms.decoding import AnswerGrammar, TokenTable, generate, prefix_cache
from causal_slms.slm import SlmConfig, SlmTagger

# The emails of slm_fixtures and a fifth that repeats a name.
EMAILS = [*slm_fixtures.EMAILS, "Tom Baker here, I need to call off June 3rd at noon, sorry. Tom Baker"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model, tokenizer, chat = load_tiny(build_tiny_model(tmp_path_factory.mktemp("tiny-spec") / "model"))
    return model, tokenizer, chat, TokenTable(tokenizer, model.config.vocab_size)


def _run(tiny, constrained, draft_tokens, batch_size=4, max_new_tokens=24, stats=None, stop=None):
    model, tokenizer, chat, table = tiny
    rows = [chat.email_ids(email)[0] for email in EMAILS]
    grammars = [AnswerGrammar(INTENTS, TYPES, email) for email in EMAILS] if constrained else None
    return generate(
        model,
        tokenizer,
        prefix_cache(model, chat.prefix),
        rows,
        stop_ids={chat.end_of_turn if stop is None else stop},
        pad_id=tokenizer.pad_token_id,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        grammars=grammars,
        table=table,
        draft_tokens=draft_tokens,
        stats=stats,
    )


def _assert_same(ours, reference):
    for generation, expected in zip(ours, reference, strict=True):
        assert generation.token_ids == expected.token_ids
        assert generation.text == expected.text
        assert generation.finished == expected.finished
        assert generation.overruled == expected.overruled
        # Same numbers, not just the same argmax: a draft scored at a wrong position or behind a row's dropped
        # slots would change them.
        assert generation.logprobs == pytest.approx(expected.logprobs, abs=1e-4)


def _drafts_from(reference: list[list[int]], rows: list[tuple[int, ...]], spoil):
    """A stand-in for ``_Drafter.draft``: the next tokens of each row's reference answer, through
    ``spoil(r, done, draft)`` (``r``: the row's index, ``done``: tokens written so far)."""

    def draft(self, k):
        (r,) = [r for r, row in enumerate(rows) if tuple(self.ids[self.prompt - len(row) : self.prompt]) == row]
        done = len(self.ids) - self.prompt
        return spoil(r, done, list(reference[r][done : done + k]))

    return draft


@pytest.fixture
def wide(monkeypatch):
    """Steps as wide as the drafts, as on a GPU, so that the stand-in drafts are all checked."""
    monkeypatch.setattr(decoding, "STEP_COST_TOKENS", {"cpu": 10**6, "cuda": 10**6})


def _reference(tiny, constrained: bool, max_new_tokens: int = 24, stop=None):
    """Plain one-token-a-step answers, their token lists and the rows' ids."""
    _, _, chat, _ = tiny
    plain = _run(tiny, constrained, draft_tokens=0, max_new_tokens=max_new_tokens, stop=stop)
    return plain, [g.token_ids for g in plain], [tuple(chat.email_ids(email)[0]) for email in EMAILS]


def _wrong(tiny, constrained: bool, r: int, answer: list[int], n: int) -> list[int]:
    """A token other than ``answer[n]`` that could come there, as a list: one the grammar allows after
    ``answer[:n]`` (else drafts would be cut before they are checked); none where the grammar allows one token."""
    _, tokenizer, _, table = tiny
    if not constrained:
        return [(answer[n] + 1) % len(tokenizer)]
    grammar = AnswerGrammar(INTENTS, TYPES, EMAILS[r])
    state = grammar.start()
    for token in answer[:n]:
        state = table.feed(grammar, state, token)
    others = (t for t in range(len(tokenizer)) if t != answer[n] and table.feed(grammar, state, t) is not None)
    wrong = next(others, None)
    return [] if wrong is None else [wrong]


@pytest.mark.parametrize("constrained", [True, False])
@pytest.mark.parametrize("batch_size", [4, 2, 1])
def test_drafts_from_the_email_give_the_plain_greedy_answers(tiny, constrained, batch_size):
    """The real drafter on rows of different lengths, whole batches, rows joining a running batch, one at a time."""
    plain = _run(tiny, constrained, draft_tokens=0, batch_size=batch_size)
    for k in (1, 4):
        stats = {}
        _assert_same(_run(tiny, constrained, draft_tokens=k, batch_size=batch_size, stats=stats), plain)
        assert stats["drafted"] > 0  # the drafter did propose tokens (the tiny model repeats itself and its email)


@pytest.mark.parametrize("constrained", [True, False])
def test_fully_accepted_drafts_up_to_the_end_of_the_answer(tiny, constrained, monkeypatch, wide):
    """Drafts that are the answer itself are all kept, through the stop token and up to the token limit."""
    stop = None
    if not constrained:  # the untrained model never writes end-of-turn: stop at a token the first answer writes
        stop = _run(tiny, False, draft_tokens=0, max_new_tokens=8)[0].token_ids[5]
    for max_new_tokens in (64, 7):  # answers that end, and answers cut off by the limit in the middle of a draft
        plain, reference, rows = _reference(tiny, constrained, max_new_tokens, stop)
        monkeypatch.setattr(decoding._Drafter, "draft", _drafts_from(reference, rows, lambda r, done, d: d))
        stats = {}
        ours = _run(tiny, constrained, draft_tokens=5, max_new_tokens=max_new_tokens, stats=stats, stop=stop)
        _assert_same(ours, plain)
        assert stats["accepted"] == stats["drafted"] > 0
        assert stats["steps"] < max(len(g.token_ids) for g in plain)  # fewer forward passes than tokens
        if max_new_tokens == 64:
            assert any(g.finished for g in plain) and not all(g.finished for g in plain)


@pytest.mark.parametrize("constrained", [True, False])
def test_rejected_drafts_leave_no_trace(tiny, constrained, monkeypatch, wide):
    """Every first draft token wrong: nothing is accepted, the cache and the grammar state are rolled back."""
    plain, reference, rows = _reference(tiny, constrained)

    def spoil(r, done, d):
        wrong = _wrong(tiny, constrained, r, reference[r], done) if d else []
        return wrong + d[1:] if wrong else []

    monkeypatch.setattr(decoding._Drafter, "draft", _drafts_from(reference, rows, spoil))
    stats = {}
    _assert_same(_run(tiny, constrained, draft_tokens=4, stats=stats), plain)
    assert stats["drafted"] > 0 and stats["accepted"] == 0


@pytest.mark.parametrize("constrained", [True, False])
@pytest.mark.parametrize("batch_size", [5, 2])
def test_rows_that_keep_different_numbers_of_drafts_in_one_step(tiny, constrained, batch_size, monkeypatch, wide):
    """Per row and step a different draft length and a different wrong position: rows of one batch keep 0 to k
    tokens in the same forward pass, and drafts are cut at the limit."""
    plain, reference, rows = _reference(tiny, constrained)

    def spoil(r, done, d):
        d = d[: (r + done) % 5]  # 0..4 tokens
        at = (2 * r + done) % 4  # where the first wrong token goes, if inside the draft
        return d[:at] + _wrong(tiny, constrained, r, reference[r], done + at) if at < len(d) else d

    monkeypatch.setattr(decoding._Drafter, "draft", _drafts_from(reference, rows, spoil))
    stats = {}
    _assert_same(_run(tiny, constrained, draft_tokens=4, batch_size=batch_size, stats=stats), plain)
    assert 0 < stats["accepted"] < stats["drafted"]


def test_the_drafter_matches_text_across_token_boundaries():
    """An entity's first word comes without its space (``Tom``) or in other pieces (``Pri`` ``ya``): the draft is
    what follows in the email; a match that ends inside a token drafts nothing."""
    email = [(1, "Meet"), (2, "ĠTom"), (3, "ĠBaker"), (4, "Ġand"), (5, "ĠPriya"), (6, "Ġtoday")]
    drafter = decoding._Drafter([t for t, _ in email], [p for _, p in email], max_n=3)
    drafter.extend([10, 11], ['":"', "Tom"])
    assert drafter.draft(2) == [3, 4]
    drafter.extend([3], ["ĠBaker"])
    assert drafter.draft(9) == [4, 5, 6, 10, 11, 3]  # on through the answer written so far
    drafter.extend([12, 13, 14], ['"},', "Pri", "ya"])
    assert drafter.draft(1) == [6]
    drafter.extend([15], ["Pr"])
    assert drafter.draft(3) == []  # "Pr" only ends inside "ĠPriya"


def test_long_emails_read_in_windows_give_the_same_predictions(tiny, monkeypatch):
    """Windows of one email run in the same batched generation: speculative or not, the same predictions."""
    model, tokenizer, _, _ = tiny
    tagger = SlmTagger(model, tokenizer, SlmConfig(entity_types=TYPES, intents=INTENTS, max_new_tokens=20))
    tagger.config.max_email_tokens = 24
    long_email = " ".join(EMAILS * 3)
    texts = [long_email, EMAILS[0], long_email[:150]]
    monkeypatch.setattr(decoding, "DRAFT_TOKENS", 0)
    plain = tagger.predict(texts, batch_size=4, debug=True)
    calls = []
    real_generate = decoding.generate
    monkeypatch.setattr(decoding, "DRAFT_TOKENS", 4)
    from causal_slms import slm

    monkeypatch.setattr(slm, "generate", lambda *a, **kw: calls.append(len(a[3])) or real_generate(*a, **kw))
    assert tagger.predict(texts, batch_size=4, debug=True) == plain
    assert calls and calls[0] > len(texts)  # several windows in one call


def test_steps_check_as_many_drafts_as_pay_for_themselves():
    """One row with drafts that are mostly accepted: check them all; a full batch on a CPU, where every token fed
    costs as much as a twentieth of a step, with drafts that are mostly refused: check none."""
    odds = decoding._Odds(4, step_cost=26)
    for _ in range(50):
        odds.update(3, drafted=4, accepted=4)
        odds.update(1, drafted=4, accepted=0)
    assert odds.width([4], [3]) == 5
    assert odds.width([4] * 16, [1] * 16) == 1
    assert odds.width([0] * 16, [0] * 16) == 1  # nothing drafted: one token per row
    assert 1 < odds.width([4] * 16, [3] * 16) <= 5


@needs_real
def test_real_weights_speculative_answers_equal_plain_greedy():
    """Zero-shot SmolLM2-135M-Instruct on a few emails: drafts are accepted and change no token."""
    tagger = SlmTagger.zero_shot(str(REAL_MODEL), TYPES, INTENTS)
    chat, model = tagger.chat, tagger.model
    emails = EMAILS[:2] + [EMAILS[4]]
    rows = [chat.email_ids(email)[0] for email in emails]
    prefix = prefix_cache(model, chat.prefix)
    for constrained in (True, False):
        runs = {}
        for k in (0, 4):
            stats = {}
            runs[k] = generate(
                model,
                tagger.tokenizer,
                prefix,
                rows,
                stop_ids={chat.end_of_turn},
                pad_id=tagger.tokenizer.pad_token_id,
                max_new_tokens=40,
                batch_size=3,
                grammars=[AnswerGrammar(INTENTS, TYPES, e) for e in emails] if constrained else None,
                table=tagger.table,
                draft_tokens=k,
                stats=stats,
            )
        assert stats["accepted"] > 0
        for ours, plain in zip(runs[4], runs[0], strict=True):
            assert ours.token_ids == plain.token_ids
            assert ours.logprobs == pytest.approx(plain.logprobs, abs=1e-3)
