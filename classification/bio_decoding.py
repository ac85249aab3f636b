"""Valid BIO tags from the joint model's word scores: the best sequence under four rules, by Viterbi.

1. ``I-X`` follows only ``B-X`` or ``I-X`` (per-word argmax can give ``O I-NAME`` or ``B-DATE I-TIME``; here an
   entity's type is the one that scores best over the whole span).
2. No entity crosses a line break: the first word of a line is never ``I-X``.
3. An email address is an EMAIL of its own or nothing: never a NAME (the guideline: a name inside an address is
   part of the EMAIL), never joined to the words around it.
4. An entity neither begins nor ends on a lone punctuation mark ("Baker ," is no NAME; "Baker, Ann" is), but for
   a final "." or ")" ("Jr.", "3 p.m.", "10am (CT)").
5. An EMAIL is an address, written or spoken (``is_address``): what is left of a mail system's routing string
   ("@NOTES", "HQ@CORP") once the rules above have run is no EMAIL.

The rules are hard (allowed or not), so when the per-word argmax already keeps them it is the best sequence and
no search runs: most short texts cost one check.  The same code serves the torch and ONNX backends (it runs on
numpy arrays of log-probabilities after either).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from small_lm.data import ADDRESS_RE

NEG = -np.inf
ENDS_ENTITIES = ".)"  # the punctuation marks an entity may end with
SPOKEN_ADDRESS_RE = re.compile(r"\bat\b.+\bdot\b", re.IGNORECASE)  # "joe at example dot com"


def is_address(text: str) -> bool:
    """Whether an EMAIL's text holds an address as written ("ana@example.com") or spoken ("ana at x dot com")."""
    return ADDRESS_RE.search(text) is not None or SPOKEN_ADDRESS_RE.search(text) is not None


def word_rules(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per word: is it an email address; may an entity begin on it; may an entity end on it."""
    address = np.array([ADDRESS_RE.fullmatch(w) is not None for w in words], dtype=bool)
    mark = np.array([len(w) == 1 and not w.isalnum() for w in words], dtype=bool)
    ends = np.array([w in ENDS_ENTITIES for w in words], dtype=bool)
    return address, ~mark, ~mark | ends


class BioDecoder:
    """Decodes ``(words, labels)`` log-probability matrices for one label set (``["O", "B-X", "I-X", ...]``)."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        begin = [self.labels.index(f"B-{label[2:]}") if label.startswith("I-") else -1 for label in self.labels]
        self.begin_of = np.array(begin)
        self.inside = np.flatnonzero(self.begin_of >= 0)  # the I- labels
        self.inside_begin = self.begin_of[self.inside]  # and the B- label of each
        self.is_inside = self.begin_of >= 0
        self.is_begin = np.array([label.startswith("B-") for label in self.labels])
        self.outside = self.labels.index("O")
        # What an address may not be: any entity label but EMAIL's (only when EMAIL is a label at all).
        has_email = "B-EMAIL" in self.labels
        self.not_for_address = np.array([has_email and label != "O" and label[2:] != "EMAIL" for label in labels])

    def decode(self, scores: np.ndarray, words: Sequence[str], line_start: Sequence[bool]) -> np.ndarray:
        """Label ids, one per word, for ``scores`` (words x labels, log-probabilities) of ``words``."""
        scores = np.array(scores, dtype=np.float64)
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        address, may_begin, may_end = word_rules(words)
        # An address stands alone: no entity goes on into it or out of it, as none goes on over a line break.
        line_start = np.asarray(line_start, dtype=bool) | address | np.append(False, address[:-1])
        scores[np.ix_(address, self.not_for_address)] = NEG
        scores[np.ix_(~may_begin, self.is_begin)] = NEG
        tags = scores.argmax(1)
        if self.is_valid(tags, line_start, may_end):
            return tags
        return self._viterbi(scores, line_start, may_end)

    def is_valid(self, tags: np.ndarray, line_start: np.ndarray, may_end: np.ndarray) -> bool:
        """True when every ``I-X`` in ``tags`` continues a ``B-X``/``I-X`` on the same line and every entity ends
        on a word it may end on."""
        entity = tags != self.outside
        continued = np.append(self.is_inside[tags[1:]], False)  # the next word goes on with the same entity
        if np.any(entity & ~continued & ~may_end):
            return False
        at = np.flatnonzero(self.is_inside[tags])
        if len(at) == 0:
            return True
        if at[0] == 0 or line_start[at].any():
            return False
        previous, current = tags[at - 1], tags[at]
        return bool(np.all((previous == current) | (previous == self.begin_of[current])))

    def _viterbi(self, scores: np.ndarray, line_start: np.ndarray, may_end: np.ndarray) -> np.ndarray:
        n, size = scores.shape
        back = np.zeros((n, size), dtype=np.int64)
        best = scores[0].copy()
        best[self.inside] = NEG
        for t in range(1, n):
            # O and B-X may follow any label of a word an entity may end on, else only O.  I-X follows B-X or
            # I-X, never across a line break.
            top = int(best.argmax()) if may_end[t - 1] else self.outside
            came = np.full(size, best[top])
            back[t] = top
            if line_start[t]:
                came[self.inside] = NEG
            else:
                from_begin, from_inside = best[self.inside_begin], best[self.inside]
                stay = from_inside > from_begin
                came[self.inside] = np.where(stay, from_inside, from_begin)
                back[t, self.inside] = np.where(stay, self.inside, self.inside_begin)
            best = came + scores[t]
        if not may_end[-1]:
            best[np.arange(size) != self.outside] = NEG
        path = np.zeros(n, dtype=np.int64)
        path[-1] = int(best.argmax())
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path
