"""The postmortem draft (docs/postmortem.md), as plain functions over plain values.

`DraftInput` holds what was captured; `context()` turns it into the values a template needs, every
piece of user text already escaped for Markdown (a `|` cannot break a table, a `<!channel>` shows
as `@channel`); `render()` runs a Jinja2 template over that context with StrictUndefined, so a
template that names something that does not exist fails loudly instead of leaving a hole.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from importlib import resources
from pathlib import Path

import jinja2

from bot import text as T
from bot.milestones import (
    FROM_DECLARATION,
    MILESTONE_LABELS,
    MILESTONES,
    STATUS_LABELS,
    duration,
    measure,
    order_warnings,
    severity_label,
)
from bot.timeline import Item
from bot.when import format_duration, format_time, zone_display_name, zone_label

TEMPLATE_SUFFIX = ".md.j2"
DEFAULT_TEMPLATE = "default"

# The parts of the postmortem only the people who were there can write, and how they are asked.
TOPICS: dict[str, str] = {
    "root_cause": "Root cause",
    "contributing_factors": "Contributing factors",
    "went_well": "What went well",
    "went_wrong": "What went wrong",
}
HOW_TO_ANSWER = (
    "answer with the buttons in the incident channel or in the bot's DM "
    "(`/postmortem prompt` sends them again)"
)
HOW_TO_ADD_ACTION = "add one with `/incident action <text> @owner due <date>` or the *Add action item* button"


@dataclass(frozen=True)
class Answer:
    user_id: str
    topic: str
    text: str  # Slack-encoded
    answered_at: datetime


@dataclass(frozen=True)
class Action:
    number: int
    text: str  # Slack-encoded
    owner_id: str | None
    due: date | None
    status: str
    issue: str | None = None  # its tracker issue as a Markdown link (bot/tracker_items.markdown_link)


@dataclass(frozen=True)
class DraftInput:
    number: int
    title: str  # Slack-encoded
    severity: str | None
    status: str
    zone: tzinfo
    milestones: Mapping[str, datetime]
    timeline: Sequence[Item]
    created_at: datetime
    generated_at: datetime
    commander_id: str | None = None
    summary: str | None = None
    impact: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    workspace_url: str | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    answers: Sequence[Answer] = ()
    actions: Sequence[Action] = ()
    participants: Sequence[str] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    version: int | None = None
    changes: Sequence[TimelineChange] = ()  # the activity log's curation of the timeline, oldest first
    key_only: bool = False  # key events and milestones only, no chat appendix


@dataclass(frozen=True)
class TimelineChange:
    """One curation of the timeline (storage/activity.py), as the draft's appendix lists it."""

    at: datetime
    actor: str
    action: str  # edit, retime, hide, show, add, undo, slack_edit
    entry_time: datetime | None  # the entry's time now
    entry_hidden: bool
    before: Mapping[str, object]
    after: Mapping[str, object]


CHANGE_LABELS = {"edit": "edited", "retime": "moved", "hide": "left out", "show": "put back", "add": "added",
                 "undo": "undid a change to", "slack_edit": "edited in Slack (the timeline keeps the person's edit)"}


class DraftError(Exception):
    """A template could not be found or rendered; the message names the template and line."""


# ---------------------------------------------------------------------------------------------
# small pieces


def permalink(workspace_url: str | None, channel_id: str, ts: str) -> str:
    """A link to one Slack message, built without asking Slack (the format chat.getPermalink returns)."""
    base = workspace_url.rstrip("/") if workspace_url else "https://slack.com"
    return f"{base}/archives/{channel_id}/p{ts.replace('.', '')}"


def spans_days(times: Sequence[datetime], zone: tzinfo) -> bool:
    return len({t.astimezone(zone).date() for t in times}) > 1


def time_cell(at: datetime, zone: tzinfo, with_date: bool) -> str:
    local = at.astimezone(zone)
    clock = "%H:%M" if local.second == 0 else "%H:%M:%S"
    return local.strftime(f"%Y-%m-%d {clock}" if with_date else clock)  # one strftime per cell


def zone_statement(zone: tzinfo, at: datetime) -> str:
    """`All times in UTC` or `All times in Europe/Berlin (UTC+01:00)`."""
    name = zone_display_name(zone)
    label = zone_label(at, zone)
    if label == "UTC":
        return "All times in UTC" if name in ("UTC", "Etc/UTC") else f"All times in {name} (UTC+00:00)"
    offset = label[label.find("UTC"):].rstrip(")")
    return f"All times in {name}" if name == offset else f"All times in {name} ({offset})"


def who(user_id: str | None, names: Mapping[str, str]) -> str:
    if not user_id:
        return ""
    return T.escape_markdown("@" + names.get(user_id, user_id))


def _event_text(item: Item, names: Mapping[str, str], workspace_url: str | None) -> str:
    if item.kind == "milestone":
        label = MILESTONE_LABELS.get(item.milestone or "", item.milestone or "")
        note = f": {T.markdown(item.note, names)}" if item.note else ""
        return f"**{T.escape_markdown(label)}**{note}"
    body = T.markdown(item.text, names)
    if item.kind == "severity":
        body = f"**{body}**"
    for f in item.files:
        name = T.escape_markdown(str(f.get("name") or "file"))
        body += f" [{name}]({_url(f.get('permalink'))})" if f.get("permalink") else f" {name}"
    if item.kind == "message" and item.channel_id and item.ts:
        body += f" ([message]({permalink(workspace_url, item.channel_id, item.ts)}))"
    if item.kind == "added" and item.permalink:
        body += f" ([message]({_url(item.permalink)}))"
    if item.edited:
        body += " _(edited)_"
    return body or "_(no text)_"


def _change_row(change: TimelineChange, zone: tzinfo, names: Mapping[str, str]) -> dict:
    """`14:20 · @dana · moved the entry of 14:05: time 14:05 → 14:02`. An entry's text, old or new, is
    never shown here: an edit often removes what must not be published (a pasted password)."""
    parts = []
    for name in ("at", "text", "key", "hidden"):
        if name not in change.before and name not in change.after:
            continue
        was, now = change.before.get(name), change.after.get(name)
        if name == "at":
            parts.append("time " + " → ".join(_shown_time(v, zone) for v in (was, now) if v))
        elif name == "text" and change.action != "add":
            parts.append("text edited")
        elif name == "key":
            parts.append("key event" if now else "not a key event")
        elif name == "hidden":
            parts.append("left out of the postmortem" if now else "back in the postmortem")
    entry = f" the entry of {_shown_time(change.entry_time, zone)}" if change.entry_time else ""
    label = CHANGE_LABELS.get(change.action, change.action)
    return {"time": format_time(change.at, zone), "who": who(change.actor, names),
            "change": T.escape_markdown(label) + entry + (": " + "; ".join(parts) if parts else "")}


def _shown_time(value, zone: tzinfo) -> str:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_time(at, zone) if isinstance(at, datetime) else "?"


def _sentence(text: str) -> str:
    """`text` ending as a sentence: a full stop added unless it ends with one already (or ! ? …)."""
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _url(value) -> str:
    """A URL safe inside Markdown's `(...)`: no spaces or parentheses that would end it early."""
    return str(value).replace(" ", "%20").replace("(", "%28").replace(")", "%29")


OUT_OF_ORDER_CHART = ("No phase chart: the milestones are out of order (see the warning above), so its phases "
                      "would be meaningless. Correct the times and draft again to get it.")


def phase_diagram(times: Mapping[str, datetime], zone: tzinfo, ref: str) -> str | None:
    """A Mermaid gantt chart of the phases between milestones; None with fewer than two recorded, or
    when they are out of order (a chart of negative phases says nothing).

    Mermaid reads wall-clock times without an offset: when the zone changes its clocks between the
    milestones (daylight saving time), the chart is drawn in UTC so no phase gains or loses an hour.
    """
    if order_warnings(times):
        return None
    title = f"{ref} phases ({zone_display_name(zone)})"
    if len({times[n].astimezone(zone).utcoffset() for n in times}) > 1:
        title = f"{ref} phases (UTC: {zone_display_name(zone)} changed its clocks meanwhile)"
        zone = UTC
    phases = (
        ("Until detected", "started", "detected"),
        ("Detected to mitigated", "detected", "mitigated"),
        ("Mitigated to resolved", "mitigated", "resolved"),
    )
    if "started" not in times and "detected" in times:
        phases = phases[1:]
    known = [name for name in MILESTONES if name in times]
    if len(known) < 2:
        return None
    multi_day = spans_days([times[n] for n in known], zone)
    fmt = "%Y-%m-%d %H:%M:%S"
    lines = [
        "```mermaid",
        "gantt",
        f"    title {title}",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        f"    axisFormat {'%d %b %H:%M' if multi_day else '%H:%M'}",
        "    todayMarker off",
        "    section Impact",
    ]
    drawn = False
    for label, start, end in phases:
        if start in times and end in times and times[end] >= times[start]:
            a, b = times[start].astimezone(zone), times[end].astimezone(zone)
            lines.append(f"    {label} :{start}_{end}, {a.strftime(fmt)}, {b.strftime(fmt)}")
            drawn = True
    lines.append("    section Milestones")
    for name in known:
        at = times[name].astimezone(zone).strftime(fmt)
        lines.append(f"    {MILESTONE_LABELS[name]} :milestone, m_{name}, {at}, 0s")
    lines.append("```")
    return "\n".join(lines) if drawn else None


# ---------------------------------------------------------------------------------------------
# the template context


def context(data: DraftInput) -> dict:
    """Everything a template may use. User text is escaped Markdown; times are in the display zone."""
    zone, names = data.zone, data.names
    times = dict(data.milestones)
    shown = [i for i in data.timeline if not i.hidden and not i.deleted]
    key_items = [i for i in shown if i.key]
    chat = [] if data.key_only else [i for i in shown if not i.key and i.kind == "message"]
    all_times = [i.time for i in key_items] + [i.time for i in chat] + list(times.values())
    with_date = spans_days(all_times, zone) if all_times else False
    reference = times.get("started") or times.get("detected") or data.created_at
    authors: dict[str | None, str] = {}  # a long timeline names the same few people thousands of times

    def author(user_id: str | None) -> str:
        if user_id not in authors:
            authors[user_id] = who(user_id, names)
        return authors[user_id]

    def row(item: Item) -> dict:
        return {
            "time": time_cell(item.time, zone, with_date),
            "event": _event_text(item, names, data.workspace_url),
            "who": author(item.author),
            "kind": item.kind,
            "milestone": item.milestone,
        }

    metrics = [
        {"key": m.metric.key, "label": m.metric.label, "value": m.text, "recorded": m.value is not None,
         "definition": m.definition}
        for m in measure(times, data.created_at)
    ]
    answers: dict[str, list[dict]] = {topic: [] for topic in TOPICS}
    for a in data.answers:
        if a.topic in answers and a.text.strip():
            answers[a.topic].append({
                "text": T.markdown(a.text, names, inline=False).replace("\n", "\n> "),
                "inline": T.markdown(a.text, names),
                "who": who(a.user_id, names),
                "when": format_time(a.answered_at, zone),
            })
    actions = [
        {"number": a.number, "text": T.markdown(a.text, names),
         "owner": who(a.owner_id, names) or "_no owner_",
         "due": a.due.isoformat() if a.due else "_no due date_",
         "status": a.status, "issue": a.issue}
        for a in data.actions
    ]
    horizons: dict[str, list[dict]] = {"immediate": [], "short": [], "long": []}
    today = data.generated_at.astimezone(zone).date()
    for source, shown in zip(data.actions, actions, strict=True):
        days = (source.due - today).days if source.due else None
        horizon = "long" if days is None or days > 30 else "short" if days > 7 else "immediate"
        horizons[horizon].append(shown)
    lasted = duration(times, data.created_at)
    declared = format_time(data.created_at, zone)
    ref = f"INC-{data.number}"
    diagram = phase_diagram(times, zone, ref)
    resolution = []
    for i in data.timeline:
        if i.kind == "milestone" and i.key and i.milestone in ("mitigated", "resolved"):
            entry = {"label": MILESTONE_LABELS[i.milestone], "time": format_time(i.time, zone),
                     "note": T.markdown(i.note, names) if i.note else None}
            said = f"{entry['label']} {entry['time']}" + (f": {entry['note']}" if i.note else "")
            entry["sentence"] = _sentence(said)
            resolution.append(entry)
    title = T.markdown(data.title, names)
    return {
        "ref": ref,
        "number": data.number,
        "title": title,
        "severity": severity_label(data.severity),
        "status": STATUS_LABELS.get(data.status, data.status),
        "zone": zone_display_name(zone),
        "zone_statement": zone_statement(zone, reference),
        "commander": who(data.commander_id, names) or "_not assigned_",
        "roles": [{"role": T.escape_markdown(r), "who": who(u, names)} for r, u in data.roles.items()],
        "participants": [who(u, names) for u in data.participants],
        "channel": T.escape_markdown("#" + data.channel_name) if data.channel_name else "",
        "summary": T.markdown(data.summary, names, inline=False) if data.summary else None,
        "impact": T.markdown(data.impact, names, inline=False) if data.impact else None,
        "milestones": [
            {"name": n, "label": MILESTONE_LABELS[n], "time": format_time(times[n], zone) if n in times else None}
            for n in MILESTONES
        ],
        "started": format_time(times["started"], zone) if "started" in times else None,
        "detected": format_time(times["detected"], zone) if "detected" in times else None,
        "mitigated": format_time(times["mitigated"], zone) if "mitigated" in times else None,
        "resolved": format_time(times["resolved"], zone) if "resolved" in times else None,
        "duration": format_duration(lasted) if lasted is not None else None,
        # without `started`, the duration runs from the declaration, and these say so
        "duration_note": f" ({FROM_DECLARATION})" if lasted is not None and "started" not in times else "",
        "duration_from": (format_time(times["started"], zone) if "started" in times
                          else f"{declared} (declared; the start of impact was not recorded)"),
        "metrics": metrics,
        "metric": {m["key"]: m for m in metrics},
        "warnings": order_warnings(times),  # the bot's own words, with commands in `code`
        "resolution": resolution,
        "timeline": [row(i) for i in key_items],
        "appendix": [row(i) for i in chat],
        "timeline_changes": [_change_row(c, zone, names) for c in data.changes],
        "key_only": data.key_only,
        "timeline_has_dates": with_date,
        "diagram": diagram,
        "diagram_note": OUT_OF_ORDER_CHART if diagram is None and order_warnings(times) else None,
        "answers": answers,
        "topics": TOPICS,
        "actions": actions,
        "open_actions": [a for a in actions if a["status"] == "open"],
        "actions_by_horizon": horizons,  # immediate: due within 7 days; short: 30; long: later or undated
        "how_to_answer": HOW_TO_ANSWER,
        "how_to_add_action": HOW_TO_ADD_ACTION,
        "version": data.version,
        "generated": format_time(data.generated_at, zone),
        "created": declared,
    }


def open_questions(data: DraftInput) -> list[str]:
    """What the draft still lacks that people must supply (for the summary message in Slack)."""
    answered = {a.topic for a in data.answers if a.text.strip()}
    missing = []
    if "root_cause" not in answered:
        missing.append("root cause")
    if not {"went_well", "went_wrong"} & answered:
        missing.append("what went well / wrong")
    if not data.actions:
        missing.append("action items")
    for name in ("started", "mitigated", "resolved"):
        if name not in data.milestones:
            missing.append(f"{MILESTONE_LABELS[name].lower()} time")
    return missing


# ---------------------------------------------------------------------------------------------
# templates


def builtin_dir() -> Path:
    """The built-in templates, wherever the package is installed (never the working directory)."""
    return Path(str(resources.files("templates")))


def _dirs(extra_dir: Path | None) -> list[Path]:
    return ([extra_dir] if extra_dir else []) + [builtin_dir()]


def template_names(extra_dir: Path | None = None) -> list[str]:
    """Every template by name; an operator's template of the same name replaces the built-in one."""
    names = set()
    for folder in _dirs(extra_dir):
        names |= {p.name[: -len(TEMPLATE_SUFFIX)] for p in folder.glob(f"*{TEMPLATE_SUFFIX}")
                  if not p.name.startswith("_")}  # `_parts` and the like are for importing
    return sorted(names)


def environment(extra_dir: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in _dirs(extra_dir)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML: the context carries text already escaped for it
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(data: DraftInput, template: str = DEFAULT_TEMPLATE, extra_dir: Path | None = None,
           env: jinja2.Environment | None = None) -> str:
    """The Markdown postmortem. Raises DraftError naming the template (and line) on any failure."""
    env = env or environment(extra_dir)
    name = template.strip().lower()
    if name not in template_names(extra_dir):
        raise DraftError(f"There is no template `{T.truncate(name, 60)}`. Templates: "
                         + ", ".join(f"`{n}`" for n in template_names(extra_dir)) + ".")
    filename = name + TEMPLATE_SUFFIX
    try:
        markdown = env.get_template(filename).render(context(data))
    except jinja2.TemplateSyntaxError as exc:
        raise DraftError(f"Template `{exc.name or filename}` has an error on line {exc.lineno}: {exc.message}") from exc
    except Exception as exc:  # a template runs arbitrary expressions: report any failure, with its line
        raise DraftError(f"Template `{filename}` failed{_template_line(exc)}: {type(exc).__name__}: {exc}") from exc
    if not markdown.strip():
        raise DraftError(f"Template `{filename}` produced an empty draft.")
    return markdown


def _template_line(exc: BaseException) -> str:
    """` in `_parts.md.j2` on line 66`: the innermost template frame of the failure."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(TEMPLATE_SUFFIX):
            return f" (`{Path(frame.filename).name}` line {frame.lineno})"
    return ""
