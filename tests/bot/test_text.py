"""Echoed user text never pings anyone and no link lies about its target."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import text as T

LIVE_TOKEN = re.compile(r"<[@#!]|<https?:|<mailto:")


@pytest.mark.parametrize(
    "encoded, shown",
    [
        ("ping <!channel> now", "ping @channel now"),
        ("<!here|here> and <!everyone>", "@here and @everyone"),
        ("ask <@U123|bob>", "ask @bob"),
        ("ask <@U123>", "ask @U123"),
        ("see <#C123|general>", "see #general"),
        ("team <!subteam^S123|@oncall>", "team @oncall"),
        ("<https://evil.example|click here>", "click here (https://evil.example)"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:a@b.c|a@b.c>", "a@b.c"),
        ("a &lt;b&gt; &amp;&amp; c", "a <b> && c"),
        ("&amp;lt; stays literal", "&lt; stays literal"),
        ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
    ],
)
def test_plain_makes_tokens_readable(encoded, shown):
    assert T.plain(encoded) == shown


def test_names_resolve_bare_user_mentions():
    assert T.plain("thanks <@U123>", {"U123": "dana"}) == "thanks @dana"


def test_mrkdwn_escapes_and_never_contains_a_live_token():
    out = T.mrkdwn("<!channel> &lt;!here&gt; <https://evil|click> a&amp;b")
    assert out == "@channel &lt;!here&gt; click (https://evil) a&amp;b"
    assert not LIVE_TOKEN.search(out)


def test_modal_input_is_encoded_so_a_typed_token_shows_literally():
    raw = "Checkout errors <!channel> & <@U999>"
    stored = T.encode(raw)
    assert T.plain(stored) == raw
    assert not LIVE_TOKEN.search(T.mrkdwn(stored))


def test_markdown_escapes_tables_and_emphasis():
    out = T.markdown(T.encode("a | b *bold* _it_ `code` [x](y) <script>\nnext line"))
    assert "|" not in out.replace("\\|", "")
    assert "\\*bold\\*" in out and "\\_it\\_" in out and "\\`code\\`" in out
    assert "<script>" not in out and "&lt;script>" in out
    assert "\n" not in out and "<br>" in out


@given(st.text())
def test_no_text_can_produce_a_live_token_in_mrkdwn(raw):
    # whatever arrives (raw or already Slack-encoded), what we send back has no live token
    for stored in (raw, T.encode(raw)):
        out = T.mrkdwn(stored)
        assert not LIVE_TOKEN.search(out)
        assert "<" not in out and ">" not in out


@given(st.text())
def test_markdown_output_has_no_raw_html_or_table_breaks(raw):
    out = T.markdown(T.encode(raw))
    assert re.search(r"<(?!br>)[A-Za-z/!?]", out) is None, "no tag, comment or autolink"
    assert re.search(r"(?<!\\)\|", out) is None
    assert "\n" not in out


def test_one_line_keeps_user_text_on_its_row_and_away_from_the_terminal():
    shown = T.one_line("a\nb\r\nc\u2028d\x1b[2J\x07\u202eevil\ttab é 🔥")
    assert shown == "a ⏎ b ⏎ c ⏎ d\\u001b[2J\\u0007\\u202eevil tab é 🔥"
    assert shown.isprintable()


BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@given(st.text(alphabet=st.sampled_from("ab&<>|@!#: "), max_size=80), st.integers(1, 40))
def test_mrkdwn_cut_fits_the_limit_and_never_splits_an_entity_or_token(encoded, limit):
    cut = T.mrkdwn_cut(encoded, limit)
    assert len(cut) <= limit
    assert not BROKEN_ENTITY.search(cut) and not LIVE_TOKEN.search(cut)
    whole = T.mrkdwn(encoded)
    assert cut == whole if len(whole) <= limit else cut.endswith("…")


def test_mrkdwn_cut_cuts_the_plain_text_not_the_escaped_one():
    assert T.mrkdwn_cut("a" * 5 + "&amp;b", 8) == "aaaaa&amp;…"[:5] + "…"  # `&amp;` does not fit whole
    assert T.mrkdwn_cut("ab &amp; cd", 11) == "ab &amp; cd"  # fits, escapes included
    assert T.mrkdwn_cut("ab &amp; cd", 10) == "ab &amp; …"
    assert T.mrkdwn_cut("see <https://x.example|docs> now", 12) == "see docs (h…"


@given(st.text(alphabet=st.sampled_from("ab&<>|@!#: "), max_size=80), st.integers(1, 40))
def test_a_last_resort_cut_of_escaped_text_never_splits_an_entity_or_token(raw, limit):
    escaped = T.escape_mrkdwn(raw) + " <@U123> <!date^1700000000^{time}|10:00>"
    cut = T.cut_mrkdwn(escaped, limit)
    assert len(cut) <= limit
    assert not BROKEN_ENTITY.search(cut)
    assert re.search(r"<[^>]*$", cut) is None, "no token left open"
    assert cut == escaped if len(escaped) <= limit else cut.endswith("…")


def test_escape_mrkdwn_cut_cuts_plain_text_before_escaping():
    assert T.escape_mrkdwn_cut("<b>" * 10, 12) == "&lt;b&gt;…"
    assert T.escape_mrkdwn_cut("a<b", 10) == "a&lt;b"
