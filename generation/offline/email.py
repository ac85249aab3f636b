"""The parts every email layout is built from (``layouts.py``): header lines and the people in them, subjects,
bodies, sign-offs and signatures, quoted and forwarded earlier messages.  A short email (``email``, ``thread``)
and whole work email (``raw_email``, ...) write most parts in their own way; their prose, weights and rates are
``layouts.yaml``'s ``email`` (short) and ``work`` sections.
"""

from __future__ import annotations

from generation.offline.context import Ctx, Piece, cap_pieces, ent, lit, tag
from generation.offline.numbers import number, number_fields
from generation.offline.people import company, domain, email_address, name, person, phone, routed_name
from generation.offline.places import city_state_zip, location
from generation.offline.slots import render, say
from generation.offline.when import quoted_when, sent_stamp, work_date
from small_lm.data import DEFAULT_ENTITY_TYPES

S, W = "layouts.email.", "layouts.work."


def templates(ctx: Ctx, table: str, generic: str, intent: str) -> str:
    """A template of short_messages.yaml's per-intent ``table`` for ``intent`` (or of ``generic``, see there)."""
    return ctx.draw(ctx.lex.for_intent(f"short_messages.{table}", f"short_messages.{generic}", intent))


def quote(pieces: list[Piece]) -> list[Piece]:
    """Pieces as a reply quotes them: each line after the first starts with "> "."""
    return [(s.replace("\n", "\n> "), t) for s, t in pieces]


def caps(pieces: list[Piece]) -> list[Piece]:
    """The pieces in capitals, as sign-up sheets and agendas write names ("RAVI NAIR")."""
    return [(s.upper(), t) for s, t in pieces]


def extras(ctx: Ctx) -> list[list[Piece]]:
    """Clauses for the requested entity types that the scheduling templates do not cover (LOCATION, PHONE)."""
    out = []
    for entity_type in ctx.types:
        if entity_type in DEFAULT_ENTITY_TYPES or not ctx.has(entity_type) or not ctx.chance("layouts.extras.rate"):
            continue
        if entity_type == "LOCATION":
            lead = "" if ctx.style == "voice" else ctx.draw("layouts.extras.location_leads")
            out.append(lit(lead) + location(ctx))
        else:
            out.append(lit(ctx.draw("layouts.extras.phone_leads")) + ent(phone(ctx), "PHONE"))
    return out


# --- short email: a body of a few sentences, a sign-off, a quoted message


def short_body(ctx: Ctx, intent: str) -> list[Piece]:
    """One intent sentence among 0-3 neutral ones, and the extras."""
    core = render(templates(ctx, "email_core", "generic_written", intent), ctx)
    fillers = ctx.rng.sample(ctx.lex["short_messages.email_fillers"].texts, ctx.draw(S + "filler_counts"))
    sentences = [render(t, ctx) for t in fillers]
    sentences = sentences[:1] + [core] + sentences[1:]
    for extra in extras(ctx):
        sentences.append(cap_pieces(extra) + (lit(".") if extra[-1][1] is not None else []))
    out: list[Piece] = []
    for i, sentence in enumerate(sentences):
        if i:
            out += lit(ctx.draw(S + ("first_sentence_seps" if i == 1 else "sentence_seps")))
        out += sentence
    return out


def sign_off(ctx: Ctx) -> list[Piece]:
    """Sign-off and the sender's name (a NAME), sometimes a signature block."""
    out = lit(ctx.draw(S + "signoffs"))
    if ctx.has("NAME") and ctx.chance(S + "name_rate"):
        form = ctx.draw(S + "name_forms")
        sender = name(ctx, form)
        out += lit("\n") + (sender[1:] if form == "title_full" and ctx.chance(S + "untitled_rate") else sender)
        if form != "first" and ctx.chance(S + "job_rate"):
            out += lit(f"\n{ctx.draw(S + 'job_titles')}{ctx.draw(S + 'job_seps')}{ctx.pick(ctx.pools.companies)}")
    elif ctx.chance(S + "team_rate"):
        out += lit(f"\nThe {ctx.pick(ctx.pools.companies)} team")
    if ctx.has("PHONE") and ctx.chance(S + "phone_rate"):
        out += lit(ctx.draw(S + "phone_labels")) + ent(phone(ctx), "PHONE")
    if ctx.chance(S + "iphone_rate"):
        out += lit("\n\nSent from my iPhone")
    return out


def quote_header(ctx: Ctx) -> list[Piece]:
    """'On Tue, Jun 4, 2024 at 10:15 AM Anna Lee <anna.lee@x.com> wrote:' or an Outlook-style block.  When the
    quoted message was sent is not a DATE or TIME (see the guideline): it stays untagged, as a hard negative."""
    when = quoted_when(ctx)
    first, last = person(ctx)
    mail = email_address(ctx, first, last)
    someone = ent(f"{first} {last}", "NAME") if ctx.has("NAME") else []
    mail_pieces = lit("<") + ent(mail, "EMAIL") + lit(">") if ctx.has("EMAIL") else []
    if not someone and not mail_pieces:
        return lit("-----Original Message-----\n")
    stamps = ctx.lex["formats.quote_stamp.on"], ctx.lex["formats.quote_stamp.at"], ctx.lex["formats.quote_stamp.sent"]
    if ctx.chance(S + "wrote_rate"):
        stamp = stamps[0].format(**when) + (stamps[1].format(**when) if ctx.chance(S + "wrote_at_rate") else "")
        return lit(f"On {stamp}, ") + someone + lit(" ") + mail_pieces + lit(" wrote:\n")
    out = lit("From: ") + someone + lit(" ") + mail_pieces + lit("\n") + lit(f"Sent: {stamps[2].format(**when)}\n")
    return out + lit("Subject: ") + render(ctx.draw("short_messages.subjects.inquiry"), ctx) + lit("\n")


# --- work email: header lines and the people in them


def header(ctx: Ctx, label: str, value: list[Piece]) -> list[Piece]:
    return lit(f"{label}:{ctx.draw(W + 'header_pads')}") + value + lit("\n")


def address(ctx: Ctx, someone: tuple[str, str] | None = None, in_comma_list: bool = False) -> list[Piece]:
    """One sender or recipient as a header writes it: display name and address in one of several forms.

    In a comma-separated list a surname-first name is quoted, as mail clients write it: unquoted, "Baker, Ann,
    Lee, Chen" cannot be read as names even by a person, and would teach a model to guess."""
    first, last = someone or person(ctx)
    email = email_address(ctx, first, last)
    if ctx.chance(W + "company_address_rate"):  # work address on the company's domain
        email = email.split("@")[0] + "@" + domain(ctx)
    if not ctx.has("NAME"):
        return ent(email, "EMAIL") if ctx.has("EMAIL") else lit(ctx.draw("words.groups"))
    if not ctx.has("EMAIL"):
        return _quoted_if(in_comma_list, name(ctx, ctx.draw(W + "name_only_forms"), (first, last), work=True))
    form = ctx.draw(W + "address_forms")
    if form == "display":
        return name(ctx, "full", (first, last), work=True) + lit(" <") + ent(email, "EMAIL") + lit(">")
    if form == "quoted_last_first":
        return (
            lit('"') + name(ctx, "last_first", (first, last), work=True) + lit('" <') + ent(email, "EMAIL") + lit(">")
        )
    if form == "bare":
        return ent(email, "EMAIL")
    if form == "name_only":
        return name(ctx, "full", (first, last), work=True)
    if form == "last_first_only":
        return _quoted_if(in_comma_list, name(ctx, "last_first", (first, last), work=True))
    return ent(email, "EMAIL") + lit(" (") + ent(f"{first} {last}", "NAME") + lit(")")


def _quoted_if(comma_list: bool, pieces: list[Piece]) -> list[Piece]:
    """``pieces`` in double quotes when they hold a comma and stand in a comma-separated list."""
    return lit('"') + pieces + lit('"') if comma_list and any("," in text for text, _ in pieces) else pieces


def list_address(ctx: Ctx) -> list[Piece]:
    """A mailing list or a no-reply sender: an EMAIL whose local part is not a person."""
    local = ctx.draw("work_email.list_names" if ctx.chance(W + "list_name_rate") else "work_email.no_reply_names")
    mail = f"{local}@{domain(ctx)}"
    return ent(mail, "EMAIL") if ctx.has("EMAIL") else lit(ctx.draw(W + "list_labels"))


def recipients(ctx: Ctx, n: int) -> list[Piece]:
    sep = ctx.draw(W + "recipient_seps")
    out: list[Piece] = []
    for i in range(n):
        one = address(ctx, in_comma_list=sep == ", ") if ctx.chance(W + "person_rate") else list_address(ctx)
        out += (lit(sep) if i else []) + one
    return out


def routed_list(ctx: Ctx, n: int, first: tuple[str, str] | None = None) -> list[Piece]:
    out = routed_name(ctx, first)
    for _ in range(n - 1):
        out += lit(", ") + (routed_name(ctx) if ctx.chance(W + "routed_rate") else address(ctx, in_comma_list=True))
    return out


def subject(ctx: Ctx, intent: str, reply: bool) -> list[Piece]:
    prefix = ctx.draw(W + "reply_prefixes") if reply else ""
    kind = ctx.band(W + "subject_kinds")
    if kind == "names" and ctx.has("NAME"):
        body = say(ctx, "work_email.name_subjects")
    elif kind in ("names", "date") and ctx.has("DATE"):
        body = lit(ctx.draw(W + "date_subjects")) + ent(work_date(ctx), "DATE")
    else:
        body = render(templates(ctx, "subjects", "generic_subjects", intent), ctx)
    return lit(prefix) + body


def transport_lines(ctx: Ctx) -> list[Piece]:
    """MIME and transport header lines, as raw messages carry them: never entities (and masked at inference)."""
    fields = number_fields(ctx, W + "transport", host=domain(ctx))
    lines = [line.format(**fields) for line in ctx.lex[W + "transport_lines"].texts]
    return lit("\n".join(ctx.rng.sample(lines, ctx.rng.randint(2, len(lines)))) + "\n")


def export_fields(ctx: Ctx, sender: tuple[str, str]) -> list[Piece]:
    """The X-From / X-To / X-cc / X-bcc lines of mail exported from Exchange or Notes: display names, unquoted,
    one form for the whole list; surname first in many companies ("X-To: Baker, Ann, Lee, Chen": two NAMEs)."""
    form = ctx.draw(W + "export_forms")

    def names(n: int) -> list[Piece]:
        out: list[Piece] = []
        for i in range(n):
            out += (lit(", ") if i else []) + name(ctx, form, work=True)
        return out

    out = header(ctx, "X-From", name(ctx, form, sender, work=True)) + header(ctx, "X-To", names(ctx.rng.randint(1, 12)))
    return out + header(ctx, "X-cc", names(ctx.rng.randint(0, 4))) + header(ctx, "X-bcc", [])


def notes_header(ctx: Ctx, sender: tuple[str, str], receiver: tuple[str, str]) -> list[Piece]:
    """A Lotus Notes header: the sender (often a routing string), when it was sent on a line of its own (not a
    DATE or TIME), To and cc lists of routing strings, the subject."""
    out = routed_name(ctx, sender) if ctx.chance(W + "routed_sender_rate") else name(ctx, "full", sender, work=True)
    out += lit("\n" + sent_stamp(ctx, "numeric") + "\n")
    out += header(ctx, "To", routed_list(ctx, ctx.rng.randint(1, 4), receiver))
    if ctx.chance(W + "notes_cc_rate"):
        out += header(ctx, "cc", routed_list(ctx, ctx.rng.randint(1, 4)))
    return out + header(ctx, "Subject", subject(ctx, "inquiry", ctx.chance(W + "reply_rate")))


def people_block(ctx: Ctx) -> list[Piece]:
    """People one a line under a heading ("Attendees:"), as minutes, invitations and memos list them; sometimes
    in capitals, numbered or bulleted, with a note after the name."""
    out = lit(ctx.draw("work_email.people_headings") + "\n")
    in_caps, numbered = ctx.chance(W + "people_caps_rate"), ctx.chance(W + "people_numbered_rate")
    bullet = ctx.draw(W + "people_bullets")
    for i in range(ctx.rng.randint(2, 8)):
        someone = name(ctx, ctx.draw(W + "people_forms"), work=True)
        out += lit(f"{i + 1}. " if numbered else bullet) + (caps(someone) if in_caps else someone)
        out += say(ctx, "work_email.people_notes") if ctx.chance(W + "people_note_rate") else []
        out += lit("\n")
    return out


# --- work email: the body and the signature


def signature(ctx: Ctx, sender: tuple[str, str]) -> list[Piece]:
    """Sign-off, the sender's name, and often a signature block full of numbers that are not dates or times."""
    out = say(ctx, W + "signoffs") + lit("\n")
    if ctx.has("NAME"):
        form = ctx.draw(W + "signature_forms")
        signed = name(ctx, form, sender, work=True)
        out += caps(signed) if ctx.chance(W + "caps_name_rate") else signed
        if form == "first" and ctx.chance(W + "full_after_first_rate"):  # "Pam", then the full name below
            out += lit("\n") + name(ctx, "full", sender, work=True)
    else:
        out += lit(ctx.draw(W + "unsigned"))
    if ctx.chance(W + "one_line_rate"):  # "Ann Baker | Senior Analyst | ext. 4471" on one line
        title = ctx.draw(W + "job_titles")
        return out + lit(
            f" | {title} | " + ctx.pick((number(ctx, "formats.numbers.ext"), phone(ctx, work=True), company(ctx)))
        )
    if ctx.chance(W + "block_rate"):
        firm = company(ctx)
        out += lit(f"\n{ctx.draw(W + 'job_titles')}{ctx.draw(S + 'job_seps')}{firm}")
        if ctx.chance(W + "street_rate"):
            street = tag(ctx, number(ctx, "formats.numbers.street_address"), "LOCATION")
            out += lit("\n") + street + lit(ctx.draw(W + "street_seps") + city_state_zip(ctx))
        for label in ctx.rng.sample(ctx.lex[W + "phone_labels"].texts, ctx.rng.randint(0, 3)):
            out += lit(f"\n{label}: ") + tag(ctx, phone(ctx, work=True), "PHONE")
        if ctx.chance(W + "ext_rate"):
            out += lit(f"\n{number(ctx, 'formats.numbers.ext')}")
        if ctx.chance(W + "web_rate"):
            out += lit(f"\nwww.{domain(ctx, firm)}")
        if ctx.chance(W + "disclaimer_rate"):
            out += lit("\n\n" + ctx.draw("work_email.disclaimers"))
    return out


def work_body(ctx: Ctx, intent: str, sender: tuple[str, str]) -> list[Piece]:
    """Greeting, the sentence that carries the intent among side remarks, and the signature."""
    core = render(templates(ctx, "email_core", "generic_written", intent), ctx)
    remarks = [say(ctx, "work_email.work_fillers") for _ in range(ctx.draw(W + "remark_counts"))]
    if ctx.chance(W + "short_filler_rate"):
        remarks.append(say(ctx, "short_messages.email_fillers"))
    at = ctx.rng.randint(0, min(2, len(remarks)))
    out = say(ctx, W + "greetings") + lit("\n\n") if ctx.chance(W + "greeting_rate") else []
    for i, sentence in enumerate(remarks[:at] + [core] + remarks[at:]):
        if i and ctx.chance(W + "caps_heading_rate"):  # a heading in capitals: not a NAME
            out += lit("\n\n" + ctx.draw("work_email.caps_headings") + ctx.draw(W + "heading_ends") + "\n")
        else:
            out += lit(ctx.draw(W + "sentence_seps")) if i else []
        out += cap_pieces(sentence)
    if ctx.chance(W + "people_rate"):
        out += lit("\n\n") + people_block(ctx)
    return out + lit("\n\n") + signature(ctx, sender)
