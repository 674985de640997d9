"""An action item as Jira wants it (pure): the description in Atlassian Document Format, in which every
piece of user text is a plain `text` node (never a link mark, a mention or an inline card), the
one-line summary, labels, and strings quoted for JQL. bot/trackers/jira.py sends them."""

from __future__ import annotations

import json
import re

from bot.trackers.base import NewIssue

SUMMARY_MAX = 255  # Jira's summary limit
DESCRIPTION_MAX = 32_000  # Jira refuses a description whose document exceeds 32,767 characters
# control characters, and the bidi controls that would show text in another order than it is stored
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"
                      "\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MD_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])|&lt;|<br>")


# -- Atlassian Document Format ------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Text for an ADF text node or a summary: no control characters (tabs become spaces)."""
    return _CONTROL.sub(" ", text.replace("\t", " "))


def text_nodes(text: str) -> list[dict]:
    """Plain text as inline ADF: one `text` node per line, `hardBreak` between them. Nothing in the text
    is interpreted: a URL, `@name`, `[x](y)` or `<b>` stays the characters typed."""
    nodes: list[dict] = []
    lines = clean_text(text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    for i, line in enumerate(lines):
        if i:
            nodes.append({"type": "hardBreak"})
        if line:
            nodes.append({"type": "text", "text": line})
    while nodes and nodes[-1]["type"] == "hardBreak":
        nodes.pop()
    return nodes


def paragraph(*inline: dict) -> dict:
    return {"type": "paragraph", "content": list(inline)} if inline else {"type": "paragraph"}


def link(text: str, href: str) -> dict:
    return {"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": href}}]}


def markdown_to_plain(markdown: str) -> str:
    """The Markdown the bot writes for GitHub (user text escaped) back to the text it shows."""
    def sub(m: re.Match) -> str:
        if m.group(1) is not None:
            return m.group(1)
        return "<" if m.group() == "&lt;" else "\n"
    return _MD_UNESCAPE.sub(sub, markdown)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def description(new: NewIssue) -> dict:
    """The issue's description as an ADF document, at most DESCRIPTION_MAX characters of JSON (a long
    item is cut). User text (the item, the incident's title, the owner's name) only ever fills plain
    text nodes."""
    text = new.text if new.text else markdown_to_plain(new.body)
    limit = len(text)
    while True:
        doc = _description(new, cut(text, limit))
        size = len(json.dumps(doc, ensure_ascii=False))
        if size <= DESCRIPTION_MAX or limit <= 1:
            return doc
        limit = max(1, min(limit - 1, int(limit * DESCRIPTION_MAX / size) - 100))


def _description(new: NewIssue, text: str) -> dict:
    content: list[dict] = []
    for block in text.strip().split("\n\n"):
        nodes = text_nodes(block.strip("\n"))
        if nodes:
            content.append(paragraph(*nodes))
    if new.incident_ref or new.incident_title:
        about = " ".join(p for p in (new.incident_ref, cut(new.incident_title, 500)) if p)
        line = [{"type": "text", "text": "Action item from incident "}, *text_nodes(about.replace("\n", " "))]
        if new.link and re.match(r"https?://", new.link):
            line += [{"type": "text", "text": " — "}, link("incident channel in Slack", new.link)]
        content.append(paragraph(*line))
    facts = []
    if new.owner_name:
        facts.append(f"Owner: {cut(new.owner_name, 200)}")
    if new.due:
        facts.append(f"Due: {new.due.isoformat()}")
    if facts:
        content.append(paragraph(*text_nodes("\n".join(facts))))
    return {"type": "doc", "version": 1, "content": content or [paragraph()]}


def summary(title: str) -> str:
    """One line of at most 255 characters: Jira refuses line breaks in a summary."""
    return cut(" ".join(clean_text(title).split()), SUMMARY_MAX) or "Action item"


def label(value: str) -> str:
    """A Jira label: no white space (Jira refuses it), at most 255 characters."""
    return "_".join(clean_text(value).split())[:255]


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
