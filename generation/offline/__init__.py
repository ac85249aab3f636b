"""The offline generator: scheduling messages with entity spans and an intent, from templates and word lists, no
API key and no network; seeded and deterministic (the same seed gives the same data in any process and locale).

A model trained only on this data is measured on real messages: short spoken assistant commands and real work
email.  Simple templates reach near-perfect scores on their own data and then over-tag real text, so the
generator aims at variety and at hard negatives: every style of message (voice commands, chat, short emails,
threads, whole work emails, announcements, invitations), many surface forms per entity (see
small_lm.guideline), and entity-like words that are not entities in the places entities go.

It is data and an engine.  The data (``data/``, one lexicon checked against ``data/schema.yaml``):
``words.yaml`` (word lists), ``short_messages.yaml`` and ``work_email.yaml`` (templates and lists of the short
and whole-message styles), ``formats.yaml`` (how dates, times, names, addresses and numbers are written, by
register), ``layouts.yaml`` (the prose, weights and rates of each layout), ``slots.yaml`` (the slots that only
draw).  The engine, in the order it is built up:

- ``lexicon``: loads and checks the data; values by key, ``"file.key"``;
- ``pools``: names, cities, phones, companies and countries from Faker;
- ``context``: the per-message context (random generator, lexicon, requested types, style) and text pieces;
- ``numbers``, ``when``, ``people``, ``places``: the value makers;
- ``slots``: the slot registry and the template renderer;
- ``email`` and ``layouts``: the parts of an email and the layout of every style;
- ``messages``: restyling, assembly into text and spans, and ``generate_offline``.

Only ENTITY_TYPES is defined here, so that the backend can check a request without loading the engine.
"""

ENTITY_TYPES = ("DATE", "TIME", "NAME", "EMAIL", "LOCATION", "PHONE")  # the types the templates have values for
