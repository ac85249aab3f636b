"""Email input for both families: messages as users have them (.eml files, folders of them, mbox files, JSON
lines, plain or pasted raw text) in, ``Message`` objects out, each with the text a model reads.

Two rules shape it:
- Transport and MIME header lines (Received, Message-ID, MIME-Version, Content-*, DKIM-*, most X-*) are never
  shown to a model: their words ("charset", "ascii", relay host names) look like names and times to a tagger.
  Content fields (From, To, Cc, Subject, Date, ...) are read: they hold the people and the dates.
- Offsets index text the user can see.  Plain text (an argument, a line of JSON, a pasted raw message) is
  masked, not cut: ``view`` is ``text`` with the hidden lines blanked to spaces, the same length, so an
  entity found in ``view`` is ``text[start:end]``.  A decoded ``.eml``/mbox message (MIME parts,
  quoted-printable, base64, charsets) has no such original text; its ``text`` is the decoded message
  (content headers, a blank line, the body) and offsets index that.

Quoted replies, "Original Message" blocks, forwards and signatures are kept: they hold names and times.
A message that cannot be read gets an ``error`` and is reported in its place; it never stops the others.
"""

from __future__ import annotations

import email
import mailbox
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TextIO

from small_lm.data import json_lines
from small_lm.io import keep_span_contract


class InputError(ValueError):
    """Input that cannot be read at all (a missing file, undecodable text); the message names the file."""


@dataclass
class Message:
    """One message to read: ``text`` is what offsets index, ``view`` what the model reads (same length)."""

    text: str
    view: str
    source: dict[str, Any]  # {"file": ..., "index" or "line": ..., "message_id": ...}
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # set when there is nothing to read; the models are not run on it


# --- Which header lines a model never sees ---------------------------------------------------------------------------

# Transport and MIME fields: routing, ids, encodings, signatures.  Every other field is content and is read.
TRANSPORT_FIELDS = {
    "received", "return-path", "message-id", "in-reply-to", "references", "mime-version", "delivered-to",
    "envelope-to", "authentication-results", "received-spf", "dkim-signature", "domainkey-signature",
    "precedence", "thread-index", "errors-to", "x-originating-ip", "user-agent",
}  # fmt: skip
TRANSPORT_PREFIXES = ("content-", "arc-", "list-", "x-")
# X- fields that some archives (e.g. mail exported from Lotus Notes or Exchange) use for the people on a message.
PERSON_X_FIELDS = {"x-from", "x-to", "x-cc", "x-bcc"}

HEADER_LINE_RE = re.compile(r"^([!-9;-~]+)[ \t]*:")  # "Name:" (RFC 5322 field name), or "Name :" as tokenised
CONTINUATION_RE = re.compile(r"^[ \t]+\S")  # a folded header line


def is_transport_field(name: str) -> bool:
    name = name.strip().lower()
    if name in PERSON_X_FIELDS:
        return False
    return name in TRANSPORT_FIELDS or name.startswith(TRANSPORT_PREFIXES)


def mask_transport_headers(text: str) -> str:
    """``text`` with every transport/MIME header line (and its folded continuation lines) blanked to spaces.

    The result has the same length and the same line breaks, so offsets found in it index ``text``.  Such lines
    are masked wherever they stand, not only at the top: forwarded and bounced messages repeat them in the body.
    """
    lines = text.splitlines(keepends=True)
    masking = False
    for i, line in enumerate(lines):
        header = HEADER_LINE_RE.match(line)
        if header:
            masking = is_transport_field(header.group(1))
        elif not (masking and CONTINUATION_RE.match(line)):
            masking = False
        if masking:
            body = line.rstrip("\r\n")
            lines[i] = " " * len(body) + line[len(body) :]
    return "".join(lines)


# --- Plain text ------------------------------------------------------------------------------------------------------

RAW_HEADER_RE = re.compile(r"^[!-9;-~]+:[ \t]")


def looks_like_raw_message(text: str) -> bool:
    """True when ``text`` starts with a header block: two or more ``Name: value`` lines (folded lines allowed),
    then a blank line.  Such a text is parsed as a message; anything else is read as it is."""
    count = 0
    for line in text.lstrip("\r\n").splitlines():
        if not line.strip():
            return count >= 2
        if RAW_HEADER_RE.match(line):
            count += 1
        elif not (count and CONTINUATION_RE.match(line)):
            return False
    return False


def needs_decoding(message: EmailMessage) -> bool:
    """A raw message that is not plain text as written: multipart, HTML, quoted-printable, base64 or headers
    in RFC 2047 encoded words."""
    encoding = str(message.get("Content-Transfer-Encoding", "")).strip().lower()
    encoded_words = any("=?" in value and "?=" in value for _, value in message.raw_items())
    return (
        message.is_multipart()
        or message.get_content_type() != "text/plain"
        or encoding in ("quoted-printable", "base64")
        or encoded_words
    )


def from_text(text: str, source: dict[str, Any]) -> Message:
    """A message given as text.  A pasted raw message whose body is encoded is decoded; any other text is masked
    in place, so offsets index ``text`` itself."""
    if looks_like_raw_message(text):
        message = email.message_from_string(text.lstrip("\r\n"), policy=DEFAULT_POLICY)
        if needs_decoding(message):
            return from_email(message, source)
        if message_id := _message_id(message):
            source = {**source, "message_id": message_id}
    if not text.strip():
        return Message(text, text, source, error="empty message: nothing to read")
    return Message(text, mask_transport_headers(text), source)


# --- Decoded messages ------------------------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """Text of an HTML body: block elements become line breaks; script and style are skipped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def decode_part(part: EmailMessage, warnings: list[str]) -> str:
    """The text of a text/* part: transfer encoding undone, then its declared charset (bytes that do not fit it
    are replaced and counted in ``warnings``; an unknown or wrong charset falls back to UTF-8 with a warning)."""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        warnings.append(f"unknown charset {charset!r}; read as UTF-8")
        charset = "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
        if charset != "utf-8":
            warnings.append(f"text is not {charset} as declared; read as UTF-8")
        return text
    except UnicodeDecodeError:
        text = payload.decode(charset, errors="replace")
        warnings.append(f"{text.count(chr(0xFFFD))} bytes that are not {charset} were replaced with U+FFFD")
        return text


def _header_value(value: str) -> str:
    """A header's value as written, unfolded, with RFC 2047 encoded words decoded (kept raw if they are broken)."""
    value = re.sub(r"\r?\n[ \t]+", " ", value).strip()
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # a malformed encoded word or charset: the raw value is still readable
        decoded = value
    # Bytes that were not ASCII in a header come back as surrogates: show them as U+FFFD, not as a crash later.
    return decoded.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _message_id(message: EmailMessage) -> str | None:
    for name, value in message.raw_items():
        if name.lower() == "message-id":
            return _header_value(value).strip() or None
    return None


def render_message(message: EmailMessage, warnings: list[str]) -> str:
    """Content headers, a blank line and the body text; forwarded messages attached whole follow, rendered
    the same way.  Raises ValueError when the message has no text at all."""
    headers = [f"{name}: {_header_value(value)}" for name, value in message.raw_items()]
    headers = [h for h in headers if not is_transport_field(h.split(":", 1)[0])]
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        body = decode_part(body_part, warnings)
        if body_part.get_content_subtype() == "html":
            body = html_to_text(body)
    skipped, forwarded = [], []
    for part in message.iter_attachments() if message.is_multipart() else []:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload(0) if part.is_multipart() else None
            if inner is not None:
                try:
                    forwarded.append(render_message(inner, warnings))
                    continue
                except ValueError:
                    pass
        skipped.append(f"{part.get_filename() or 'unnamed'} ({part.get_content_type()})")
    if skipped:
        warnings.append(f"skipped {len(skipped)} attachment(s): {', '.join(skipped)}")
    if body_part is None and not forwarded:
        kinds = sorted({p.get_content_type() for p in message.walk() if not p.is_multipart()})
        raise ValueError(f"no text part (it holds {', '.join(kinds) or 'nothing'})")
    return "\n".join(headers) + "\n\n" + "\n\n".join([body.strip("\n"), *forwarded]).strip("\n") + "\n"


def from_email(message: EmailMessage, source: dict[str, Any]) -> Message:
    """A parsed message, decoded; a message that cannot be read gets ``error`` instead of raising."""
    if message_id := _message_id(message):
        source = {**source, "message_id": message_id}
    warnings: list[str] = []
    try:
        text = render_message(message, warnings)
    except Exception as err:  # a malformed message must not take the others down with it
        reason = str(err) if isinstance(err, ValueError) else f"cannot decode it ({type(err).__name__}: {err})"
        return Message("", "", source, warnings, error=reason)
    defects = [type(d).__name__ for p in message.walk() for d in p.defects]
    if defects:
        warnings.append(f"malformed message, read as far as possible ({', '.join(sorted(set(defects)))})")
    return Message(text, mask_transport_headers(text), source, warnings)


def from_bytes(raw: bytes, source: dict[str, Any]) -> Message:
    if not raw.strip():
        return Message("", "", source, error="empty message: nothing to read")
    return from_email(email.message_from_bytes(raw, policy=DEFAULT_POLICY), source)


# --- Files and streams -----------------------------------------------------------------------------------------------


def is_mbox(raw: bytes) -> bool:
    return raw.startswith(b"From ")


def read_mbox(path: Path, name: str | None = None) -> Iterator[Message]:
    """Every message of an mbox file, in order; one that cannot be read is reported by its index."""
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.keys()):
            source = {"file": name or str(path), "index": index}
            try:
                raw = box.get_bytes(key)
            except Exception as err:  # a damaged entry: report it, keep reading the others
                yield Message("", "", source, error=f"cannot read this message of the mbox ({err})")
                continue
            yield from_bytes(raw, source)
    finally:
        box.close()


def read_text(raw: str, name: str, split_blank_lines: bool = False) -> list[Message]:
    """JSON lines with "text" (a message each), else one message; ``split_blank_lines``: one per paragraph."""
    lines = [line for line in raw.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("{") for line in lines):
        messages = []
        for n, record in json_lines(raw, lambda n, err: InputError(f"{name}: line {n}: not valid JSON ({err.msg})")):
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise InputError(f"{name}: line {n}: expected an object with a string field 'text'")
            messages.append(from_text(record["text"], {"file": name, "line": n}))
        return messages
    if split_blank_lines:
        blocks = [b.strip() for b in re.split(r"\n[ \t]*\n", raw) if b.strip()]
        return [from_text(block, {"file": name, "index": i}) for i, block in enumerate(blocks)]
    return [from_text(raw, {"file": name})]


def read_raw(raw: bytes, name: str, split_blank_lines: bool = False) -> list[Message]:
    """The messages in the bytes of a file or stream: an mbox, an .eml message, JSON lines, or text."""
    if not raw.strip():
        return [Message("", "", {"file": name}, error="empty input: nothing to read")]
    if is_mbox(raw):
        with tempfile.TemporaryDirectory() as folder:  # mailbox reads files; a stream is copied to one first
            path = Path(folder) / "messages.mbox"
            path.write_bytes(raw)
            return list(read_mbox(path, name))
    if name.lower().endswith(".eml"):
        return [from_bytes(raw, {"file": name})]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if looks_like_raw_message(raw.decode("latin-1")):  # a raw message in a legacy charset: MIME decodes it
            return [from_bytes(raw, {"file": name})]
        raise InputError(f"{name}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    return read_text(text, name, split_blank_lines)


def read_file(path: Path, split_blank_lines: bool = False) -> list[Message]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror})") from None
    if is_mbox(raw):
        return list(read_mbox(path))
    return read_raw(raw, str(path), split_blank_lines)


def _names_a_file(text: str) -> bool:
    """Whether a command-line argument is the path of an existing file (a long text is no path: the OS refuses)."""
    if "\n" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        return False


def read_messages(
    texts: Sequence[str], file: str | None, split_blank_lines: bool = False, stdin: TextIO | None = None
) -> list[Message]:
    """Messages from command-line arguments, else ``file`` (a file, or a folder of .eml files; "-" for standard
    input), else standard input.  A text file holds one message unless ``split_blank_lines``.

    An argument that names an existing file is read as that file (said on stderr): ``infer_bert.py MODEL mail.eml``
    means the email, not the words of its path."""
    if texts:
        messages = []
        for i, text in enumerate(texts):
            if _names_a_file(text):
                print(f"reading {text} as a file (it exists); pipe text on stdin to tag the words", file=sys.stderr)
                messages += read_file(Path(text), split_blank_lines)
            else:
                messages.append(from_text(text, {"file": "<argument>", "index": i}))
        return messages
    if file and file != "-":
        path = Path(file)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
            if not files:
                raise InputError(f"{path}: a folder with no .eml files")
            return [m for f in files for m in read_file(f)]
        return read_file(path, split_blank_lines)
    stdin = stdin or sys.stdin
    if stdin.isatty():
        print("Reading a message from standard input (Ctrl-D to finish)...", file=sys.stderr)
    buffer = getattr(stdin, "buffer", None)
    raw = buffer.read() if buffer is not None else stdin.read().encode("utf-8")
    return read_raw(raw, "<stdin>", split_blank_lines)


# --- Running a model on messages -------------------------------------------------------------------------------------


def without_masked_lines(view: str) -> tuple[str, list[int]]:
    """``view`` without its blanked lines (a model need not read runs of spaces), and for each character kept its
    offset in ``view``, to map predicted offsets back."""
    kept, where, position = [], [], 0
    for line in view.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        if not (content and content.isspace()):
            kept.append(line)
            where.extend(range(position, position + len(line)))
        position += len(line)
    return "".join(kept), where


def gold_messages(examples: Sequence[dict[str, Any]]) -> list[Message]:
    """Each gold example's text as the infer scripts read a pasted message: transport and MIME header lines masked
    in place, so that predicted offsets (mapped back by ``predict_messages``) index the gold text."""
    return [Message(x["text"], mask_transport_headers(x["text"]), {"id": x.get("id")}) for x in examples]


def predict_messages(tagger: Any, messages: Sequence[Message], **kwargs: Any) -> list[dict[str, Any]]:
    """``tagger.predict`` on the readable messages; one prediction per message, in order.

    The model reads each message's view without its blanked lines; offsets are mapped back, so each prediction
    carries the message's ``text`` (what its offsets index) and ``source``; the reader's warnings join the
    model's in ``warning``; a message that could not be read gets its ``error`` and is not run.
    """
    readable = [m for m in messages if m.error is None]
    shown = [without_masked_lines(m.view) for m in readable]
    predicted = iter(tagger.predict([text for text, _ in shown], **kwargs) if readable else [])
    where = iter(shown)
    out = []
    for message in messages:
        if message.error is not None:
            prediction = {"text": message.text, "intent": None, "intent_score": None, "entities": []}
            prediction["error"] = message.error
        else:
            prediction, (shown, offsets) = next(predicted), next(where)
            # On the text the model read, every entity within one line; a line of it is one piece of the message's
            # text, so each maps back whole, never across the hidden lines between.
            entities = keep_span_contract(shown, prediction["entities"])
            for entity in entities:
                entity["start"], entity["end"] = offsets[entity["start"]], offsets[entity["end"] - 1] + 1
                entity["text"] = message.text[entity["start"] : entity["end"]]
            prediction["text"], prediction["entities"] = message.text, entities
        warnings = [*message.warnings, *([prediction["warning"]] if prediction.get("warning") else [])]
        if warnings:
            prediction["warning"] = "; ".join(warnings)
        prediction["source"] = message.source
        out.append(prediction)
    return out


def add_input_arguments(parser: Any, family_script: str) -> None:
    """The arguments every script that reads emails takes, spelled once: the checkpoint, then the emails (texts,
    ``--file`` or standard input, see ``read_messages``) and how to print them."""
    parser.add_argument("model", help=f"checkpoint folder written by {family_script}")
    parser.add_argument("texts", nargs="*", help="emails to read (default: --file or standard input)")
    parser.add_argument("--file", help="an mbox, .eml, folder of .eml, JSON lines with 'text', or one text message")
    parser.add_argument("--split-blank-lines", action="store_true", help="a text file holds emails between blank lines")
    parser.add_argument("--json", action="store_true", help="print one JSON object per email and line")
