"""The annotation guideline: what each entity type covers.  One text, used by the LLM prompt, the offline
generator's templates and the README, so that every source of data tags the same way."""

ANNOTATION_GUIDELINE = """\
Annotation guideline (entity spans are exact substrings of the message):
- DATE: a day or a range of days, with the words that make it specific: "tomorrow", "today", "next saturday",
  "this friday", "June 3rd", "3/6", "2024-06-03", "the 14th", "this week", "next month", "monday to wednesday"
  (a range is one span, and so is a span of days counted from now: "the next five days", "a week from today").
  Leave out the preposition before it ("on", "by", "for", "until").
- TIME: a clock time or a range of times: "3pm", "15:30", "nine am", "half past two", "noon", "midnight",
  "10-11am" (one span). Leave out "at", "from", "around". A part of the day alone is not a TIME, since a
  scheduler cannot book it: "morning", "tonight", "this afternoon" stay untagged, so "tomorrow morning" is
  DATE "tomorrow" and nothing else.
- NAME: a person's name: first, last or full ("Priya", "Mr Okafor" -> "Okafor", "Jean-Luc Picard"); in
  "Dan's birthday" only "Dan". Not a
  title alone, not "mom", "my boss", "the team", not a company, a place or an assistant's wake word
  ("alexa", "siri", "olly").
- EMAIL: an email address, written ("ana.r@example.com") or spoken ("joe at gmail dot com").
- Not entities: durations ("for 30 minutes", "an hour"), recurring phrases ("every monday", "weekly"),
  events, holidays and meeting names ("standup", "the offsite", "christmas", "valentine's day"), places
  ("room 4B", "Berlin", "a holiday in cuba"), greetings and
  sign-offs, and entity-like words used otherwise ("May I ask", "Will", "a date with the dentist").
Intents: "inquiry" asks to schedule, check or learn about a meeting or availability; "cancel" calls off a
meeting or appointment.
"""
