"""User text in the postmortem draft: rendered by a CommonMark + GFM parser it reads exactly as typed
(nothing becomes a heading, list, emphasis, link, HTML or table break), and unrendered (people open
the uploaded `.md` as text) it carries no backslash that did not need to be there."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import text as T
from bot.drafting import render
from bot.timeline import Item
from tests.bot.test_drafting import T0, fixture_incident
from tests.support.markdown import MD, blocks_text, inline_text, markup, table_cells

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")


def typed_lines(s: str) -> list[str]:
    """What the reader should see, line by line: Markdown shows no control characters and drops the
    spaces and tabs at either end of a line."""
    s = CONTROL.sub(" ", s.replace("\r\n", "\n").replace("\r", "\n"))
    return [line.strip() for line in s.split("\n")]


def as_paragraphs(s: str) -> str:
    paragraphs, current = [], []
    for line in [*typed_lines(s), ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    return "\n\n".join(paragraphs)


HOSTILE = [
    "# heading", "## closed ##", "bug #", "> quote", "- item", "+ item", "* item", "1. first", "12) twelfth",
    "***", "- - -", "___", "text\n===", "text\n---", "```\ncode\n```", "~~~", "    indented code",
    "*em* **strong** _em_ __strong__ ~~gone~~ ~gone~", "`code`", "a | b | c", "[x](https://evil.example)",
    "![img](https://evil.example/x.png)", "[ref]: https://evil.example", "[x][ref]", "[^1]: note", "<b>bold</b>",
    "<script>alert(1)</script>", "<!-- comment -->", "<https://evil.example>", "<a@evil.example>",
    "https://evil.example/path", "www.evil.example", "mail me: a.b+c@evil.example", "//evil.example",
    "&amp; &lt; &#60; &#x3C; &copy;", "back\\slash \\* \\", "trailing\\", "two spaces  \nbreak",
    "{{ secret }} {% if x %} {# c #} {{{", "a\n\n\nb", "\ttabbed\n  spaced  ", "é ß 🔥 \u200b", "a_b_c snake_case_",
    "5 * 3 * 2", "x ~ y ~ z", "[unbalanced", "unbalanced]", "a [b] c", "<5% < 10%", "a<b>c",
]


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_text_renders_as_typed_in_a_paragraph(typed):
    escaped = T.escape_markdown(typed, inline=False)
    assert blocks_text(escaped) == as_paragraphs(typed), escaped
    assert markup(MD.parse(escaped)) == [], escaped


def check_everywhere(typed: str) -> None:
    """Every place a template puts user text: a document of its own, a quote, a table cell, a heading,
    after a bold label in a list item."""
    block = T.escape_markdown(typed, inline=False)
    inline = T.escape_markdown(typed)
    lines = "\n".join(typed_lines(typed))

    assert blocks_text(block) == as_paragraphs(typed), block
    assert markup(MD.parse(block)) == [], block

    quoted = "> " + block.replace("\n", "\n> ")
    assert blocks_text(quoted) == as_paragraphs(typed), quoted
    assert markup(MD.parse(quoted)) == ["blockquote_open"], quoted

    table = f"| Time | Event |\n|---|---|\n| 14:05 | {inline} |\n| 14:06 | next |\n"
    assert table_cells(table) == [["Time", "Event"], ["14:05", lines],
                                  ["14:06", "next"]], table
    assert markup(MD.parse(table)) == ["table_open"], table

    heading = MD.parse(f"# INC-7: {inline}\n")
    assert [t.type for t in heading][:1] == ["heading_open"] and markup(heading) == ["heading_open"], inline
    assert inline_text(heading[1].children) == ("INC-7: " + lines).rstrip(" "), inline

    item = MD.parse(f"- **Nature:** {inline}\n")
    assert markup(item) == ["bullet_list_open", "strong_open"], inline
    assert inline_text(item[3].children) == ("Nature: " + lines).rstrip(" "), inline


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_text_renders_as_typed_wherever_a_template_puts_it(typed):
    check_everywhere(typed)


@given(st.text(max_size=200))
@example("a\\\n*b*")
@example("x_\n_y")
def test_any_text_renders_as_typed_wherever_a_template_puts_it(typed):
    check_everywhere(typed)


MARKDOWNISH = st.lists(st.sampled_from([*"#>-+*_~`|[]()!<>&;:/@.{}%=\\ \n\tabc123", "www.", "http://", "&amp;", "{{",
                                       "1.", "  ", "\n\n"]), max_size=30).map("".join)


@given(st.lists(st.sampled_from(HOSTILE) | MARKDOWNISH, max_size=6).map("".join))
def test_markdown_heavy_text_renders_as_typed_wherever_a_template_puts_it(typed):
    check_everywhere(typed)


# --- ordinary text reads cleanly ---------------------------------------------------------------

ORDINARY = [
    "Rolled back deploy 4.2.1 (canary) - error rate fell to 0.5% within 3 min.",
    "Checkout returned 500s for ~12% of orders; EU and US-East only.",
    "Root cause: the new cache (behind flag checkout.cache_v2) was enabled for everyone at 14:05.",
    "We paged @dana, who restarted payments-api on hosts 10.0.3.4/5. It's fine now!",
    "Why? Nobody noticed the alert: it went to #old-alerts, not #incidents.",
    "Latency p99 > 2 s and < 5 s; 3/4 of requests retried (see dashboard \"Checkout\").",
    "Impact: 1,240 customers; refunds issued = yes; follow-up owner: ops-team.",
]


@pytest.mark.parametrize("sentence", ORDINARY)
def test_ordinary_sentences_keep_no_backslash(sentence):
    assert T.escape_markdown(sentence) == sentence
    assert T.escape_markdown(sentence, inline=False) == sentence
    check_everywhere(sentence)


WORD = st.from_regex(r"[A-Za-z][a-z]{0,9}|[0-9]{1,4}(\.[0-9]{1,3}){0,2}%?|[0-9]{1,2}:[0-9]{2}|[a-z]+-[a-z]+|"
                     r"[a-z]+_[a-z]+|@[a-z]{2,8}|#[a-z-]{2,12}|[a-z]+/[a-z]+", fullmatch=True)
PUNCTUATED = st.tuples(st.sampled_from(["", "(", "\""]), WORD, st.sampled_from(["", ".", ",", ";", ":", "!", "?", ")",
                                                                                "\"", "'s", "...", "%"])).map("".join)
SENTENCE = st.tuples(st.from_regex(r"[A-Z][a-z]{1,8}", fullmatch=True),
                     st.lists(st.one_of(PUNCTUATED, st.sampled_from(["-", "~", "<", ">", "=", "&", "*", "/"])),
                              max_size=15)).map(lambda t: " ".join([t[0], *t[1]]) + ".")


@given(SENTENCE)
def test_ordinary_sentences_of_any_shape_keep_no_backslash(sentence):
    assert "\\" not in T.escape_markdown(sentence), sentence
    check_everywhere(sentence)


def test_jinja_and_link_markers_do_not_survive_unrendered():
    """Pasted into a tool that runs templates or links bare URLs, the draft's user text stays inert."""
    out = T.escape_markdown("{{ config }} {%raw%} {#x#} https://evil.example www.evil.example a@evil.example")
    assert "{{" not in out and "{%" not in out and "{#" not in out
    assert "https://" not in out and "www." not in out and "a@evil" not in out


# --- through the real templates -----------------------------------------------------------------


@given(st.text(max_size=120))
def test_a_log_line_reads_as_typed_in_the_drafted_timeline(typed):
    """What a person logged (as Slack delivers it, encoded) shows in the draft's timeline cell exactly."""
    items = [Item(time=T0, kind="log", text=T.encode(typed), key=True, author="U1")]
    md = render(fixture_incident(timeline=items, milestones={}), "default")
    timeline = table_cells(md[md.index("| Time | Event"):])
    shown = "\n".join(typed_lines(typed))
    assert timeline[1] == ["13:00", shown or "(no text)", "@alice"]
    table = md[md.index("| Time | Event"):].split("\n\n", 1)[0]
    assert markup(MD.parse(table)) == (["table_open"] if shown else ["table_open", "em_open"])
