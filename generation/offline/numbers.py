"""Numbers that are not dates or times (rooms, extensions, amounts, tickets, ...), made as ``formats.yaml``
describes them, and the words of numbers ("twenty one", "the twenty first", "3rd").

A number maker draws its ``fields`` in the order written, each ``[operation, arguments...]``:

- ``[int, lo, hi]``: a random whole number; ``[pick, options]``: one of a string's letters or a list's entries;
- ``[draw, key]``: an entry of a lexicon list; ``[pool, name]``: an entry of a Faker pool;
- ``[one_of, field, ...]``: the value of one of the fields named; ``[letters, alphabet, lo, hi]``: lo to hi
  random letters;
- ``[mod, field, n]``, ``[add, field, n]``, ``[mul, field, n]``, ``[div, field, n]``, ``[ordinal, field]``:
  computed from a field drawn before, with no draw of their own;
- ``[form, formats]``: one of the formats, filled in with the fields before it;

then fills in its ``form``, or one of its ``forms`` drawn after all the fields.  Every field is drawn whichever
form is used: the draws follow the order of the data, not of the text.
"""

from __future__ import annotations

from typing import Any

from generation.offline.context import Ctx

_COMPUTED = {
    "mod": lambda a, n: a % n,
    "add": lambda a, n: a + n,
    "mul": lambda a, n: a * n,
    "div": lambda a, n: a / n,
}


def number(ctx: Ctx, key: str) -> str:
    """The number maker ``key`` of formats.yaml ("formats.numbers.room")."""
    maker = ctx.lex[key]
    fields = number_fields(ctx, key)
    form = maker["form"] if "form" in maker else ctx.pick(maker["forms"])
    return form.format(**fields)


def number_fields(ctx: Ctx, key: str, **given: Any) -> dict[str, Any]:
    """The fields of the number maker ``key``, drawn in order after those ``given``."""
    fields = dict(given)
    for name, (op, *args) in ctx.lex[key].get("fields", {}).items():
        if op == "int":
            fields[name] = ctx.rng.randint(*args)
        elif op == "pick":
            fields[name] = ctx.pick(args[0])
        elif op == "draw":
            fields[name] = ctx.draw(args[0])
        elif op == "pool":
            fields[name] = ctx.pick(getattr(ctx.pools, args[0]))
        elif op == "one_of":
            fields[name] = fields[ctx.pick(args)]
        elif op == "letters":
            fields[name] = "".join(ctx.pick(args[0]) for _ in range(ctx.rng.randint(args[1], args[2])))
        elif op == "ordinal":
            fields[name] = ordinal(fields[args[0]])
        elif op == "form":
            fields[name] = ctx.pick(args[0]).format(**fields)
        else:
            fields[name] = _COMPUTED[op](fields[args[0]], args[1])
    return fields


def number_words(ctx: Ctx, n: int) -> str:
    """0..59 in words: "twenty one"."""
    words = ctx.lex["formats.language.numbers"].texts
    if n <= 20:
        return words[n]
    tens, ones = divmod(n, 10)
    return ctx.lex["formats.language.tens"].texts[tens - 2] + (f" {words[ones]}" if ones else "")


def ordinal_words(ctx: Ctx, n: int) -> str:
    """1..31 in words: "twenty first"."""
    words = ctx.lex["formats.language.ordinals"].texts
    if n <= 20:
        return words[n - 1]
    tens, ones = divmod(n, 10)
    ten = ctx.lex["formats.language.tens"].texts[tens - 2]
    return f"{ten} {words[ones - 1]}" if ones else ten[:-1] + "ieth"


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
