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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
# control characters, and characters some viewers take as line breaks: a space each in the draft
_MD_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")


def mrkdwn_cut(encoded: str, limit: int, names: NameLookup | Mapping[str, str] | None = None,
               ellipsis: str = "…") -> str:
    """`mrkdwn()` of at most `limit` characters (escapes included), cut in the plain text: plain, then
    cut, then escape, so a cut never splits an `&amp;` or a `<…>` token."""
    text = plain(encoded, names)
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


def escape_markdown(text: str, *, inline: bool = True) -> str:
    """Escape Markdown so user text renders literally, including inside a table cell.

    `&`, `<` and `>` become HTML entities (no raw HTML, no autolink markup), Markdown punctuation is
    backslash-escaped, and (inline) line breaks become `<br>` so a cell stays on one row.
    """
    text = _MD_CONTROL.sub(" ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("\\>", "&gt;")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if inline:
        text = text.replace("\n", "<br>")
    return text


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


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut text to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def user_ids_in(encoded: str) -> list[str]:
    """Slack user ids mentioned as `<@U…>` tokens, in order."""
    ids = []
    for m in _TOKEN.finditer(encoded):
        target = m.group(1).partition("|")[0]
        if target.startswith("@") and len(target) > 1:
            ids.append(target[1:])
    return ids
