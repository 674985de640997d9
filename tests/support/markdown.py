"""Rendering Markdown the way readers of the postmortem will: CommonMark with GitHub's extensions
(tables, strikethrough, autolinks of URLs and e-mail addresses), with markdown-it-py."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token


def parser() -> MarkdownIt:
    md = MarkdownIt("gfm-like")
    # GFM links `https://…`, `www.…` and e-mail addresses, not bare names such as `README.md`
    md.linkify.set({"fuzzy_link": False})
    return md


MD = parser()
LINE_BREAK_HTML = re.compile(r"<br\s*/?>", re.IGNORECASE)
# what the user's text must never turn into
MARKUP = {"link_open", "image", "html_inline", "html_block", "em_open", "strong_open", "s_open", "code_inline",
          "fence", "code_block", "heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open",
          "hr", "table_open"}


def inline_text(children: list[Token]) -> str:
    """The text a reader sees in one inline run; `<br>` and line breaks are newlines."""
    out = []
    for t in children:
        if t.type in ("text", "code_inline"):
            out.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif t.type == "html_inline" and LINE_BREAK_HTML.fullmatch(t.content):
            out.append("\n")
        elif t.type == "html_inline":
            out.append("")  # shown as markup, not as the text that was typed
    return "".join(out)


def markup(tokens: list[Token]) -> list[str]:
    """Every structure in the rendering (blocks and inline), `<br>` aside."""
    found = []
    for t in tokens:
        if t.type in MARKUP:
            found.append(t.type)
        for child in t.children or []:
            if child.type in MARKUP and not (child.type == "html_inline" and LINE_BREAK_HTML.fullmatch(child.content)):
                found.append(child.type)
    return found


def blocks_text(markdown: str) -> str:
    """The text of a whole document: its paragraphs' text, separated by blank lines."""
    tokens = MD.parse(markdown)
    return "\n\n".join(inline_text(t.children or []) for t in tokens if t.type == "inline")


def table_cells(markdown: str) -> list[list[str]]:
    """The text of each cell of the first table in `markdown`, row by row (header row first)."""
    rows: list[list[str]] = []
    in_cell = False
    for t in MD.parse(markdown):
        if t.type == "tr_open":
            rows.append([])
        elif t.type in ("th_open", "td_open"):
            in_cell = True
        elif t.type in ("th_close", "td_close"):
            in_cell = False
        elif t.type == "inline" and in_cell:
            rows[-1].append(inline_text(t.children or []))
        elif t.type == "table_close":
            break
    return rows
