"""People and organisations: names in the forms short messages and work email write them, email addresses
(written or spoken), phone numbers, companies and their domains (``formats.yaml``: ``names``, ``emails``,
``phones``)."""

from __future__ import annotations

import re

from generation.offline.context import Ctx, Piece, ent, fold, lit
from generation.offline.numbers import number, number_words

F = "formats."


def person(ctx: Ctx) -> tuple[str, str]:
    """A first and last name from one locale; a voice command writes them as a recogniser would."""
    locale = ctx.draw("words.name_locales")
    first, last = ctx.pick(ctx.pools.first[locale]), ctx.pick(ctx.pools.last[locale])
    if ctx.chance(F + "names.ambiguous_rate"):  # "june", "will", "bill": names that are also words
        first = ctx.draw("words.ambiguous_first")
    if ctx.style == "voice":  # a recogniser writes plain lowercase ASCII
        first, last = fold(first).lower().replace("-", " "), fold(last).lower().replace("-", " ")
    return first, last


def name(ctx: Ctx, form: str | None = None, someone: tuple[str, str] | None = None, work: bool = False) -> list[Piece]:
    """A NAME: in a short message first, full, surname, or a title and surname ("Dr. Patel" tags only "Patel");
    in work email (``work``) also "J. Baker", "Baker, Ann", a handle ("jbaker") or initials ("AB"), full and
    surname-first forms sometimes with a middle initial or a suffix ("Ann K. Baker", "Baker Jr., Ann K.")."""
    if work and not ctx.has("NAME"):  # never an untagged name: a role in its place
        return lit(ctx.draw(F + "names.no_name"))
    first, last = someone or person(ctx)
    form = form or ctx.draw(F + ("names.work_forms" if work else "names.forms"))
    if form == "title":
        title = ctx.draw("words.spoken_titles" if ctx.style == "voice" else "words.titles")
        return lit(title + " ") + ent(last, "NAME")
    if form == "title_full":  # "Dr. Jane Okafor", never "Mrs. John ..."
        return lit(ctx.draw(F + "names.full_titles")) + ent(f"{first} {last}", "NAME")
    if work and form in ("full", "last_first") and ctx.chance(F + "names.middle_initial_rate"):
        first = f"{first} {ctx.pick(ctx.lex[F + 'names.middle_initials'])}."
    if work and form in ("full", "last_first") and ctx.chance(F + "names.suffix_rate"):
        last = f"{last} {ctx.draw(F + 'names.suffixes')}"
    if form == "handle":
        return ent(re.sub(r"[^a-z]", "", fold(first[0] + last).lower()) or "jdoe", "NAME")
    if form == "initials":
        return ent(fold(first[0] + last[0]).upper() or "JD", "NAME")
    return ent(ctx.lex[F + f"names.texts.{form}"].format(first=first, last=last), "NAME")


def who(ctx: Ctx) -> tuple[str, str]:
    """The message's person, whom {pname} and {pemail} share."""
    if ctx.who is None:
        ctx.who = person(ctx)
    return ctx.who


def name_list(ctx: Ctx) -> list[Piece]:
    """Two to four NAMEs, each its own span: "rosa tariq and ken", "Anna, Raj and Li"."""
    n, voice = ctx.draw(F + "names.list_lengths"), ctx.style == "voice"
    spaced = voice and ctx.chance(F + "names.list_spaced")  # no commas or "and" between the first ones
    full = F + ("names.list_full_spaced" if spaced else "names.list_full_voice" if voice else "names.list_full")
    out = name(ctx, "full" if ctx.chance(full) else "first")
    for i in range(1, n):
        if i < n - 1:
            sep = " " if spaced else ", "
        else:  # a bare space before the last one only after two or more: "anna lee" alone reads as one full name
            last_sep = "names.last_sep_voice" if voice else "names.last_sep"
            sep = ctx.draw(F + last_sep + ("_bare" if spaced and n > 2 else ""))
        out += lit(sep) + name(ctx, "full" if ctx.chance(full) else "first")
    return out


def surname_list(ctx: Ctx) -> list[Piece]:
    """ "Lopez, Chen & Baker": each surname its own NAME."""
    n = ctx.rng.randint(2, 4)
    out: list[Piece] = []
    for i in range(n):
        if i:
            out += lit(", " if i < n - 1 else ctx.draw(F + "names.surname_last_sep"))
        out += ent(person(ctx)[1], "NAME")
    return out


def routed_name(ctx: Ctx, someone: tuple[str, str] | None = None) -> list[Piece]:
    """A person as a mail system's routing string writes them ("Ann Lee/NYC/KVRT@KVRT", "Ann Lee@KVRT"): the
    person is a NAME, the site and organisation codes after it are nothing (see the guideline)."""
    if ctx.chance(F + "routing.org_code_rate"):
        org = number(ctx, F + "numbers.org_code")
    else:
        org = fold(company(ctx).split()[0]).upper().strip(".,&") or "CORP"
    route = ctx.form(F + "routing.routes", site=ctx.draw("work_email.site_codes"), org=org)
    return name(ctx, "full", someone, work=True) + lit(route)


def company_word(firm: str) -> str:
    """The first word of a company's name as a domain writes it ("Blue Harbor Partners" -> "blue")."""
    return (re.sub(r"[^a-z ]", "", fold(firm).lower()).split() or ["acme"])[0]


def company(ctx: Ctx) -> str:
    """A company as a signature writes it: "Globex", "Acme Inc.", "Blue Harbor Partners"."""
    firm = ctx.pick(ctx.pools.companies)
    if " " in firm or ctx.chance(F + "companies.alone_rate"):
        return firm
    return f"{firm} {ctx.draw('work_email.company_suffixes')}"


def domain(ctx: Ctx, firm: str | None = None) -> str:
    """A company's domain: "globex.com", "blue.co.uk"."""
    return f"{company_word(firm or ctx.pick(ctx.pools.companies))}.{ctx.draw(F + 'companies.tlds')}"


def email_address(ctx: Ctx, first: str | None = None, last: str | None = None) -> str:
    """An EMAIL, written ("anna.lee@acme.com") or spoken ("anna dot lee at acme dot com")."""
    if first is None:
        first, last = person(ctx)
    f = re.sub(r"[^a-z]", "", fold(first).lower()) or "info"
    la = re.sub(r"[^a-z]", "", fold(last or "").lower()) or "mail"
    work = ctx.chance(F + "emails.work_rate")
    host = ctx.draw("words.work_domains" if work else "words.free_domains")
    n = ctx.rng.randint(1, 99)
    if ctx.register != "written":  # a recogniser never writes "@"
        if work and ctx.chance(F + "emails.spoken_company_rate"):  # "<x> dot <y> at <company> dot org"
            host = f"{company_word(ctx.pick(ctx.pools.companies))}.{ctx.draw('words.free_tlds')}"
        local = ctx.form(F + "emails.spoken_locals", f=f, la=la, nw=number_words(ctx, n % 20))
        return f"{local} at {host.replace('.', ' dot ').replace('-', ' dash ')}"
    local = ctx.form(F + "emails.written_locals", f=f, la=la, n=n)
    if ctx.chance(F + "emails.plus_rate"):
        local = local.replace(".", "+")
    return f"{local}@{host}"


def phone(ctx: Ctx, work: bool = False) -> str:
    """A PHONE: spoken digits, a number from the Faker pool, or (``work``) a number as a signature writes it."""
    if work:
        return number(ctx, F + "numbers.phone")
    if ctx.spoken:
        digits = [ctx.rng.randrange(10) for _ in range(ctx.draw(F + "phones.spoken_lengths"))]
        return " ".join(ctx.lex[F + "language.numbers"].texts[d] for d in digits)
    return ctx.pick(ctx.pools.phones)
