"""BIO-valid decoding (classification/bio_decoding.py): hand-made score matrices whose argmax is invalid, and the
decoder against a brute-force search over every valid sequence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from classification.bio_decoding import BioDecoder, is_address
from small_lm.data import bio_labels, bio_to_spans, check_iob2

LABELS = bio_labels(["DATE", "TIME", "NAME", "EMAIL"])


def scores_for(*rows: dict[str, float]) -> np.ndarray:
    """Log-probabilities, one row per word, from ``{label: probability}`` (the rest share what is left)."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, row in enumerate(rows):
        rest = (1 - sum(row.values())) / (len(LABELS) - len(row))
        out[i] = [row.get(label, rest) for label in LABELS]
    return np.log(out)


def decode(scores: np.ndarray, words: list[str], line_start: list[bool]) -> list[str]:
    return [LABELS[i] for i in BioDecoder(LABELS).decode(scores, words, line_start)]


def test_an_inside_tag_after_o_becomes_a_span_that_begins():
    # "to Thursday March": argmax O, I-DATE, I-DATE (what per-word argmax decoded as pieces of one date).
    scores = scores_for({"O": 0.9}, {"I-DATE": 0.6, "B-DATE": 0.3}, {"I-DATE": 0.8})
    assert [LABELS[i] for i in scores.argmax(1)] == ["O", "I-DATE", "I-DATE"], "the case starts from invalid tags"
    assert decode(scores, ["to", "Thursday", "March"], [True, False, False]) == ["O", "B-DATE", "I-DATE"]


def test_a_span_takes_the_type_that_scores_best_over_all_of_it():
    # B-DATE then I-TIME I-TIME: a type flip inside one span; over the three words TIME scores better.
    scores = scores_for({"B-DATE": 0.5, "B-TIME": 0.45}, {"I-TIME": 0.9}, {"I-TIME": 0.9})
    assert decode(scores, ["2", ":", "30"], [True, False, False]) == ["B-TIME", "I-TIME", "I-TIME"]


def test_no_entity_crosses_a_line_break():
    # "Pamela Ortiz \n Lee Chen": a name on each line, the model's argmax running on across the break.
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.9}, {"I-NAME": 0.9}, {"I-NAME": 0.9})
    decoded = decode(scores, ["Pamela", "Ortiz", "Lee", "Chen"], [True, False, True, False])
    assert decoded == ["B-NAME", "I-NAME", "B-NAME", "I-NAME"]


def test_an_address_is_an_email_of_its_own_or_nothing_never_a_name():
    scores = scores_for({"B-NAME": 0.7, "B-EMAIL": 0.2}, {"B-NAME": 0.9, "O": 0.08})
    assert decode(scores, ["ann.lee@corp.example", "ravi@corp.example"], [True, False]) == ["B-EMAIL", "O"]
    # "ann@corp.example > @NOTES": the routing after it does not join the address.
    scores = scores_for({"B-EMAIL": 0.9}, {"I-EMAIL": 0.6, "O": 0.3}, {"I-EMAIL": 0.9}, {"I-EMAIL": 0.9})
    assert decode(scores, ["ann@corp.example", ">", "@", "NOTES"], [True, False, False, False])[:3] == [
        "B-EMAIL", "O", "O"
    ]  # fmt: skip


def test_an_entity_neither_begins_nor_ends_on_a_lone_punctuation_mark():
    # "Baker , Ann" is one NAME; "Baker ," is not one, and neither is ", Ann".
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.6, "O": 0.3}, {"O": 0.6, "I-NAME": 0.3})
    assert decode(scores, ["Baker", ",", "Ann"], [True, False, False]) == ["B-NAME", "O", "O"]
    scores = scores_for({"O": 0.9}, {"B-NAME": 0.6, "O": 0.3}, {"I-NAME": 0.6, "B-NAME": 0.3})
    assert decode(scores, ["to", ",", "Ann"], [True, False, False]) == ["O", "O", "B-NAME"]
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.9}, {"I-NAME": 0.9})  # "Baker Jr ." may end on the period
    assert decode(scores, ["Baker", "Jr", "."], [True, False, False]) == ["B-NAME", "I-NAME", "I-NAME"]


def test_a_name_holds_at_most_one_comma():
    # "Okonkwo , David , Park , Jisoo": a list the argmax reads as one NAME is two.
    scores = scores_for({"B-NAME": 0.9}, *[{"I-NAME": 0.9}] * 6)
    words = ["Okonkwo", ",", "David", ",", "Park", ",", "Jisoo"]
    decoded = decode(scores, words, [True] + [False] * 6)
    assert [w for w, t in zip(words, decoded, strict=True) if t == "B-NAME"] == ["Okonkwo", "Park"]
    assert decoded[3] == "O", "the comma between two people is no part of either"
    dates = scores_for({"B-DATE": 0.9}, *[{"I-DATE": 0.9}] * 4)  # "Thursday , May 4 , 2023": a DATE may hold two
    assert decode(dates, ["Thursday", ",", "May", ",", "2023"], [True] + [False] * 4) == ["B-DATE"] + ["I-DATE"] * 4


def test_a_valid_argmax_is_returned_as_it_is():
    scores = scores_for({"B-NAME": 0.9}, {"I-NAME": 0.8}, {"O": 0.9}, {"B-TIME": 0.7})
    assert decode(scores, ["Ann", "Lee", "at", "3pm"], [True, False, False, False]) == [
        "B-NAME", "I-NAME", "O", "B-TIME"
    ]  # fmt: skip


def lone_mark(word: str) -> bool:
    return len(word) == 1 and not word.isalnum()


def allowed(labels: list[str], words: list[str], line_start: list[bool]) -> bool:
    """The rules, written from the spans: valid IOB2; no span over a line break, on an address unless EMAIL, or
    beginning or ending on a lone punctuation mark (but a final "." or ")")."""
    if check_iob2(labels):
        return False
    offsets = [(i, i + 1) for i in range(len(words))]
    for span in bio_to_spans(offsets, labels):
        inside = range(span.start, span.end)
        if any(line_start[i] for i in inside[1:]):
            return False
        addresses = [i for i in inside if "@" in words[i]]
        if addresses and (span.type != "EMAIL" or len(inside) > 1):
            return False
        first, last = words[span.start], words[span.end - 1]
        if lone_mark(first) or (lone_mark(last) and last not in ".)"):
            return False
        if span.type == "NAME" and sum(words[i] == "," for i in inside) > 1:
            return False
    return True


def brute_force(scores: np.ndarray, labels: list[str], words: list[str], line_start: list[bool]) -> float:
    """The best total score over every allowed tag sequence."""
    best = -np.inf
    for seq in itertools.product(range(len(labels)), repeat=len(scores)):
        if allowed([labels[i] for i in seq], words, line_start):
            best = max(best, float(scores[np.arange(len(seq)), list(seq)].sum()))
    return best


@pytest.mark.parametrize("seed", range(60))
def test_the_decoder_finds_the_best_allowed_sequence(seed: int):
    rng = np.random.default_rng(seed)
    labels = bio_labels(["NAME", "EMAIL"])
    n = int(rng.integers(1, 7))
    scores = np.log(rng.dirichlet(np.ones(len(labels)) * 0.3, size=n))
    words = [str(w) for w in rng.choice(["ann", "lee", ",", ".", ")", "-", "ann@corp.example"], size=n)]
    if seed % 2:  # half the cases: a comma-separated list, the scores leaning to one long NAME over it
        words = ["lee" if i % 2 == 0 else "," for i in range(n)]
        scores[:, labels.index("I-NAME")] += 2.0
    line_start = [True, *(bool(x) for x in rng.random(n - 1) < 0.3)]
    decoded = [labels[i] for i in BioDecoder(labels).decode(scores, words, line_start)]
    assert allowed(decoded, words, line_start)
    chosen = scores[np.arange(n), [labels.index(t) for t in decoded]].sum()
    assert chosen == pytest.approx(brute_force(scores, labels, words, line_start))


@pytest.mark.parametrize(
    ("text", "address"),
    [("ann.lee@corp.example", True), ("joe at example dot com", True), ("Ann Lee at Corp", False),
     ("@NOTES", False), ("HQ@CORP", False), ("Lee", False)],
)  # fmt: skip
def test_an_email_is_an_address_written_or_spoken(text: str, address: bool):
    assert is_address(text) is address
