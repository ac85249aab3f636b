"""The layouts of every message style (MESSAGE_BUILDERS): a voice command, a chat message, and the email
layouts, built from the parts of ``email.py``: a short email, a reply or forward thread, a whole work email with
its header block and earlier messages, a talk announcement, a calendar invitation.  Their prose, weights and
rates are ``layouts.yaml``'s section of the same name.
"""

from __future__ import annotations

from collections.abc import Callable

from generation.offline.context import Ctx, Piece, ent, lit, tag
from generation.offline.email import (
    address,
    export_fields,
    extras,
    header,
    list_address,
    notes_header,
    people_block,
    quote,
    quote_header,
    recipients,
    short_body,
    sign_off,
    signature,
    subject,
    templates,
    transport_lines,
    work_body,
)
from generation.offline.numbers import number
from generation.offline.people import company, email_address, name, person, phone
from generation.offline.slots import render, say
from generation.offline.when import sent_stamp, work_date, work_time

L = "layouts."


def voice(intent: str, ctx: Ctx) -> list[Piece]:
    pieces = render(templates(ctx, "voice", "generic_voice", intent), ctx)
    for extra in extras(ctx):
        pieces += lit(ctx.draw(L + "voice.extra_seps")) + extra
    if ctx.chance(L + "voice.courtesy_rate"):
        pieces += lit(ctx.draw(L + "voice.courtesies"))
    return pieces


def chat(intent: str, ctx: Ctx) -> list[Piece]:
    pieces = render(templates(ctx, "chat", "generic_written", intent), ctx)
    for extra in extras(ctx):
        pieces += lit(ctx.draw(L + "chat.extra_seps")) + extra
    return pieces


def short_email(intent: str, ctx: Ctx) -> list[Piece]:
    out: list[Piece] = []
    if ctx.chance(L + "email.subject_rate"):
        out += lit("Subject: ") + render(templates(ctx, "subjects", "generic_subjects", intent), ctx) + lit("\n\n")
    if ctx.chance(L + "email.greeting_rate"):
        out += say(ctx, L + "email.greetings") + lit(ctx.draw(L + "email.greeting_ends"))
    out += short_body(ctx, intent)
    if ctx.chance(L + "email.sign_off_rate"):
        out += lit("\n\n") + sign_off(ctx)
    return out


def thread(intent: str, ctx: Ctx) -> list[Piece]:
    """A reply or forward: the intent is the top note's, the quoted message below is any scheduling email."""
    forward = ctx.chance(L + "thread.forward_rate")
    out = lit(("Fwd: " if forward else "Re: ") + ctx.draw(L + "thread.subjects"))
    out += lit("\n\n") + render(templates(ctx, "thread_top", "generic_written", intent), ctx)
    out += lit("\n\n") + sign_off(ctx) + lit("\n\n")
    quoted_intent = ctx.draw(L + "quoted_intents")
    original = say(ctx, L + "email.greetings") + lit("\n") + short_body(ctx, quoted_intent) + lit("\n") + sign_off(ctx)
    if forward:
        return out + lit(ctx.lex[L + "thread.forwarded"] + "\n") + quote_header(ctx) + lit("\n") + original
    return out + quote_header(ctx) + lit("> ") + quote(original)


def _header_block(ctx: Ctx, intent: str, sender: tuple[str, str], reply: bool) -> list[Piece]:
    """From, Sent/Date, To, Cc and Subject lines in one of the orders mail programs use, sometimes with MIME
    and transport lines among them."""
    outlook = ctx.chance(L + "raw_email.outlook_rate")
    to = recipients(ctx, ctx.draw(L + "raw_email.recipient_counts"))
    cc = recipients(ctx, ctx.rng.randint(1, 6)) if ctx.chance(L + "raw_email.cc_rate") else []
    stamp = lit(sent_stamp(ctx, "outlook" if outlook else None))
    fields = [("From", address(ctx, sender)), ("Sent" if outlook else "Date", stamp), ("To", to)]
    fields += [("Cc", cc)] if cc else []
    fields.append(("Subject", subject(ctx, intent, reply)))
    if not outlook and ctx.chance(L + "raw_email.date_first_rate"):  # RFC order: Date first
        fields = [fields[1], fields[0], *fields[2:]]
    out: list[Piece] = transport_lines(ctx) if ctx.chance(L + "raw_email.transport_rate") else []
    for label, value in fields:
        out += header(ctx, label, value)
    return out + (export_fields(ctx, sender) if ctx.chance(L + "raw_email.export_rate") else [])


def _earlier_message(ctx: Ctx, receiver: tuple[str, str]) -> list[Piece]:
    """The message replied to or forwarded, below the new one, in one of four layouts; its own intent."""
    sender = person(ctx)
    body = work_body(ctx, ctx.draw(L + "quoted_intents"), sender)
    layout = ctx.draw(L + "raw_email.earlier_layouts")
    if layout == "notes":
        forwarded = (
            say(ctx, "work_email.forwarded_lines") + lit("\n") if ctx.chance(L + "raw_email.forwarded_rate") else []
        )
        return forwarded + notes_header(ctx, sender, receiver) + lit("\n") + body
    if layout == "quoted":
        someone = name(ctx, "full", sender, work=True) if ctx.has("NAME") else lit("someone")
        mail = lit(" <") + ent(email_address(ctx, *sender), "EMAIL") + lit(">") if ctx.has("EMAIL") else []
        intro = (
            lit(f"On {sent_stamp(ctx, ctx.draw(L + 'raw_email.wrote_stamps'))}, ") + someone + mail + lit(" wrote:\n")
        )
        return intro + lit("> ") + quote(body)
    head = header(ctx, "From", address(ctx, sender)) + header(ctx, "Sent", lit(sent_stamp(ctx, "outlook")))
    to = address(ctx, receiver)
    head += header(
        ctx, "To", to + (lit("; ") + recipients(ctx, 2) if ctx.chance(L + "raw_email.earlier_cc_rate") else [])
    )
    head += header(ctx, "Subject", subject(ctx, "inquiry", ctx.chance("layouts.work.reply_rate")))
    line = ctx.lex[L + f"raw_email.{layout}_line"]
    return lit(ctx.draw(L + "raw_email.line_indents") + line + "\n") + head + lit("\n") + body


def raw_email(intent: str, ctx: Ctx) -> list[Piece]:
    """A whole message as saved from a mail program: header block, body, signature, maybe an earlier message."""
    sender, receiver = person(ctx), person(ctx)
    earlier = ctx.chance(L + "raw_email.earlier_rate")
    out = _header_block(ctx, intent, sender, reply=earlier) + lit("\n")
    if earlier and ctx.chance(L + "raw_email.reply_note_rate"):  # a short note on top of the thread
        out += (
            say(ctx, "layouts.work.greetings") + lit("\n\n") if ctx.chance(L + "raw_email.note_greeting_rate") else []
        )
        notes = f"work_email.reply_notes.{intent}"
        out += say(ctx, notes if notes in ctx.lex else "work_email.reply_notes.inquiry")
        out += lit("\n\n") + signature(ctx, sender)
    else:
        out += work_body(ctx, intent, sender)
    if earlier:
        out += lit("\n\n") + _earlier_message(ctx, receiver)
    return out


def _field_block(ctx: Ctx, fields: list[tuple[str, list[Piece]]]) -> list[Piece]:
    width = max(len(label) for label, _ in fields) + 2
    aligned = ctx.chance(L + "announcement.aligned_rate")
    out: list[Piece] = []
    for label, value in fields:
        out += lit(f"{label}:" + (" " * (width - len(label) - 1) if aligned else " ")) + value + lit("\n")
    return out


def announcement(intent: str, ctx: Ctx) -> list[Piece]:
    """A talk or seminar announcement to a mailing list: header block, fields, an abstract, the host."""
    A = L + "announcement."
    coordinator, speaker, host = person(ctx), person(ctx), person(ctx)
    topic = ctx.draw("work_email.talk_topics")
    cancelled = intent == "cancel"
    out_subject = lit(ctx.draw(A + ("cancelled_prefixes" if cancelled else "prefixes")))
    if ctx.chance(A + "topic_subject_rate"):
        out_subject += lit(topic)
    else:
        out_subject += lit("Talk by ") + name(ctx, "title", speaker, work=True)
    out = header(ctx, "From", address(ctx, coordinator)) + header(ctx, "To", list_address(ctx))
    out += header(ctx, "Date", lit(sent_stamp(ctx, "rfc"))) + header(ctx, "Subject", out_subject) + lit("\n")
    posted = say(ctx, "work_email.posted_lines") + lit("\n") if ctx.chance(A + "posted_rate") else []
    at_top = ctx.chance(A + "posted_at_top_rate")
    out += posted if at_top else []
    if cancelled:
        out += lit(ctx.draw(A + "cancellations") + "\n\n")
    else:
        out += say(ctx, "work_email.announcement_intros") + lit("\n\n")
    speaker_name = name(ctx, ctx.draw(A + "speaker_forms"), speaker, work=True)
    affiliation = []
    if ctx.chance(A + "affiliation_rate"):
        where = ctx.draw("work_email.universities") if ctx.chance(A + "university_rate") else company(ctx)
        affiliation = lit(f" ({where})")
    place = tag(ctx, number(ctx, "formats.numbers.room"), "LOCATION") + lit(", ")
    place += tag(ctx, ctx.draw("work_email.buildings"), "LOCATION")
    if ctx.chance(A + "title_fields_rate"):
        date = ent(work_date(ctx), "DATE") if ctx.has("DATE") else lit("TBA")
        time = ent(work_time(ctx), "TIME") if ctx.has("TIME") else lit("TBA")
        fields = [("Title", lit(topic)), ("Speaker", speaker_name + affiliation), ("Date", date), ("Time", time)]
        fields.append(("Place", place))
    else:
        fields = [("Who", speaker_name + affiliation), ("What", lit(topic)), ("When", _date_time(ctx))]
        fields.append(("Where", place))
    if ctx.chance(A + "host_rate"):
        fields.append(("Host", name(ctx, ctx.draw(A + "host_forms"), host, work=True)))
    out += _field_block(ctx, fields)
    if not cancelled and ctx.chance(A + "abstract_rate"):
        abstract = [say(ctx, "work_email.abstract_sentences") for _ in range(ctx.rng.randint(2, 5))]
        out += lit("\n" + ctx.draw(A + "abstract_heads"))
        for i, sentence in enumerate(abstract):
            out += (lit(" ") if i else []) + sentence
        out += lit("\n")
    if ctx.chance(A + "refreshments_rate") and ctx.has("TIME"):
        out += lit("\nRefreshments at ") + ent(work_time(ctx, single=True), "TIME") + lit(".\n")
    if ctx.chance(A + "contact_rate"):
        contact = name(ctx, "full", coordinator, work=True)
        out += lit("\nFor more information contact ") + contact + lit(f", {number(ctx, 'formats.numbers.ext')}.")
    if ctx.chance(A + "people_rate"):
        out += lit("\n\n") + people_block(ctx)
    return out + (lit("\n\n") + posted if posted and not at_top else [])


def _date_time(ctx: Ctx) -> list[Piece]:
    """A date and a time as one field value: "Thursday, May 4th, 3:30 - 5:00 PM" (DATE and TIME)."""
    out = ent(work_date(ctx), "DATE") if ctx.has("DATE") else lit(ctx.draw(L + "announcement.no_date"))
    if ctx.has("TIME"):
        out += lit(ctx.draw(L + "announcement.time_seps")) + ent(work_time(ctx), "TIME")
    return out


def invitation(intent: str, ctx: Ctx) -> list[Piece]:
    """A calendar or conference-call invitation: header block, When/Where, dial-in details, a numbered agenda."""
    V = L + "invitation."
    organizer = person(ctx)
    cancelled = intent == "cancel"
    project = ctx.draw("work_email.projects").replace("the ", "").capitalize()
    dept, acronym = ctx.draw("work_email.departments"), ctx.draw("work_email.acronyms")
    title = ctx.form(V + "titles", project=project, dept=dept, acronym=acronym)
    prefix = "Canceled: " if cancelled else ctx.draw(V + "prefixes")
    out = header(ctx, "From", address(ctx, organizer))
    out += header(ctx, "To", recipients(ctx, ctx.rng.randint(1, 8)))
    out += header(ctx, "Sent", lit(sent_stamp(ctx, "outlook")))
    out += header(ctx, "Subject", lit(prefix + title)) + lit("\n")
    if cancelled:
        out += lit(ctx.draw(V + "cancellations") + "\n\n")
    when: list[Piece] = ent(work_date(ctx), "DATE") if ctx.has("DATE") else lit("TBD")
    if ctx.has("TIME"):
        when += lit(" ") + ent(work_time(ctx), "TIME")
    when += lit(f" {ctx.draw('work_email.time_zones')}.") if ctx.chance(V + "zone_rate") else []
    if ctx.chance(V + "room_rate"):
        where = tag(ctx, number(ctx, "formats.numbers.room"), "LOCATION")
    else:
        where = lit(ctx.draw(V + "online"))
    out += lit("When: ") + when + lit("\nWhere: ") + where + lit("\n")
    if ctx.chance(V + "people_rate"):
        out += lit("\n") + people_block(ctx)
    out += lit("\n*~*~*~*~*~*~*~*~*~*\n\n") if ctx.chance(V + "divider_rate") else lit("\n")
    if ctx.chance(V + "dial_in_rate"):
        out += lit(ctx.draw(V + "dial_in_labels")) + tag(ctx, phone(ctx, work=True), "PHONE")
        out += lit(number(ctx, "formats.numbers.passcode"))
        if ctx.chance(V + "host_rate"):
            out += lit("Host: ") + name(ctx, "full", organizer, work=True) + lit("\n")
    if ctx.chance(V + "agenda_rate"):
        out += lit("\nAgenda:\n")
        for i in range(ctx.rng.randint(2, 6)):
            out += lit(f"{i + 1}. ") + say(ctx, "work_email.agenda_items")
            if ctx.has("NAME") and ctx.chance(V + "owner_rate"):
                out += lit(" (") + name(ctx, ctx.draw(V + "owner_forms"), work=True) + lit(")")
            out += lit("\n")
    if ctx.chance(V + "signature_rate"):
        out += lit("\n") + signature(ctx, organizer)
    return out


MESSAGE_BUILDERS: dict[str, Callable[[str, Ctx], list[Piece]]] = {
    "voice": voice,
    "chat": chat,
    "email": short_email,
    "thread": thread,
    "raw_email": raw_email,
    "announcement": announcement,
    "invitation": invitation,
}
