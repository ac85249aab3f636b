"""The accepted examples of a run, kept where a crash cannot lose them.

Each accepted example is appended to ``<output>.partial.jsonl`` as soon as its answer is checked, so an
interrupted or killed run loses nothing: the same command run again reads the file back and only asks for
what is missing.  The finished dataset file replaces it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generation.answers import check_item, normalize, parse_answer
from small_lm.data import DatasetError, bio_labels, make_example, validate_example, write_text_atomic


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


def read_partial(path: Path, labels: Sequence[str], intents: Sequence[str]) -> tuple[list[dict], bool]:
    """The examples of a partial file and whether its last line was torn (half-written by a crash).

    Any other bad line means the file is not this run's: DatasetError says so and how to start over.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    examples = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                return examples, True
            raise DatasetError(f"{path}: line {n}: not valid JSON; delete the file to start over") from None
        try:
            validate_example(example, labels, intents)
        except DatasetError as err:
            raise DatasetError(
                f"{path}: line {n}: {err} (made with other --entity-types/--intents? delete the file to start over)"
            ) from None
        examples.append(example)
    return examples, False


def jsonl(examples: Sequence[dict]) -> str:
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in examples)


@dataclass
class Collected:
    """Accepted examples (each also a line of the partial file) and the rejections, by reason."""

    partial: Path | None  # None: nothing written (--batch keeps the answers themselves)
    entity_types: list[str]
    intents: list[str]
    id_prefix: str  # accepted examples get ids "<id_prefix>-000000", "<id_prefix>-000001", ...
    examples: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # normalized texts, to reject duplicates
    rejected: Counter = field(default_factory=Counter)
    resumed: int = 0  # examples read back from a previous run

    def load_partial(self) -> None:
        """Read back a previous run's accepted examples; a torn last line is dropped."""
        if not self.partial.exists():
            return
        examples, torn = read_partial(self.partial, bio_labels(self.entity_types), self.intents)
        if torn:  # rewrite without the torn line, so appends start on a fresh line
            write_text_atomic(self.partial, jsonl(examples))
        self.examples += examples
        self.seen |= {normalize(x["text"]) for x in examples}
        self.resumed = len(self.examples)

    def add_answer(self, content: str | None) -> None:
        """Check an answer's items; append the accepted ones to the partial file at once."""
        items, reason = parse_answer(content)
        if reason:
            self.rejected[reason] += 1
        accepted = []
        for item in items:
            checked, reason = check_item(item, self.entity_types, self.intents, self.seen)
            if checked is None:
                self.rejected[reason] += 1
                continue
            text, intent, spans = checked
            example = make_example(f"{self.id_prefix}-{len(self.examples):06d}", text, intent, spans)
            self.examples.append(example)
            self.seen.add(normalize(text))
            accepted.append(example)
        if (
            accepted and self.partial is not None
        ):  # closing flushes to the OS: a crash or kill of this process cannot lose them then
            with self.partial.open("a", encoding="utf-8") as f:
                f.write(jsonl(accepted))

    def intent_counts(self) -> Counter:
        return Counter(x["intent"] for x in self.examples)
