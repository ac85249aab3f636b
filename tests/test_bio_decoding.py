"""BIO-valid decoding (classification/bio_decoding.py): hand-made score matrices whose argmax is invalid, and the
decoder against a brute-force search over every valid sequence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from classification.bio_decoding import BioDecoder
from small_lm.data import bio_labels, check_iob2

LABELS = bio_labels(["DATE", "TIME", "NAME", "EMAIL"])


def scores_for(*rows: dict[str, float]) -> np.ndarray:
    """Log-probabilities, one row per word, from ``{label: probability}`` (the rest share what is left)."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, row in enumerate(rows):
        rest = (1 - sum(row.values())) / (len(LABELS) - len(row))
        out[i] = [row.get(label, rest) for label in LABELS]
    return np.log(out)


def tags(ids) -> list[str]:
    return [LABELS[i] for i in ids]


def test_an_inside_tag_after_o_becomes_a_span_that_begins():
    # "move it to | Thursday | March 6": argmax O, I-DATE, I-DATE (what per-word argmax decoded as three pieces).
    scores = scores_for({"O": 0.9}, {"I-DATE": 0.6, "B-DATE": 0.3}, {"I-DATE": 0.8})
    assert tags(scores.argmax(1)) == ["O", "I-DATE", "I-DATE"], "the case must start from an invalid argmax"
    assert tags(BioDecoder(LABELS).decode(scores, [True, False, False], [False] * 3)) == ["O", "B-DATE", "I-DATE"]


def test_a_span_takes_the_type_that_scores_best_over_all_of_it():
    # B-DATE then I-TIME I-TIME: a type flip inside one span; over the three words TIME scores better.
    scores = scores_for({"B-DATE": 0.5, "B-TIME": 0.45}, {"I-TIME": 0.9}, {"I-TIME": 0.9})
    assert tags(BioDecoder(LABELS).decode(scores, [True, False, False], [False] * 3)) == ["B-TIME", "I-TIME", "I-TIME"]


def test_no_entity_crosses_a_line_break():
    # "Pamela Ortiz \n Lee Chen": a name on each line, the model's argmax running on across the break.
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.9}, {"I-NAME": 0.9}, {"I-NAME": 0.9})
    decoded = tags(BioDecoder(LABELS).decode(scores, [True, False, True, False], [False] * 4))
    assert decoded == ["B-NAME", "I-NAME", "B-NAME", "I-NAME"]


def test_an_address_is_an_email_or_nothing_never_a_name():
    scores = scores_for({"B-NAME": 0.7, "B-EMAIL": 0.2}, {"B-NAME": 0.9, "O": 0.08})
    decoded = tags(BioDecoder(LABELS).decode(scores, [True, False], [True, True]))
    assert decoded == ["B-EMAIL", "O"]


def test_a_valid_argmax_is_returned_as_it_is():
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.8}, {"O": 0.9}, {"B-TIME": 0.7})
    assert tags(BioDecoder(LABELS).decode(scores, [True, False, False, False], [False] * 4)) == [
        "B-NAME", "I-NAME", "O", "B-TIME"
    ]  # fmt: skip


def brute_force(scores: np.ndarray, labels: list[str], line_start: list[bool]) -> float:
    """The best total score over every tag sequence that is IOB2-valid and breaks at each line start."""
    best = -np.inf
    for seq in itertools.product(range(len(labels)), repeat=len(scores)):
        named = [labels[i] for i in seq]
        if check_iob2(named) or any(s and t.startswith("I-") for s, t in zip(line_start, named, strict=True)):
            continue
        best = max(best, float(scores[np.arange(len(seq)), list(seq)].sum()))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_the_decoder_finds_the_best_valid_sequence(seed: int):
    rng = np.random.default_rng(seed)
    labels = bio_labels(["DATE", "NAME"])
    n = int(rng.integers(1, 7))
    scores = np.log(rng.dirichlet(np.ones(len(labels)) * 0.3, size=n))
    line_start = [True, *(bool(x) for x in rng.random(n - 1) < 0.3)]
    decoded = BioDecoder(labels).decode(scores, line_start, [False] * n)
    named = [labels[i] for i in decoded]
    assert check_iob2(named) is None
    assert not any(s and t.startswith("I-") for s, t in zip(line_start, named, strict=True))
    assert scores[np.arange(n), decoded].sum() == pytest.approx(brute_force(scores, labels, line_start))
