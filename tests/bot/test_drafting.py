"""The postmortem draft, rendered from plain values (docs/postmortem.md): what a reader of each template needs."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import drafting
from bot import text as T
from bot.drafting import Action, Answer, DraftError, DraftInput, render, template_names
from bot.timeline import Item

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # 14:00 in Berlin (CET)
BERLIN = ZoneInfo("Europe/Berlin")
NAMES = {"U1": "alice", "U2": "bob", "U3": "carol"}


def milestone(name: str, at: datetime, note: str | None = None, author: str = "U1") -> Item:
    return Item(time=at, kind="milestone", milestone=name, text=name, key=True, author=author, note=note)


def fixture_incident(**changes) -> DraftInput:
    times = {
        "started": T0,
        "detected": T0 + timedelta(minutes=5),
        "acknowledged": T0 + timedelta(minutes=7),
        "mitigated": T0 + timedelta(minutes=40),
        "resolved": T0 + timedelta(hours=1, minutes=6),
    }
    items = [milestone(n, at, note="rolled back the deploy" if n == "mitigated" else None) for n, at in times.items()]
    items += [
        Item(time=T0 + timedelta(minutes=10), kind="log", text="rolled back deploy 4211", key=True, author="U1"),
        Item(time=T0 + timedelta(minutes=12), kind="message", text="is it the cache?", key=False, author="U2",
             channel_id="C0INC", ts="1795000320.000100"),
        Item(time=T0 + timedelta(minutes=13), kind="message", text="found it: bad flag", key=True, author="U3",
             channel_id="C0INC", ts="1795000380.000200"),
        Item(time=T0 + timedelta(minutes=14), kind="message", text="oops", key=False, author="U3",
             channel_id="C0INC", ts="1795000440.000300", deleted=True),
    ]
    data = DraftInput(
        number=7, title="Checkout errors", severity="sev2", status="resolved", zone=UTC,
        milestones=times, timeline=sorted(items, key=lambda i: i.time), created_at=T0 + timedelta(minutes=5),
        generated_at=T0 + timedelta(hours=5), commander_id="U1", summary="Checkout returned 500s",
        impact="12% of orders failed", channel_id="C0INC", channel_name="inc-20261122-7-checkout-errors",
        workspace_url="https://acme.slack.com/", roles={"commander": "U1", "comms": "U2"},
        answers=[
            Answer("U2", "root_cause", "A feature flag turned on the new cache for everyone", T0 + timedelta(hours=2)),
            Answer("U3", "went_well", "Rollback took two minutes", T0 + timedelta(hours=3)),
        ],
        actions=[Action(1, "Alert on checkout error rate", "U3", date(2026, 11, 27), "open")],
        participants=["U1", "U2", "U3"], names=NAMES, version=2,
    )
    return replace(data, **changes)


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table that starts with `header`, split on unescaped pipes."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(header) and lines[i + 1 : i + 2] and lines[i + 1].startswith("|---"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def section(markdown: str, heading: str) -> str:
    after = markdown.split(heading + "\n", 1)[1]
    return re.split(r"\n#{1,3} ", after, maxsplit=1)[0]


# --- what each template shows ---------------------------------------------------------------


def test_the_default_template_has_the_blameless_structure():
    md = render(fixture_incident(), "default")
    headings = re.findall(r"^#{2,3} (.+)$", md, re.MULTILINE)
    for expected in ("Summary", "Metrics", "Timeline", "Root cause analysis", "Contributing factors", "5 whys",
                     "Resolution and recovery", "Preventive actions", "What went well", "What went wrong",
                     "Lessons learned", "Follow-up"):
        assert expected in headings, expected
    assert md.startswith("# INC-7 postmortem: Checkout errors")
    assert "**All times in UTC.**" in md
    summary = section(md, "## Summary")
    assert "Checkout returned 500s" in summary and "12% of orders failed" in summary
    assert "1 h 6 min" in summary and "rolled back the deploy" in summary and "UTC" in summary


def test_the_timeline_is_key_events_oldest_first_with_who_and_links():
    md = render(fixture_incident(), "default")
    rows = table_rows(md, "| Time")
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    events = [r[1] for r in rows]
    assert events[0] == "**Impact started**"
    assert "rolled back deploy 4211" in events
    pinned = next(r for r in rows if "found it" in r[1])
    assert pinned[2] == "@carol"
    assert "(https://acme.slack.com/archives/C0INC/p1795000380000200)" in pinned[1]
    assert not any("is it the cache" in e for e in events), "chat that is not a key event is not in the timeline"
    appendix = section(md, "## Appendix: channel messages")
    assert "is it the cache?" in appendix and "@bob" in appendix
    assert "oops" not in md, "a deleted message stays deleted"


def test_answers_appear_attributed_and_missing_ones_say_how_to_fill_them():
    md = render(fixture_incident(), "default")
    root = section(md, "### Root cause")
    assert "A feature flag turned on the new cache for everyone" in root and "@bob" in root
    wrong = section(md, "## What went wrong")
    assert "Not answered yet" in wrong and "/postmortem prompt" in wrong
    assert "Rollback took two minutes" in section(md, "## What went well")


def test_actions_are_a_table_of_action_owner_due_and_status():
    md = render(fixture_incident(), "default")
    assert table_rows(md, "| # | Action") == [["1", "Alert on checkout error rate", "@carol", "2026-11-27", "open"]]
    empty = render(fixture_incident(actions=[]), "default")
    assert "No action items yet" in section(empty, "## Preventive actions")
    assert "/incident action" in section(empty, "## Preventive actions")


def test_metrics_with_their_definitions():
    md = render(fixture_incident(), "default")
    metrics = {r[0]: (r[1], r[2]) for r in table_rows(md, "| Metric")}
    assert metrics["Time to detect"][0] == "5 min"
    assert metrics["Time to acknowledge"][0] == "2 min"
    assert metrics["Time to mitigate"][0] == "40 min"
    assert metrics["Time to resolve"] == ("1 h 6 min", metrics["Time to resolve"][1])
    assert "duration" in metrics["Time to resolve"][1]


def test_a_missing_milestone_is_not_recorded():
    data = fixture_incident()
    times = {k: v for k, v in data.milestones.items() if k not in ("acknowledged", "resolved")}
    md = render(replace(data, milestones=times, timeline=[i for i in data.timeline if i.milestone != "resolved"]))
    metrics = {r[0]: r[1] for r in table_rows(md, "| Metric")}
    assert metrics == {"Time to detect": "5 min", "Time to acknowledge": "not recorded",
                       "Time to mitigate": "40 min", "Time to resolve": "not recorded"}
    assert "Duration:** not recorded yet" in section(md, "## Summary")


@pytest.mark.parametrize("template", ["default", "detailed"])
def test_without_a_start_of_impact_the_metrics_run_from_the_declaration_and_say_so(template):
    """The README's own flow: start, log, mitigated, resolved. `started` is never set."""
    data = fixture_incident()  # declared at 13:05, mitigated 13:40, resolved 14:06
    times = {k: v for k, v in data.milestones.items() if k not in ("started", "acknowledged")}
    md = render(replace(data, milestones=times, timeline=[i for i in data.timeline if i.milestone != "started"]),
                template)
    if template == "default":
        metrics = {r[0]: (r[1], r[2]) for r in table_rows(md, "| Metric")}
        assert metrics["Time to mitigate"][0] == "35 min (from declaration)"
        assert metrics["Time to resolve"][0] == "1 h 1 min (from declaration)"
        assert metrics["Time to detect"][0] == "not recorded", "detection from the declaration says nothing"
        assert metrics["Time to acknowledge"][0] == "not recorded"
        for label in ("Time to mitigate", "Time to resolve"):
            assert "when the incident was declared (the start of impact was not recorded)" in metrics[label][1]
        assert ("- **Duration:** 1 h 1 min, from 2026-11-22 13:05 UTC (declared; the start of impact was not "
                "recorded) to 2026-11-22 14:06 UTC") in md
    else:
        figures = {r[0]: (r[1], r[2]) for r in table_rows(md, "| Phase")}
        assert figures["Resolution"][0] == "1 h 1 min (from declaration)"
        assert "declared" in figures["Mitigation"][1]
        assert "The incident lasted 1 h 1 min, from 2026-11-22 13:05 UTC (declared;" in md
        assert "| Duration | 1 h 1 min (from declaration) |" in md
    assert "not recorded …" not in md and "not recorded (needs" not in md


def test_out_of_order_milestones_are_warned_about_in_the_draft():
    data = fixture_incident()
    times = dict(data.milestones, mitigated=T0 + timedelta(minutes=2))  # before detection at +5
    md = render(replace(data, milestones=times))
    assert "**Warning:** Mitigated is recorded before detected" in md


def test_a_multi_day_incident_shows_dates_and_reads_durations_naturally():
    data = fixture_incident()
    times = dict(data.milestones, resolved=T0 + timedelta(days=1, minutes=11))
    items = [i for i in data.timeline if i.milestone != "resolved"] + [milestone("resolved", times["resolved"])]
    md = render(replace(data, milestones=times, timeline=items))
    rows = table_rows(md, "| Time")
    assert rows[0][0] == "2026-11-22 13:00" and rows[-1][0] == "2026-11-23 13:11"
    assert "1 d 0 h 11 min" in section(md, "## Summary")
    single_day = table_rows(render(fixture_incident()), "| Time")
    assert single_day[0][0] == "13:00", "a one-day incident shows times only"
    late_chat = Item(time=T0 + timedelta(days=2), kind="message", text="still talking", author="U2",
                     channel_id="C0INC", ts="1795200000.000100")
    appendix = render(fixture_incident(timeline=[*fixture_incident().timeline, late_chat]))
    assert "| 2026-11-24 13:00 | still talking" in appendix.split("## Appendix", 1)[1], "chat days count too"


def test_a_non_utc_display_zone_is_stated_once_and_used_everywhere():
    md = render(fixture_incident(zone=BERLIN))
    assert "**All times in Europe/Berlin (UTC+01:00).**" in md
    assert md.count("All times in") == 1
    assert table_rows(md, "| Time")[0][0] == "14:00"
    summer = fixture_incident(zone=BERLIN, milestones={"started": datetime(2026, 7, 1, 8, 0, tzinfo=UTC)})
    assert "All times in Europe/Berlin (UTC+02:00)" in render(summer)


def test_a_timeline_across_midnight_in_the_display_zone_shows_dates():
    late = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    times = {"started": late, "resolved": late + timedelta(hours=1)}  # 00:30 the next day in Berlin
    items = [milestone(n, at) for n, at in times.items()]
    md = render(fixture_incident(zone=BERLIN, milestones=times, timeline=items))
    assert [r[0] for r in table_rows(md, "| Time")] == ["2026-11-22 23:30", "2026-11-23 00:30"]
    assert [r[0] for r in table_rows(render(fixture_incident(milestones=times, timeline=items)), "| Time")] == [
        "22:30", "23:30"], "the same instants on one UTC day show no date"


def test_the_phase_diagram_is_mermaid_when_there_are_milestones():
    md = render(fixture_incident())
    diagram = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert diagram.startswith("gantt")
    assert "Until detected :started_detected, 2026-11-22 13:00:00, 2026-11-22 13:05:00" in diagram
    assert "Mitigated to resolved" in diagram
    alone = fixture_incident(milestones={"detected": T0}, timeline=[milestone("detected", T0)])
    assert "```mermaid" not in render(alone)


def test_detailed_adds_executive_summary_impact_whys_horizons_and_sign_off():
    actions = [Action(1, "hotfix", "U1", date(2026, 11, 23), "open"),
               Action(2, "load test", "U2", date(2026, 12, 10), "open"),
               Action(3, "new cache design", None, None, "open")]
    md = render(fixture_incident(actions=actions), "detailed")
    for heading in ("## Executive summary", "## Impact analysis", "### 5 whys", "## Detection, response and resolution",
                    "### Immediate (due within a week)", "### Short-term (due within a month)",
                    "### Long-term (later, or no due date)", "## Review sign-off", "## What went well",
                    "## What went wrong"):
        assert heading in md, heading
    assert "hotfix" in section(md, "### Immediate (due within a week)")
    assert "load test" in section(md, "### Short-term (due within a month)")
    assert "new cache design" in section(md, "### Long-term (later, or no due date)")
    figures = {r[0]: r[1] for r in table_rows(md, "| Phase")}
    assert figures == {"Detection": "5 min", "Response": "2 min", "Mitigation": "40 min", "Resolution": "1 h 6 min"}


def test_brief_is_one_page_with_the_essentials():
    md = render(fixture_incident(), "brief")
    assert len(md.splitlines()) < 60
    assert "Checkout errors" in md and "1 h 6 min" in md and "A feature flag" in md
    assert "Alert on checkout error rate" in md and "All times in UTC" in md


# --- safety -------------------------------------------------------------------------------------


HOSTILE = "deploy | 50% <!channel> <@U2|bob> <https://evil.example|status> *bold* `code` <b>x</b> &lt;!here&gt;"


@pytest.mark.parametrize("template", ["default", "detailed", "brief"])
def test_user_text_cannot_break_tables_or_ping_anyone(template):
    items = [Item(time=T0 + timedelta(minutes=1), kind="log", text=HOSTILE, key=True, author="U1")]
    data = fixture_incident(title=HOSTILE, timeline=items, summary=HOSTILE,
                            actions=[Action(1, HOSTILE, "U2", None, "open")],
                            answers=[Answer("U2", "root_cause", HOSTILE, T0)])
    md = render(data, template)
    assert "<!" not in md and "<@" not in md and "<https" not in md and "<b>" not in md
    timeline = table_rows(md, "| Time")
    assert all(len(row) == 3 for row in timeline), timeline
    actions = table_rows(md, "| # | Action")
    assert all(len(row) == 5 for row in actions), actions
    assert "@channel" in md and "@bob" in md and "status (https://evil.example)" in md.replace("\\", "")


@given(st.text(max_size=300))
def test_no_log_line_breaks_the_timeline_table(text):
    items = [Item(time=T0, kind="log", text=text, key=True, author="U1")]
    md = render(fixture_incident(timeline=items, milestones={}), "default")
    rows = table_rows(md, "| Time")
    assert len(rows) == 1 and len(rows[0]) == 3


def test_an_unknown_template_names_the_ones_there_are():
    with pytest.raises(DraftError, match=r"no template `fancy`.*`brief`, `default`, `detailed`"):
        render(fixture_incident(), "fancy")


def test_operators_add_and_replace_templates(tmp_path):
    (tmp_path / "short.md.j2").write_text("# {{ ref }}: {{ title }} ({{ duration }})\n")
    (tmp_path / "brief.md.j2").write_text("ours: {{ ref }}\n")
    assert set(template_names(tmp_path)) == {"brief", "default", "detailed", "short"}
    assert render(fixture_incident(), "short", tmp_path) == "# INC-7: Checkout errors (1 h 6 min)\n"
    assert render(fixture_incident(), "brief", tmp_path) == "ours: INC-7\n"


def test_a_template_error_names_the_template_and_line(tmp_path):
    (tmp_path / "typo.md.j2").write_text("# {{ ref }}\n\n{{ titel }}\n")
    with pytest.raises(DraftError, match=r"typo\.md\.j2.*line 3.*titel"):
        render(fixture_incident(), "typo", tmp_path)
    (tmp_path / "broken.md.j2").write_text("# ok\n{% for x in %}\n")
    with pytest.raises(DraftError, match=r"broken\.md\.j2.* line 2"):
        render(fixture_incident(), "broken", tmp_path)
    (tmp_path / "empty.md.j2").write_text("{# nothing #}\n")
    with pytest.raises(DraftError, match="empty draft"):
        render(fixture_incident(), "empty", tmp_path)


def test_open_questions_list_what_people_still_owe():
    assert drafting.open_questions(fixture_incident()) == []
    nothing = fixture_incident(answers=[], actions=[], milestones={"detected": T0})
    assert drafting.open_questions(nothing) == ["root cause", "what went well / wrong", "action items",
                                                "impact started time", "mitigated time", "resolved time"]


# --- reading cleanly as text, and rendered -------------------------------------------------------


ORDINARY_TEXT = {
    "summary": "Checkout returned 500s for ~12% of orders (EU only) - roughly 1,240 customers.",
    "impact": "Payments failed between 14:05 and 14:40; refunds were issued on 2026-11-23.",
    "log": "Rolled back deploy 4.2.1 (canary). Error rate fell to 0.5% - back to normal?",
    "note": "Rolled back the deploy.",
    "answer": "The new cache (flag checkout.cache_v2) was enabled for everyone; nobody saw the alert.",
    "action": "Alert on checkout error rate > 1% for 5 min (page the on-call).",
}


def ordinary_incident() -> DraftInput:
    data = fixture_incident(summary=ORDINARY_TEXT["summary"], impact=ORDINARY_TEXT["impact"],
                            answers=[Answer("U2", "root_cause", ORDINARY_TEXT["answer"], T0),
                                     Answer("U3", "went_wrong", ORDINARY_TEXT["answer"], T0)],
                            actions=[Action(1, ORDINARY_TEXT["action"], "U3", date(2026, 11, 27), "open")])
    items = [i for i in data.timeline if i.milestone not in ("mitigated",)]
    items += [milestone("mitigated", data.milestones["mitigated"], note=ORDINARY_TEXT["note"]),
              Item(time=T0 + timedelta(minutes=11), kind="log", text=ORDINARY_TEXT["log"], key=True, author="U1")]
    return replace(data, timeline=sorted(items, key=lambda i: i.time))


@pytest.mark.parametrize("template", ["default", "detailed", "brief"])
def test_an_ordinary_draft_reads_as_plain_text_without_backslashes(template):
    md = render(ordinary_incident(), template)
    assert md.count("\\") == 0, [line for line in md.splitlines() if "\\" in line]
    for typed in ORDINARY_TEXT.values():
        assert typed in md, typed
    assert ".;" not in md and ".." not in md.replace("...", "")


@pytest.mark.parametrize("template", ["default", "detailed", "brief"])
def test_hostile_text_renders_as_typed_and_links_nowhere(template):
    from tests.support.markdown import MD, table_cells

    items = [Item(time=T0 + timedelta(minutes=1), kind="log", text=HOSTILE, key=True, author="U1")]
    data = fixture_incident(title=HOSTILE, timeline=items, summary=HOSTILE, milestones={},
                            actions=[Action(1, HOSTILE, "U2", None, "open")],
                            answers=[Answer("U2", "root_cause", HOSTILE, T0)])
    md = render(data, template)
    shown = T.plain(HOSTILE)
    tokens = MD.parse(md)
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not [c for c in inline if c.type == "html_inline"], "no HTML"
    assert not [c for c in inline if c.type == "link_open"], "no link: the hostile text links nowhere"
    timeline = table_cells(md[md.index("| Time | Event"):])
    assert timeline[1][1] == shown
    assert "{{" not in md and "{%" not in md


def test_each_warning_is_its_own_paragraph():
    from tests.support.markdown import MD

    data = fixture_incident()
    times = dict(data.milestones, mitigated=T0 + timedelta(minutes=2))  # before detected and acknowledged
    md = render(replace(data, milestones=times))
    tokens = MD.parse(md)
    paragraphs = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "paragraph_open"]
    warnings = [p for p in paragraphs if "Warning:" in p]
    assert len(warnings) == 2 and all(p.count("Warning:") == 1 for p in warnings), warnings


@pytest.mark.parametrize("template", ["default", "detailed", "brief"])
def test_no_table_has_an_empty_header(template):
    from tests.support.markdown import MD

    tokens = MD.parse(render(fixture_incident(), template))
    headers = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "th_open"]
    assert headers and all(h.strip() for h in headers), headers


def test_resolution_notes_read_as_sentences():
    data = fixture_incident()
    items = [i for i in data.timeline if i.milestone not in ("mitigated", "resolved")]
    items += [milestone("mitigated", data.milestones["mitigated"], note="rolled back the deploy."),
              milestone("resolved", data.milestones["resolved"], note="error rate normal again")]
    md = render(replace(data, timeline=items))
    line = next(x for x in md.splitlines() if x.startswith("- **Resolution:**"))
    assert line == ("- **Resolution:** Mitigated 2026-11-22 13:40 UTC: rolled back the deploy. "
                    "Resolved 2026-11-22 14:06 UTC: error rate normal again.")


def test_the_chart_has_no_today_marker_and_dates_with_the_month_across_days():
    one_day = render(fixture_incident()).split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "todayMarker off" in one_day and "axisFormat %H:%M" in one_day
    data = fixture_incident()
    times = dict(data.milestones, resolved=T0 + timedelta(days=1, minutes=11))
    days = render(replace(data, milestones=times)).split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "axisFormat %d %b %H:%M" in days and "todayMarker off" in days


@pytest.mark.parametrize("template", ["default", "detailed"])
def test_no_chart_when_the_milestones_are_out_of_order_and_the_draft_says_why(template):
    data = fixture_incident()
    times = dict(data.milestones, resolved=T0 - timedelta(minutes=30))  # resolved before it started
    md = render(replace(data, milestones=times), template)
    assert "```mermaid" not in md
    assert "No phase chart: the milestones are out of order" in md
    assert "No phase chart" not in render(fixture_incident(), template)


def test_the_chart_across_a_change_of_clocks_is_drawn_in_utc_so_no_phase_gains_an_hour():
    # 29 March 2026: Berlin moves from UTC+01:00 to UTC+02:00 at 01:00 UTC
    times = {"started": datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 01:30 CET
             "detected": datetime(2026, 3, 29, 0, 45, tzinfo=UTC),
             "resolved": datetime(2026, 3, 29, 1, 30, tzinfo=UTC)}  # 03:30 CEST: one hour later, not two
    md = render(fixture_incident(zone=BERLIN, milestones=times, timeline=[milestone(n, t) for n, t in times.items()]))
    chart = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "title INC-7 phases (UTC: Europe/Berlin changed its clocks meanwhile)" in chart
    assert "Until detected :started_detected, 2026-03-29 00:30:00, 2026-03-29 00:45:00" in chart
    assert "Resolved :milestone, m_resolved, 2026-03-29 01:30:00, 0s" in chart
    winter = {n: t - timedelta(days=7) for n, t in times.items()}
    same_offset = render(fixture_incident(zone=BERLIN, milestones=winter,
                                          timeline=[milestone(n, t) for n, t in winter.items()]))
    assert "title INC-7 phases (Europe/Berlin)" in same_offset and "2026-03-22 01:30:00" in same_offset
