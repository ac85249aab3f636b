"""Valid BIO tags from the joint model's word scores: the best sequence under these rules, by Viterbi.

1. ``I-X`` follows only ``B-X`` or ``I-X`` (per-word argmax can give ``O I-NAME`` or ``B-DATE I-TIME``; here an
   entity's type is the one that scores best over the whole span).
2. No entity crosses a line break: the first word of a line is never ``I-X``.
3. An email address is an EMAIL of its own or nothing: never a NAME (the guideline: a name inside an address is
   part of the EMAIL), never joined to the words around it.
4. An entity neither begins nor ends on a lone punctuation mark ("Baker ," is no NAME; "Baker, Ann" is), but for
   a final "." or ")" ("Jr.", "3 p.m.", "10am (CT)").
5. A NAME holds at most one comma ("Baker, Ann K." does; "Baker, Ann, Lee, Chen" is two NAMEs, never one).
6. An EMAIL is an address, written or spoken (``is_address``): what is left of a mail system's routing string
   ("@NOTES", "HQ@CORP") once the rules above have run is no EMAIL (``JointTagger`` drops such spans).

Rules 1-5 are hard (allowed or not), so when the per-word argmax already keeps them it is the best sequence and
no search runs: most short texts cost one check.  The search runs over the labels plus, for NAME, a second inside
state "after its comma".  The same code serves the torch and ONNX backends (numpy arrays of log-probabilities).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from small_lm.data import ADDRESS_RE

NEG = -np.inf
ENDS_ENTITIES = ".)"  # the punctuation marks an entity may end with
ONE_COMMA = ("NAME",)  # entity types that hold at most one comma
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
        index = {label: i for i, label in enumerate(self.labels)}
        self.outside = index["O"]
        self.is_inside = np.array([label.startswith("I-") for label in self.labels])
        self.is_begin = np.array([label.startswith("B-") for label in self.labels])
        # What an address may not be: any entity label but EMAIL's (only when EMAIL is a label at all).
        has_email = "B-EMAIL" in index
        self.not_for_address = np.array([has_email and label != "O" and label[2:] != "EMAIL" for label in labels])
        # Search states: the labels, then an "after its comma" inside state for each ONE_COMMA type.
        limited = [t for t in ONE_COMMA if f"I-{t}" in index]
        self.state_label = np.array([*range(len(self.labels)), *(index[f"I-{t}"] for t in limited)])
        size = len(self.state_label)
        self.inside_states = self.is_inside[self.state_label]
        self.opens = ~self.inside_states  # O and B-X: states that any label of a word an entity may end on precedes
        # Allowed steps (from state, to state), for a word that is a comma and for any other word.
        self.steps = {True: np.full((size, size), NEG), False: np.full((size, size), NEG)}
        for steps in self.steps.values():
            steps[:, self.opens] = 0.0
        for label in self.labels:
            if not label.startswith("I-"):
                continue
            begin, inside = index[f"B-{label[2:]}"], index[label]
            if label[2:] in limited:
                after = len(self.labels) + limited.index(label[2:])
                self.steps[False][[begin, inside, after], [inside, inside, after]] = 0.0  # no comma yet / still one
                self.steps[True][[begin, inside], [after, after]] = 0.0  # the one comma
            else:
                for comma in (True, False):
                    self.steps[comma][[begin, inside], [inside, inside]] = 0.0

    def decode(self, scores: np.ndarray, words: Sequence[str], line_start: Sequence[bool]) -> np.ndarray:
        """Label ids, one per word, for ``scores`` (words x labels, log-probabilities) of ``words``."""
        scores = np.array(scores, dtype=np.float64)
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        address, may_begin, may_end = word_rules(words)
        line_start = np.array(line_start, dtype=bool)
        if address.any():  # an address stands alone: no entity goes on into it or out of it, as over a line break
            line_start[address] = True
            line_start[1:] |= address[:-1]
            scores[np.ix_(address, self.not_for_address)] = NEG
        if not may_begin.all():
            scores[np.ix_(~may_begin, self.is_begin)] = NEG
        comma = np.array([w == "," for w in words], dtype=bool)
        tags = scores.argmax(1)
        if self.is_valid(tags, line_start, may_end, comma):
            return tags
        return self._viterbi(scores, line_start, may_end, comma)

    def is_valid(self, tags: np.ndarray, line_start: np.ndarray, may_end: np.ndarray, comma: np.ndarray) -> bool:
        """Whether ``tags`` keep rules 1, 2, 4 and 5 (the masked scores keep 3 and the begin half of 4)."""
        inside = self.is_inside[tags]
        entity = tags != self.outside
        if np.any(entity & ~np.append(inside[1:], False) & ~may_end):  # an entity that ends where none may
            return False
        at = np.flatnonzero(inside)
        if len(at) == 0:
            return True
        if at[0] == 0 or line_start[at].any():
            return False
        previous, current = self.labels_of(tags[at - 1]), self.labels_of(tags[at])
        if any(p == "O" or p[2:] != c[2:] for p, c in zip(previous, current, strict=True)):
            return False
        commas = 0  # rule 5, over the entities of a limited type
        for tag, is_comma in zip(self.labels_of(tags), comma, strict=True):
            commas = (commas if tag.startswith("I-") else 0) + bool(is_comma and tag[2:] in ONE_COMMA)
            if commas > 1:
                return False
        return True

    def labels_of(self, ids: np.ndarray) -> list[str]:
        return [self.labels[i] for i in ids]

    def _viterbi(self, scores: np.ndarray, line_start: np.ndarray, may_end: np.ndarray, comma: np.ndarray):
        n = len(scores)
        emit = scores[:, self.state_label]  # each state scores as its label
        back = np.zeros((n, len(self.state_label)), dtype=np.int64)
        best = emit[0].copy()
        best[self.inside_states] = NEG
        for t in range(1, n):
            step = best[:, None] + self.steps[bool(comma[t])]
            if not may_end[t - 1]:  # the word before may not end an entity: only O opens what comes next
                step[np.ix_(self.state_label != self.outside, self.opens)] = NEG
            if line_start[t]:
                step[:, self.inside_states] = NEG
            back[t] = step.argmax(0)
            best = step.max(0) + emit[t]
        if not may_end[-1]:
            best[self.state_label != self.outside] = NEG
        path = np.zeros(n, dtype=np.int64)
        path[-1] = int(best.argmax())
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return self.state_label[path]
