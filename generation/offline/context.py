"""What every part of a message is made with: the per-message context (its random generator, the lexicon, the
requested entity types, the style) and pieces of text.

Text is assembled from pieces, ``(text, entity type or None)``; spans come from where each entity piece was put,
never from searching the finished text.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generation.offline.lexicon import Lexicon, Words
from generation.offline.pools import Pools

Piece = tuple[str, "str | None"]  # (text, entity type or None for plain text)

WHOLE_MESSAGE_STYLES = ("raw_email", "announcement", "invitation")  # whole work email, kept as saved
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "ı": "i", "đ": "d", "æ": "ae"})


@dataclass
class Ctx:
    """The context of one message.  Every draw goes through ``rng`` in the order the code makes it, so the same
    seed gives the same data; moving a draw, or drawing a list in another way, changes the data (the digests of
    tests/fixtures/offline_digests.json say so)."""

    rng: random.Random
    lex: Lexicon
    pools: Pools
    types: tuple[str, ...]  # a tuple, not a set: iterating it must not depend on hash randomisation
    style: str  # one of MESSAGE_BUILDERS
    tagged: bool  # False: a message with no entities at all
    spoken: bool  # numbers and emails as a speech recogniser writes them ("three thirty pm", "at gmail dot com")
    who: tuple[str, str] | None = None  # the person that {pname} and {pemail} share within one message

    @property
    def register(self) -> str:
        """How a short message writes its values: "spoken" (a recogniser's words), "voice" (a command with digits)
        or "written"; work email's own forms ("work") are chosen where its layouts ask for them."""
        if self.style == "voice":
            return "spoken" if self.spoken else "voice"
        return "written"

    def has(self, entity_type: str) -> bool:
        return self.tagged and entity_type in self.types

    def chance(self, key: str) -> bool:
        """True at the rate of the lexicon's ``key``."""
        return self.rng.random() < self.lex[key]

    def pick(self, seq: Sequence) -> Any:
        """An element of ``seq``, uniformly by position."""
        return seq[self.rng.randrange(len(seq))]

    def draw(self, key: str | Words) -> Any:
        """An entry of a lexicon list (or of ``Words``), by its weights."""
        words = self.lex[key] if isinstance(key, str) else key
        if words.cum_weights is None:
            return self.pick(words.texts)
        return self.rng.choices(words.texts, cum_weights=words.cum_weights)[0]

    def form(self, key: str, **fields: Any) -> str:
        """An entry of a lexicon list of formats, filled in with ``fields``."""
        return self.draw(key).format(**fields)

    def band(self, key: str) -> str:
        """The label of the lexicon's bands ``key`` that one random number falls in."""
        r = self.rng.random()
        return next(label for label, bound in self.lex[key] if r < bound)


def lit(text: str) -> list[Piece]:
    return [(text, None)]


def ent(text: str, entity_type: str) -> list[Piece]:
    return [(text, entity_type)]


def tag(ctx: Ctx, text: str, entity_type: str) -> list[Piece]:
    """``text`` as an entity when that type is requested, else as a hard negative in the same place."""
    return ent(text, entity_type) if ctx.has(entity_type) else lit(text)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def cap_pieces(pieces: list[Piece]) -> list[Piece]:
    return [(cap(pieces[0][0]), pieces[0][1])] + pieces[1:] if pieces else pieces


def title_case(s: str) -> str:
    return " ".join(w if w in ("the", "and", "of") else w[:1].upper() + w[1:] for w in s.split(" "))


def fold(s: str) -> str:
    """ASCII letters only, as a speech recogniser or an email address would write a name."""
    s = "".join(c for c in unicodedata.normalize("NFKD", s.translate(_FOLD)) if not unicodedata.combining(c))
    return s.encode("ascii", "ignore").decode()
