"""The annotation guideline: what each entity type covers.  One text, used by the LLM prompt, the offline
generator's templates and the README, so that every source of data tags the same way."""

ANNOTATION_GUIDELINE = """\
Annotation guideline (entity spans are exact substrings of the message, and an entity never crosses a line
break: names listed one a line are one entity each; a header folded onto indented lines is still one header):
- DATE: a day or a range of days, with the words that make it specific: "tomorrow", "today", "next saturday",
  "this friday", "June 3rd", "3/6", "2024-06-03", "Thursday, May 4th", "04-May-95", "the 14th", "this week",
  "next month", "monday to wednesday" (a range is one span, and so is a span of days counted from now: "the
  coming three days", "ten days from now"). Leave out the preposition before it ("on", "by", "for", "until").
- TIME: a clock time or a range of times: "3pm", "15:30", "3:30 p.m.", "1530 hrs", "10am CST", "nine am",
  "half past two", "noon", "midnight", "10-11am", "4:00 - 5:30" (a range is one span). Leave out "at", "from",
  "around". A part of the day alone is not a TIME, since a scheduler cannot book it: "morning", "tonight",
  "this afternoon" stay untagged, so "tomorrow morning" is DATE "tomorrow" and nothing else.
- NAME: a person's name as people write it: first, last or full ("Priya", "Jean-Luc Picard"), a surname alone
  or an initial and surname ("Okafor", "J. Okafor", "Mr Okafor" -> "Okafor"), a person's handle or initials
  ("jokafor", "JO"), a name written surname first ("Okafor, Jane" is one NAME), a name in capitals ("JANE
  OKAFOR"), a display name in a header ("From: Jane Okafor <jane.okafor@example.com>"), and the person in a mail
  system's routing string ("Jane Okafor/NYC/ACME@ACME" is NAME "Jane Okafor"; the codes after it are nothing);
  in "Dan's birthday" only "Dan". Not a title alone, not "mom", "my boss", "the team", not an organisation, a
  department, a product or a project, not a place or an assistant's wake word ("alexa", "siri", "olly").
- EMAIL: an email address, written ("ana.r@example.com") or spoken ("joe at example dot com"); a name inside
  an address is part of the EMAIL, not a NAME.
- Not entities: when a message was sent, posted or forwarded (a "Date:" or "Sent:" header, "On Mon, May 4, 2023
  at 9:12 AM Ana wrote:", "Posted by Ana at 12:24", "Forwarded by Ana Diaz on 05/04/2023 09:12 AM"), durations
  ("for 30 minutes", "an hour"), recurring phrases ("every monday", "weekly"), events, holidays and meeting names
  ("standup", "the offsite", "christmas", "valentine's day"), places ("room 4B", "Berlin", "a trip to Lisbon"),
  numbers that are not days or clock times (room, building and phone numbers, extensions, amounts, percentages,
  versions, counts, ids, zip codes), greetings and sign-offs, and entity-like words used otherwise ("May I ask",
  "Will", "a date with the dentist").
Intents: "inquiry" asks to schedule, check or learn about a meeting or availability; "cancel" calls off a
meeting or appointment.
"""
