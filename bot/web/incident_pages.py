"""`GET /incidents` (filters, search, pages, newest first), `GET /incidents/<n>` (everything about
one incident) and its drafts (`/incidents/<n>/drafts/<version>`, `/incidents/<n>/draft.md`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from bot import text as T
from bot import tracker_items
from bot.curation import EDITABLE_KINDS, digest, may_curate
from bot.drafting import TOPICS, permalink
from bot.milestones import (
    MILESTONE_LABELS,
    MILESTONES,
    SEVERITIES,
    STATUS_LABELS,
    measure,
    order_warnings,
    severity_label,
)
from bot.web import charts
from bot.web.viewing import Pager, names_for, page_number, plain, who
from bot.when import format_time, localize
from storage import action_items, activity, answers, browse, incidents

blueprint = Blueprint("incidents", __name__)

LIST_PAGE = 50
TIMELINE_PAGE = 100
STATUSES = ("open", "mitigated", "resolved")
TIMELINE_KINDS = browse.TIMELINE_KINDS
MAX_SEARCH = 200


def _web():
    from bot.web import web_of

    return web_of()


def hidden_channels(session) -> set[str]:
    """The incident channels the viewer may not see."""
    return _web().visibility.hidden(g.viewer.user_id, browse.incident_channels(session))


def visible_incident(session, number: int):
    """The incident, or 404 when there is none or the viewer may not see it (the same answer)."""
    incident = incidents.incident_by_number(session, number)
    if incident is None or not _web().visibility.can_see(g.viewer.user_id, incident.channel_id):
        abort(404)
    return incident


@blueprint.get("/")
def home():
    return redirect(url_for("incidents.incident_list"))


def parse_day(raw: str, name: str) -> date | None:
    """A filter's day (YYYY-MM-DD), None when left empty; BadFilter with one line otherwise."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else _bad(name, raw)
    except ValueError:
        return _bad(name, raw)


class BadFilter(ValueError):
    pass


def day_range(typed_from: str, typed_to: str, zone) -> tuple[datetime | None, datetime | None]:
    """The instants from the start of the first day to the end of the last (the viewer's days);
    BadFilter with one line for a day that is not a date, or one too far off for the calendar."""
    first, last = parse_day(typed_from, "from"), parse_day(typed_to, "to")
    for day, typed in ((first, typed_from), (last, typed_to)):
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise BadFilter(f"“{typed.strip()[:40]}” is too far off: choose days between the years {FIRST_YEAR} "
                            f"and {LAST_YEAR}.")
    since = localize(datetime.combine(first, time()), zone) if first is not None else None
    until = localize(datetime.combine(last + timedelta(days=1), time()), zone) if last is not None else None
    return since, until


FIRST_YEAR, LAST_YEAR = 1970, 9998  # (the end of 9999-12-31 in New York is past the last instant a datetime holds)


def _bad(name: str, raw: str):
    raise BadFilter(f"“{raw[:40]}” is not a date: write the {name} date as YYYY-MM-DD, such as 2026-03-31.")


@blueprint.get("/incidents")
def incident_list():
    zone = g.viewer.zone
    args = request.args
    statuses = tuple(s for s in args.getlist("status") if s in STATUSES)
    severities = tuple(s for s in args.getlist("severity") if s in SEVERITIES)
    search = args.get("q", "").strip()[:MAX_SEARCH]
    problem = None
    since = until = None
    try:
        since, until = day_range(args.get("from", ""), args.get("to", ""), zone)
    except BadFilter as exc:
        problem = str(exc)
    query = browse.IncidentQuery(statuses=statuses, severities=severities, since=since, until=until,
                                 text=T.encode(search) if search else None)
    page = page_number(args.get("page"))
    with _web().services.db.read() as session:
        hidden = hidden_channels(session)
        rows, total = browse.find_incidents(session, query, hidden, offset=(page - 1) * LIST_PAGE, limit=LIST_PAGE)
        ids = [r.id for r in rows]
        times = incidents.milestones_for(session, ids)
        names = names_for(session, [r.commander_id for r in rows])
    listed = [{
        "number": r.id, "title": plain(r.title, names), "severity": severity_label(r.severity),
        "severity_key": r.severity or "none", "status": STATUS_LABELS.get(r.status, r.status),
        "status_key": r.status, "declared": r.created_at, "commander": who(r.commander_id, names),
        "resolved": times[r.id]["resolved"].at if "resolved" in times[r.id] else None,
    } for r in rows]
    return render_template(
        "incidents.html", incidents=listed, pager=Pager(page, LIST_PAGE, total), total=total, problem=problem,
        statuses=STATUSES, status_labels=STATUS_LABELS, severities=SEVERITIES, chosen_statuses=statuses,
        chosen_severities=severities, search=search, day_from=args.get("from", ""), day_to=args.get("to", ""),
    ), 400 if problem else 200


@dataclass(frozen=True)
class Row:
    """One timeline line as the page shows it."""

    at: datetime
    kind: str
    label: str
    text: str
    who: str
    key: bool
    link: str | None = None
    entry_id: int | None = None  # None: a milestone's current time (changed with its command)
    hidden: bool = False
    deleted: bool = False
    edited: bool = False
    editable: bool = False  # time and text may be edited (bot.curation.EDITABLE_KINDS)
    raw_text: str = ""  # what the edit box starts with
    text_seen: str = ""  # fingerprints of the stored text and of the edit box's text (bot.curation.Seen)
    text_shown: str = ""


def _label(kind: str, milestone: str | None) -> str:
    if kind == "milestone":
        return MILESTONE_LABELS.get(milestone or "", "Milestone")
    return {"log": "Log", "message": "Message", "added": "From elsewhere"}.get(kind, kind.capitalize())


def timeline_rows(items, current, names, workspace_url: str | None) -> list[Row]:
    """Rows for a page of the timeline: milestone names (their current time) and entry rows."""
    out = []
    for item in items:
        if isinstance(item, str):
            m = current[item]
            text = f"{MILESTONE_LABELS[item]}: {plain(m.note, names)}" if m.note else MILESTONE_LABELS[item]
            out.append(Row(m.at, "milestone", MILESTONE_LABELS[item], text, who(m.author_id, names), True))
            continue
        e = item
        if e.permalink:  # a message added from another channel
            link = e.permalink
        elif e.kind == "message" and e.channel_id and e.ts:
            link = permalink(workspace_url, e.channel_id, e.ts)
        elif e.post_channel_id and e.post_ts:  # a log entry, as the bot posted it in the channel
            link = permalink(workspace_url, e.post_channel_id, e.post_ts)
        else:
            link = None
        out.append(Row(e.at, e.kind, _label(e.kind, e.milestone), plain(e.text, names), who(e.author_id, names),
                       bool(e.is_key), link, e.id, bool(e.hidden), bool(e.deleted), bool(e.edited_ts),
                       e.kind in EDITABLE_KINDS, T.decode(e.text), digest(e.text),
                       digest(T.storable(T.decode(e.text)))))
    return out


@dataclass(frozen=True)
class TimelinePage:
    items: list  # milestone names (their current times) and entry rows, in time order
    pager: Pager
    everything: int  # lines in the whole timeline, milestones included
    key_events: int  # shown key events among the entries


def timeline_page(session, number: int, key_emoji: str, current, *, key_only: bool, page: int) -> TimelinePage:
    """One page of the timeline, milestones (their current times) merged with the entries in SQL
    order, without reading the whole timeline: a milestone's place is the number of lines before its
    time (milestones come first among equal times), so each page reads only its own entries."""
    placed = sorted(((m.at, order, name) for order, name in enumerate(MILESTONES)
                     if (m := current.get(name)) is not None))
    lines, key_events, befores = browse.timeline_counts(session, number, key_emoji, key_only=key_only,
                                                        befores=[at for at, _, _ in placed])
    positions = {name: befores[i] + i for i, (_, _, name) in enumerate(placed)}
    total = (key_events if key_only else lines) + len(placed)
    pager = Pager(page, TIMELINE_PAGE, total)
    start, end = pager.offset, min(pager.offset + TIMELINE_PAGE, total)
    here = {p: name for name, p in positions.items() if start <= p < end}
    before = sum(1 for p in positions.values() if p < start)
    rows = browse.lines(session, number, key_emoji, key_only=key_only, offset=start - before,
                        limit=max(0, end - start - len(here)))
    items, taken = [], iter(rows)
    for position in range(start, end):
        item = here.get(position) or next(taken, None)
        if item is not None:
            items.append(item)
    return TimelinePage(items, pager, lines + len(placed), key_events)


def activity_log(records, changes, names) -> list[dict]:
    """Every recorded change (bot.curation and bot.changes keep them with before and after), and the
    change entries no record stands for (action items closed, changes older than the activity log)."""
    described = {r.entry_id for r in records if r.entry_id is not None}
    out = [{"at": r.at, "what": r.action.replace("_", " ").capitalize(), "who": who(r.actor, names),
            "text": _before_after(r.before, r.after, names)} for r in records]
    out += [{"at": e.at, "what": e.kind.capitalize(), "who": who(e.author_id, names), "text": plain(e.text, names)}
            for e in changes if e.id not in described]
    out.sort(key=lambda a: a["at"])
    return out


def _shown_value(field: str, value, names) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field in ("at",) and isinstance(value, str):
        try:
            return format_time(datetime.fromisoformat(value), g.viewer.zone)
        except ValueError:
            return value
    if field in ("user_id", "commander_id", "owner_id"):
        return who(str(value), names)
    return plain(str(value), names) if isinstance(value, str) else str(value)


def _before_after(before: dict, after: dict, names) -> str:
    shown = []
    for f in dict.fromkeys([*after, *before]):
        was, now = _shown_value(f, before.get(f), names), _shown_value(f, after.get(f), names)
        if f not in ("channel", "ts", "permalink") and was != now:  # what changed, nothing else
            shown.append(f"{f}: {was} → {now}")
    return "; ".join(shown)


MAX_MARKERS = 300  # key events drawn on the chart; past that, an even sample of them


@blueprint.get("/incidents/<int:number>")
def incident_page(number: int):
    web = _web()
    key_only = request.args.get("key") == "1"
    page = page_number(request.args.get("page"))
    with web.services.db.read() as session:
        incident = visible_incident(session, number)
        current = incidents.milestones(session, number)
        emoji = web.settings.key_event_emoji
        shown_page = timeline_page(session, number, emoji, current, key_only=key_only, page=page)
        page_items, pager = shown_page.items, shown_page.pager
        marked = browse.key_sample(session, number, emoji, MAX_MARKERS, shown_page.key_events)
        roles = incidents.roles(session, number)
        said = answers.answers(session, number)
        items = action_items.action_items(session, number)
        drafts = browse.draft_versions(session, number)
        records = activity.history(session, number)
        changes = browse.change_entries(session, number)
        people = ({incident.commander_id, incident.created_by} | set(roles.values()) | {a.user_id for a in said}
                  | {i.owner_id for i in items} | {getattr(e, "author_id", None) for e in page_items}
                  | {d.created_by for d in drafts}
                  | {r.actor for r in records} | {m.author_id for m in current.values()}
                  | {e.author_id for e in changes})
        names = names_for(session, people)
    times = {name: m.at for name, m in current.items()}
    shown = timeline_rows(page_items, current, names, incident.workspace_url)
    zone = g.viewer.zone
    markers = [charts.Marker(row.at, T.truncate(plain(row.text, names), 120)) for row in marked]
    chart = charts.phase_chart(times, markers, zone, lambda at, z: format_time(at, z), total_markers=shown_page.key_events)
    topics = [{"label": label, "answers": [{"who": who(a.user_id, names), "text": plain(a.text, names),
                                             "at": a.answered_at} for a in said if a.topic == key and a.text.strip()]}
              for key, label in TOPICS.items()]
    today = web.services.now().astimezone(zone).date()
    actions = [{"number": i.id, "text": plain(i.text, names), "owner": who(i.owner_id, names), "due": i.due,
                "status": i.status, "overdue": i.status == "open" and i.due is not None and i.due < today,
                "issue": tracker_items.web_link(i)}
               for i in items]
    return render_template(
        "incident.html", incident=incident, number=number, title=plain(incident.title, names),
        severity=severity_label(incident.severity), status=STATUS_LABELS.get(incident.status, incident.status),
        summary=plain(incident.summary, names) if incident.summary else None,
        impact=plain(incident.impact, names) if incident.impact else None,
        commander=who(incident.commander_id, names),
        roles=[(r, who(u, names)) for r, u in roles.items() if r != "commander"],
        milestones=[(MILESTONE_LABELS[n], times.get(n)) for n in MILESTONES],
        metrics=measure(times, incident.created_at), warnings=order_warnings(times), chart=chart,
        timeline=shown, pager=pager, key_only=key_only, total_timeline=shown_page.everything,
        activity=activity_log(records, changes, names), topics=topics, actions=actions,
        drafts=[(d, who(d.created_by, names)) for d in drafts], channel=incident.channel_name,
        curate=g.viewer.user_id is not None, local_input=lambda at: local_input(at, zone),
        curate_entries=g.viewer.user_id is not None and may_curate(web.services, number, g.viewer.user_id),
    )


def local_input(at: datetime, zone) -> str:
    """An instant as a datetime-local field's value in the viewer's zone, to the second."""
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _version(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        abort(400, description=f"“{raw[:20]}” is not a draft version: use a number such as ?version=2.")
    return int(raw)


@blueprint.get("/incidents/<int:number>/drafts/<int:version>")
def draft_page(number: int, version: int):
    with _web().services.db.read() as session:
        incident = visible_incident(session, number)
        found = browse.draft_markdown(session, number, version)
        versions = browse.draft_versions(session, number)
    if found is None:
        abort(404)
    return render_template("draft.html", number=number, title=T.plain(incident.title), version=found[0],
                           markdown=found[1], versions=versions)


@blueprint.get("/incidents/<int:number>/draft.md")
def draft_download(number: int):
    version = _version(request.args.get("version"))
    with _web().services.db.read() as session:
        visible_incident(session, number)
        found = browse.draft_markdown(session, number, version)
    if found is None:
        abort(404)
    filename = f"INC-{number}-postmortem-v{found[0]}.md"
    return Response(found[1], mimetype="text/markdown",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
