"""Valid BIO tags from the joint model's word scores: the best sequence under three rules, by Viterbi.

1. ``I-X`` follows only ``B-X`` or ``I-X`` (per-word argmax can give ``O I-NAME`` or ``B-DATE I-TIME``; here an
   entity's type is the one that scores best over the whole span).
2. No entity crosses a line break: the first word of a line is never ``I-X``.
3. An email address is part of an EMAIL or nothing, never a NAME (the guideline: a name inside an address is part
   of the EMAIL).

The rules are hard (allowed or not), so when the per-word argmax already keeps them it is the best sequence and
no search runs: most short texts cost one check.  The same code serves the torch and ONNX backends (it runs on
numpy arrays of log-probabilities after either).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEG = -np.inf


class BioDecoder:
    """Decodes ``(words, labels)`` log-probability matrices for one label set (``["O", "B-X", "I-X", ...]``)."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        begin = [self.labels.index(f"B-{label[2:]}") if label.startswith("I-") else -1 for label in self.labels]
        self.begin_of = np.array(begin)
        self.inside = np.flatnonzero(self.begin_of >= 0)  # the I- labels
        self.inside_begin = self.begin_of[self.inside]  # and the B- label of each
        self.is_inside = self.begin_of >= 0
        # What an address may not be: any entity label but EMAIL's (only when EMAIL is a label at all).
        has_email = "B-EMAIL" in self.labels
        self.not_for_address = np.array([has_email and label != "O" and label[2:] != "EMAIL" for label in labels])

    def decode(self, scores: np.ndarray, line_start: Sequence[bool], is_address: Sequence[bool]) -> np.ndarray:
        """Label ids, one per word, for ``scores`` (words x labels, log-probabilities)."""
        scores = np.array(scores, dtype=np.float64)
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        line_start = np.asarray(line_start, dtype=bool)
        addresses = np.asarray(is_address, dtype=bool)
        if addresses.any() and self.not_for_address.any():
            scores[np.ix_(addresses, self.not_for_address)] = NEG
        tags = scores.argmax(1)
        if self.is_valid(tags, line_start):
            return tags
        return self._viterbi(scores, line_start)

    def is_valid(self, tags: np.ndarray, line_start: np.ndarray) -> bool:
        """True when every ``I-X`` in ``tags`` continues a ``B-X``/``I-X`` on the same line."""
        at = np.flatnonzero(self.is_inside[tags])
        if len(at) == 0:
            return True
        if at[0] == 0 or line_start[at].any():
            return False
        previous, current = tags[at - 1], tags[at]
        return bool(np.all((previous == current) | (previous == self.begin_of[current])))

    def _viterbi(self, scores: np.ndarray, line_start: np.ndarray) -> np.ndarray:
        n, size = scores.shape
        back = np.zeros((n, size), dtype=np.int64)
        best = scores[0].copy()
        best[self.inside] = NEG
        for t in range(1, n):
            # O and B-X may follow anything: the best previous label.  I-X follows B-X or I-X, not a line break.
            top = int(best.argmax())
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
        path = np.zeros(n, dtype=np.int64)
        path[-1] = int(best.argmax())
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path
