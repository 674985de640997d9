"""User text in and out: Slack's wire format, and safe renderings of it.

Everything the bot stores is in Slack's own encoding (what message events and slash commands
deliver): `&`, `<`, `>` escaped, and special tokens such as `<@U123|bob>`, `<!channel>` or
`<https://x|label>`. Modal input arrives raw and is encoded with `encode()` before it is stored.

On the way out, user text is never echoed as a live token: mentions become plain `@name`,
broadcasts become `@channel`, links become `label (url)`. `mrkdwn()` is for Slack messages,
`markdown()` for the postmortem draft, `plain()` for the CLI and JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_TOKEN = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_BROADCASTS = {"channel", "here", "everyone"}

NameLookup = Callable[[str], str | None]


def encode(raw: str) -> str:
    """Raw text (as typed into a modal) to Slack's encoding: `&`, `<`, `>` escaped, `&` first."""
    return raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def storable(text: str) -> str:
    """Text as it can be stored in any database: NUL (which PostgreSQL refuses in text) shown as U+FFFD."""
    return text.replace("\x00", "\ufffd")


def decode(encoded: str) -> str:
    """Undo Slack's three escapes in one pass (so `&amp;lt;` stays the text `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], encoded)


def _readable(token: str, names: NameLookup | None) -> str:
    """The plain-text reading of the inside of one `<...>` token (still Slack-encoded)."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        name = label or (names(user_id) if names else None)
        return "@" + (name or user_id)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        word = target[1:]
        if word in _BROADCASTS:
            return "@" + word
        if word.startswith("subteam^"):
            return label if label.startswith("@") else "@" + (label or word.split("^", 1)[1])
        return label or word
    if not target:
        return label
    url = target
    if url.startswith("mailto:"):
        address = url[len("mailto:"):]
        return address if not label or label == address else f"{label} ({address})"
    if not label or label == url or label == url.split("://", 1)[-1]:
        return url
    return f"{label} ({url})"


def plain(encoded: str, names: NameLookup | Mapping[str, str] | None = None) -> str:
    """The human text: tokens made readable, entities decoded. Never contains a live token."""
    lookup: NameLookup | None
    if isinstance(names, Mapping):
        lookup = names.get
    else:
        lookup = names
    return decode(_TOKEN.sub(lambda m: _readable(m.group(1), lookup), encoded))


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters in text that will be sent as mrkdwn."""
    return encode(text)


def mrkdwn(encoded: str, names: NameLookup | Mapping[str, str] | None = None) -> str:
    """Stored text made safe to put in a Slack mrkdwn field: nobody is pinged, no link lies."""
    return escape_mrkdwn(plain(encoded, names))


# control characters, and characters some viewers take as line breaks: a space each in the draft
_MD_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def mrkdwn_cut(encoded: str, limit: int, names: NameLookup | Mapping[str, str] | None = None,
               ellipsis: str = "…") -> str:
    """`mrkdwn()` of at most `limit` characters (escapes included), cut in the plain text: plain, then
    cut, then escape, so a cut never splits an `&amp;` or a `<…>` token."""
    return escape_mrkdwn_cut(plain(encoded, names), limit, ellipsis)


def escape_mrkdwn_cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """`escape_mrkdwn(text)` in at most `limit` characters: plain text is cut first, then escaped, so
    the reader never sees half an entity (`&lt;b&…`). The cut is marked with `ellipsis`."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    budget, size, kept = limit - len(ellipsis), 0, 0
    for ch in text:
        size += len(escape_mrkdwn(ch))
        if size > budget:
            break
        kept += 1
    return escape_mrkdwn(text[:kept]) + ellipsis


_LINE_START_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_LINE_START_BULLET = re.compile(r"[-+*](?:[ \t]|$)")
_LINE_START_ORDERED = re.compile(r"\d{1,9}([.)])(?:[ \t]|$)")
_THEMATIC_BREAK = re.compile(r"([-*_])(?:[ \t]*\1){2,}[ \t]*")
_SETEXT_UNDERLINE = re.compile(r"=+[ \t]*|-+[ \t]*")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t])(#+)[ \t]*$")
_ENTITY_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9._+-]")
_MD_CANDIDATE = re.compile(r"[\\`|*_~\[\]<&:/@.{%#]")
_DELIMITER = re.compile(r"[*_~]")
_BRACKET = re.compile(r"[\[\]]")
# the first characters of the lines _line_start_escapes() acts on (besides lines with a `#` anywhere)
_BLOCK_START = frozenset("#>-+*_=`~0123456789")


def _brackets_to_escape(text: str) -> set[int]:
    """Positions of `[` and `]` that could make a link: unmatched ones (they would pair with brackets
    around the text), and a matched `]` followed by `(`, `[` or `:` (an inline link or a definition)."""
    escape, open_at = set(), []
    for m in _BRACKET.finditer(text):
        i, ch = m.start(), m.group()
        if ch == "[":
            open_at.append(i)
        elif ch == "]":
            if open_at:
                open_at.pop()
                if text[i + 1:i + 2] in ("(", "[", ":"):
                    escape.add(i)
            else:
                escape.add(i)
    return escape | set(open_at)


def _delimiters_to_escape(text: str) -> set[int]:
    """Positions of `*`, `_` and `~` that could open or close emphasis or strikethrough.

    Between spaces (`5 * 3`) such a character can do neither, nor can an underscore between letters
    or digits (`snake_case`); and one that could, alone of its kind, has nothing to pair with.
    """
    found: dict[str, list[int]] = {"*": [], "_": [], "~": []}
    for m in _DELIMITER.finditer(text):
        i, ch = m.start(), m.group()
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        spaced = (not prev or prev.isspace()) and (not nxt or nxt.isspace())
        if not spaced and not (ch == "_" and prev.isalnum() and nxt.isalnum()):
            found[ch].append(i)
    return {i for positions in found.values() if len(positions) >= 2 for i in positions}


def _line_start_escapes(line: str) -> set[int]:
    """Positions to escape so a line cannot start a block: heading, quote, list, rule, fence, table."""
    if line[:1] not in _BLOCK_START and "#" not in line:  # most lines: none of the patterns below can match
        return set()
    at: set[int] = set()
    if _LINE_START_HEADING.match(line) or line[:1] == ">" or _LINE_START_BULLET.match(line):
        at.add(0)
    if _THEMATIC_BREAK.fullmatch(line) or _SETEXT_UNDERLINE.fullmatch(line) or line.startswith(("```", "~~~")):
        at.add(0)
    ordered = _LINE_START_ORDERED.match(line)
    if ordered:
        at.add(ordered.start(1))
    closing = _CLOSING_HASHES.search(line)  # `## title ##`: trailing hashes close an ATX heading
    if closing:
        at.add(closing.start(1))
    return at


def _escaped_at(line: str, positions: set[int]) -> str:
    """`line` with the characters at `positions` escaped: a backslash before each, `&lt;` for a `<`
    (not `\\<`: a tag stays inert even where the text is pasted unrendered)."""
    pieces, last = [], 0
    for i in sorted(positions):
        pieces += [line[last:i], "&lt;" if line[i] == "<" else "\\" + line[i]]
        last = i + 1
    return "".join(pieces) + line[last:]


def escape_markdown(text: str, *, inline: bool = True) -> str:
    """User text as CommonMark + GFM that renders as exactly that text, and reads cleanly unrendered.

    Only what would change the rendering is escaped, in its context: block starts at the start of a
    line (`#`, `>`, list markers, rules, fences), emphasis and strikethrough only when there is
    something they could pair with, link brackets, backticks, `|` (tables), raw HTML and autolinks,
    entity references, bare URLs, e-mail addresses and `www.` (GFM would link them), and Jinja's
    `{{`, `{%`, `{#`. `deploy 4.2 (canary) - rolled back.` stays as typed. Control characters become
    spaces; each line loses the white space at its ends (Markdown drops them anyway, and
    leading ones would make code blocks); line breaks become `<br>` when `inline` (a table cell).
    """
    text = _MD_CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.strip() for line in text.split("\n")]
    whole = "\n".join(lines)
    delimiters = _delimiters_to_escape(whole) if _DELIMITER.search(whole) else set()
    brackets = _brackets_to_escape(whole) if _BRACKET.search(whole) else set()
    last_angle = whole.rfind(">")  # `<x@y.example>` needs a `>` after it to be an autolink
    out, offset = [], 0
    for line in lines:
        escaped = _line_start_escapes(line)
        n = len(line)
        for m in _MD_CANDIDATE.finditer(line):  # the only characters that may need it anywhere
            i, ch = m.start(), m.group()
            prev = line[i - 1] if i else ""
            nxt = line[i + 1] if i + 1 < n else ""
            if ch == "\\":
                escape = nxt == "" or nxt in _ASCII_PUNCTUATION
            elif ch in "`|":
                escape = True
            elif ch in "*_~":
                escape = offset + i in delimiters
            elif ch in "[]":
                escape = offset + i in brackets
            elif ch == "<":
                tag = nxt.isalpha() or nxt in ("/", "!", "?")  # HTML: `<b>`, `</b>`, `<!--`, `<?`
                escape = tag or (bool(nxt) and not nxt.isspace() and offset + i < last_angle)
            elif ch == "&":
                escape = bool(_ENTITY_REF.match(line, i))
            elif ch == ":":
                escape = line.startswith("//", i + 1) and prev.isalnum()  # https://…, a bare URL
            elif ch == "/":
                escape = nxt == "/" and prev not in (":", "/")  # //host, a scheme-less URL
            elif ch == "@":
                escape = bool(prev) and bool(_EMAIL_LOCAL.match(prev)) and nxt.isalnum()  # a@b.example
            elif ch == ".":
                escape = line[max(0, i - 3):i].lower() == "www" and (i == 3 or not line[i - 4].isalnum())
            elif ch == "{":
                escape = nxt in ("{", "%", "#") or prev == "{"  # no Jinja tag survives into the draft
            else:  # `%`, `#`
                escape = prev == "{"
            if escape:
                escaped.add(i)
        out.append(_escaped_at(line, escaped) if escaped else line)
        offset += n + 1
    return ("<br>" if inline else "\n").join(out)


def markdown(encoded: str, names: NameLookup | Mapping[str, str] | None = None, *, inline: bool = True) -> str:
    """Stored text made safe for the Markdown postmortem."""
    return escape_markdown(plain(encoded, names), inline=inline)


_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# control characters (ESC starts terminal sequences) and bidi controls that reorder what is shown
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """Plain text for one line of terminal output: line breaks shown as ⏎, tabs as spaces, control
    and bidi characters as visible escapes, so user text can neither add rows nor drive the terminal."""
    text = _LINE_BREAK.sub(" ⏎ ", text).replace("\t", " ")
    return _TERMINAL_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_OPEN_ESCAPE = re.compile(r"&[A-Za-z#0-9]*$|<[^<>]*$")


def cut_mrkdwn(escaped: str, limit: int, ellipsis: str = "…") -> str:
    """Text already escaped for mrkdwn cut to at most `limit` characters, never inside an entity
    (`&lt;`) or a token (`<@U1>`, `<!date^…>`): a last resort; cut user text before escaping it."""
    if len(escaped) <= limit:
        return escaped
    head = escaped[: max(0, limit - len(ellipsis))]
    open_escape = _OPEN_ESCAPE.search(head)
    if open_escape:
        head = head[: open_escape.start()]
    return head + ellipsis


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut text to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis
