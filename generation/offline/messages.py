"""Messages: a layout's pieces restyled (casing, punctuation, typos), assembled into text and spans, and
``generate_offline``, which makes a dataset's worth of them from a seed."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from functools import cache

from generation.offline import ENTITY_TYPES
from generation.offline.context import WHOLE_MESSAGE_STYLES, Ctx, Piece, cap
from generation.offline.layouts import MESSAGE_BUILDERS
from generation.offline.lexicon import DATA_DIR, Lexicon, load_lexicon
from generation.offline.pools import Pools, build_pools
from generation.offline.slots import SLOTS
from generation.styles import default_mix
from small_lm.data import DEFAULT_ENTITY_TYPES, DEFAULT_INTENTS, Span, make_example, tokenize

_CONTRACTION_RE = re.compile(r"(?<=\w)'(?=(s|t|m|re|ve|d)\b)")
R = "layouts.restyle."


@cache
def lexicon() -> Lexicon:
    """The data files, loaded and checked once per process."""
    return load_lexicon(DATA_DIR, SLOTS)


@cache
def pools() -> Pools:
    return build_pools(lexicon())


def _voice_text(s: str, drop_apostrophes: bool) -> str:
    s = s.lower().replace("&", " and ").replace(" - ", " ").replace("@", " at ")
    s = re.sub(r"[,.?!;:()\"]", " ", s)
    if drop_apostrophes:
        s = _CONTRACTION_RE.sub("", s)  # only inside a word, so the "'s" after a name keeps its apostrophe
    return re.sub(r"[ \t]+", " ", s)


def _typo(ctx: Ctx, s: str) -> str:
    words = list(re.finditer(r"[a-z]{5,}", s))
    if not words:
        return s
    m = ctx.pick(words)
    i = m.start() + ctx.rng.randrange(1, len(m.group()) - 2)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def restyle(pieces: list[Piece], ctx: Ctx) -> list[Piece]:
    """Casing and punctuation habits, applied to each piece (lowercasing can change a string's length); whole
    messages keep their casing and layout."""
    if ctx.style in WHOLE_MESSAGE_STYLES:
        return pieces
    if ctx.style == "voice":
        drop, case = ctx.chance(R + "voice.drop_apostrophes"), ctx.draw(R + "voice.cases")
        out = [(_voice_text(s, drop), t) if t is None else (s.lower(), t) for s, t in pieces]
        if case == "title":
            out = [(re.sub(r"(?<![\w'])([a-z])", lambda m: m.group(1).upper(), s), t) for s, t in out]
        elif case == "first":
            out = [(cap(s.lstrip()), t) if i == 0 else (s, t) for i, (s, t) in enumerate(out)]
        return out
    group = R + ("chat." if ctx.style == "chat" else "written.")
    lower, drop, typo = ctx.chance(group + "lower"), ctx.chance(group + "drop_apostrophes"), ctx.chance(group + "typo")
    out = []
    for s, t in pieces:
        s = s.lower() if lower else s
        if t is None and drop:
            s = _CONTRACTION_RE.sub("", s)
        if t is None and typo and ctx.chance(R + "typo_per_piece"):
            s = _typo(ctx, s)
        out.append((s, t))
    if ctx.style == "chat" and out and out[-1][1] is None and ctx.chance(R + "chat.no_final_stop"):
        out[-1] = (out[-1][0].rstrip("?!. "), None)
    if not lower and out:  # sentence case at the very start
        out[0] = (cap(out[0][0].lstrip()), out[0][1])
    return out


def assemble(pieces: list[Piece]) -> tuple[str, list[Span]]:
    """Join pieces into text and spans, tidying the spaces that empty slots leave behind."""
    text, spans, last_plain = "", [], True
    for s, t in pieces:
        if not s:
            continue
        if t is None:
            s = re.sub(r" {2,}", " ", s)
            s = re.sub(r" +([,.?!;]|\n)", r"\1", s)
            if not text or text[-1] in " \n":
                s = s.lstrip(" ")
            if s[:1] in (",", ".", "?", "!", ";", "\n") and text.endswith(" ") and last_plain:
                text = text.rstrip(" ")
            if s[:1] == "," and text.endswith((",", "\n")) or s[:1] == "," and not text:
                s = s[1:].lstrip(" ")
            text += s
        else:
            spans.append(Span(t, len(text), len(text) + len(s)))
            text += s
        last_plain = t is None
    return text.rstrip(), spans


def _on_token_edges(text: str, spans: list[Span]) -> bool:
    tokens = tokenize(text)
    starts, ends = {s for _, s, _ in tokens}, {e for _, _, e in tokens}
    return all(s.start in starts and s.end in ends and s.start < s.end for s in spans)


def generate_offline(
    num_examples: int,
    seed: int,
    entity_types: Sequence[str] = DEFAULT_ENTITY_TYPES,
    intents: Sequence[str] = DEFAULT_INTENTS,
    styles: dict[str, float] | None = None,
) -> list[dict]:
    """`num_examples` full examples (dicts from small_lm.data.make_example, ids f"offline-{seed}-{i:06d}"),
    unique texts, intents balanced (round-robin), deterministic for a given seed (same seed -> identical
    output, different seed -> different data). Shuffled.  ``styles`` weights the message styles (default: the
    mix of generation/data/styles.yaml).  Raises ValueError for an entity type outside ENTITY_TYPES or an unknown
    style."""
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    intents = list(dict.fromkeys(intents))
    if not intents:
        raise ValueError("need at least one intent")
    if unknown := [t for t in entity_types if t not in ENTITY_TYPES]:
        raise ValueError(f"the offline generator has no values for {unknown}; it makes {', '.join(ENTITY_TYPES)}")
    mix = styles if styles is not None else default_mix()
    if unknown := sorted(set(mix) - set(MESSAGE_BUILDERS)):
        raise ValueError(f"the offline generator has no style {unknown}; it writes {', '.join(MESSAGE_BUILDERS)}")
    types = tuple(dict.fromkeys(entity_types))
    # A string seed: the same on every platform and run (it names the old module, so that seeds keep their data).
    rng = random.Random(f"small_lm.offline/{seed}")
    lex, names, weights = lexicon(), list(mix), list(mix.values())
    rows, seen = [], set()
    for i in range(num_examples):
        intent = intents[i % len(intents)]
        for _ in range(1000):  # a duplicate or (never expected) a span off token edges: draw again
            style = rng.choices(names, weights)[0]
            # A whole message always has its people in it: one with no entities at all would need untagged names.
            tagged = style in WHOLE_MESSAGE_STYLES or rng.random() >= lex["layouts.no_entity_rate"]
            ctx = Ctx(rng, lex, pools(), types, style, tagged, False)
            ctx.spoken = style == "voice" and ctx.chance("layouts.voice.spoken_rate")
            text, spans = assemble(restyle(MESSAGE_BUILDERS[style](intent, ctx), ctx))
            if text and text not in seen and _on_token_edges(text, spans):
                break
        else:
            raise RuntimeError(f"could not make a new unique message for intent {intent!r} after 1000 tries")
        seen.add(text)
        rows.append((text, intent, spans))
    rng.shuffle(rows)
    return [
        make_example(f"offline-{seed}-{i:06d}", text, intent, spans) for i, (text, intent, spans) in enumerate(rows)
    ]
