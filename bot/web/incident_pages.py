"""`GET /incidents` (filters, search, pages, newest first), `GET /incidents/<n>` (everything about
one incident) and its drafts (`/incidents/<n>/drafts/<version>`, `/incidents/<n>/draft.md`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from bot import text as T
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
from bot.timeline import Item, assemble
from bot.web import charts
from bot.web.viewing import Pager, names_for, page_number, plain, who
from bot.when import format_time, localize
from storage import action_items, answers, browse, entries, incidents

blueprint = Blueprint("incidents", __name__)

LIST_PAGE = 50
TIMELINE_PAGE = 100
STATUSES = ("open", "mitigated", "resolved")
TIMELINE_KINDS = ("log", "message")  # what people said and logged; everything else is the activity log
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


def _day(raw: str, name: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else _bad(name, raw)
    except ValueError:
        return _bad(name, raw)


class BadFilter(ValueError):
    pass


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
        first, last = _day(args.get("from", ""), "from"), _day(args.get("to", ""), "to")
        if first is not None:
            since = localize(datetime.combine(first, time()), zone)
        if last is not None:
            until = localize(datetime.combine(last + timedelta(days=1), time()), zone)
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

    item: Item
    text: str
    who: str
    link: str | None
    label: str


def _label(item: Item) -> str:
    if item.kind == "milestone":
        return MILESTONE_LABELS.get(item.milestone or "", "Milestone")
    return {"log": "Log", "message": "Message"}.get(item.kind, item.kind.capitalize())


def _row(item: Item, names, workspace_url: str | None) -> Row:
    link = (permalink(workspace_url, item.channel_id, item.ts)
            if item.kind == "message" and item.channel_id and item.ts else None)
    return Row(item, plain(item.text, names), who(item.author, names), link, _label(item))


@blueprint.get("/incidents/<int:number>")
def incident_page(number: int):
    web = _web()
    key_only = request.args.get("key") == "1"
    page = page_number(request.args.get("page"))
    with web.services.db.read() as session:
        incident = visible_incident(session, number)
        rows = entries.timeline(session, number, web.settings.key_event_emoji)
        current = incidents.milestones(session, number)
        roles = incidents.roles(session, number)
        said = answers.answers(session, number)
        items = action_items.action_items(session, number)
        drafts = browse.draft_versions(session, number)
        activity_rows = [r for r in rows if r.entry.kind not in TIMELINE_KINDS]
        people = ({incident.commander_id, incident.created_by} | set(roles.values()) | {a.user_id for a in said}
                  | {i.owner_id for i in items} | {r.entry.author_id for r in rows} | {d.created_by for d in drafts})
        names = names_for(session, people)
    times = {name: m.at for name, m in current.items()}
    timeline = [i for i in assemble(rows, current) if i.kind in TIMELINE_KINDS or i.key]
    chosen = [i for i in timeline if i.key] if key_only else timeline
    pager = Pager(page, TIMELINE_PAGE, len(chosen))
    shown = [_row(i, names, incident.workspace_url) for i in chosen[pager.offset:pager.offset + TIMELINE_PAGE]]
    zone = g.viewer.zone
    markers = [charts.Marker(i.time, plain(i.text, names)) for i in timeline if i.key and i.kind != "milestone"]
    chart = charts.phase_chart(times, markers, zone, lambda at, z: format_time(at, z))
    activity = [{"at": r.entry.at, "kind": r.entry.kind.capitalize(), "who": who(r.entry.author_id, names),
                 "text": plain(r.entry.text, names)} for r in activity_rows]
    topics = [{"label": label, "answers": [{"who": who(a.user_id, names), "text": plain(a.text, names),
                                             "at": a.answered_at} for a in said if a.topic == key and a.text.strip()]}
              for key, label in TOPICS.items()]
    today = datetime.now(zone).date()
    actions = [{"number": i.id, "text": plain(i.text, names), "owner": who(i.owner_id, names), "due": i.due,
                "status": i.status, "overdue": i.status == "open" and i.due is not None and i.due < today}
               for i in items]
    return render_template(
        "incident.html", incident=incident, number=number, title=plain(incident.title, names),
        severity=severity_label(incident.severity), status=STATUS_LABELS.get(incident.status, incident.status),
        summary=plain(incident.summary, names) if incident.summary else None,
        impact=plain(incident.impact, names) if incident.impact else None,
        commander=who(incident.commander_id, names), roles=[(r, who(u, names)) for r, u in roles.items()],
        milestones=[(MILESTONE_LABELS[n], times.get(n)) for n in MILESTONES],
        metrics=measure(times, incident.created_at), warnings=order_warnings(times), chart=chart,
        timeline=shown, pager=pager, key_only=key_only, total_timeline=len(timeline), activity=activity,
        topics=topics, actions=actions, drafts=[(d, who(d.created_by, names)) for d in drafts],
        channel=incident.channel_name, curate=g.viewer.user_id is not None,
    )


def _version(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not raw.isdigit() or len(raw) > 9:
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
