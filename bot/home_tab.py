"""The Home tab: who opened it, what it shows them, and when it is published again (docs/home.md).

Opening the tab (`app_home_opened`) remembers the person (storage/home_viewers.py) and queues the
publication of their view at once. Afterwards their view is published again, throttled, when
something on it changes: an incident opened or changed (status, severity, commander, title: every
recent viewer), their action items, their postmortem questions. Each person has at most one waiting
`publish_home` job (coalesce key `home:<user>`), due MIN_INTERVAL after the change that queued it,
which absorbs every later change until it runs: a burst of changes gives one republication per
interval, not one each. A change seen by everyone queues one `refresh_homes` job, throttled the same
way, which queues each recent viewer's publication when it runs. The job reads the database when it
runs (bot/jobs/home.py) and builds the view with bot/home.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import select

from bot import action_blocks, home, postmortem, tracker_items
from bot.inbound import ButtonPress
from bot.milestones import duration_text
from bot.services import Services
from storage import action_items, browse, home_viewers, incidents, outbox_jobs
from storage.models import Incident

log = logging.getLogger(__name__)

PUBLISH_JOB = "publish_home"
REFRESH_ALL_JOB = "refresh_homes"
KINDS = frozenset({PUBLISH_JOB, REFRESH_ALL_JOB})
MIN_INTERVAL = timedelta(seconds=10)  # between two publications of one person's view after changes
VIEWERS_FOR = timedelta(days=30)  # people who opened the tab this recently are kept current
QUESTIONS_FOR = timedelta(days=30)  # prompts older than this no longer show on the Home tab
QUESTIONS_SCANNED = 50
# the changes to an incident that show on everyone's Home tab
SHOWN_FIELDS = frozenset({"severity", "status", "commander_id", "title"})
_PAGE_VALUE = re.compile(r"(incidents|items):(\d{1,6})")


# ---------------------------------------------------------------------------------------------
# queueing publications


def opened(services: Services, user_id: str) -> None:
    """Someone opened the Home tab: remember them, and publish their view now (first pages)."""
    now = services.now()
    with services.db.write() as session:
        home_viewers.remember_opened(session, user_id, now)
        _queue_publish(session, user_id, now, timedelta(0))


def turn_page(services: Services, press: ButtonPress) -> None:
    """A More or Previous button: show that page of that list, now."""
    m = _PAGE_VALUE.fullmatch(press.value)
    if m is None:
        log.warning("a Home tab page button with the value %r; ignored", press.value[:40])
        return
    now = services.now()
    with services.db.write() as session:
        if home_viewers.set_page(session, press.user_id, f"{m.group(1)}_page", int(m.group(2))):
            _queue_publish(session, press.user_id, now, timedelta(0))


def people_changed(session, user_ids: Iterable[str | None], now: datetime, *, at_once: Iterable[str] = ()) -> None:
    """What these people's Home tabs show changed (their items, their questions): publish theirs again,
    throttled; those in `at_once` (who pressed a button on it) right away."""
    now_ids = set(at_once)
    for user_id in home_viewers.viewers_among(session, user_ids, now - VIEWERS_FOR):
        _queue_publish(session, user_id, now, timedelta(0) if user_id in now_ids else MIN_INTERVAL)


def everyone_changed(session, now: datetime) -> None:
    """What every Home tab shows changed (an incident opened, or its status, severity or commander):
    one throttled job that republishes each recent viewer's view (none while nobody uses the tab)."""
    if not home_viewers.any_since(session, now - VIEWERS_FOR):
        return
    outbox_jobs.enqueue(session, REFRESH_ALL_JOB, {}, now, coalesce_key="homes:everyone", delay=MIN_INTERVAL)


def incident_changed(session, fields: Iterable[str], milestone: str | None, now: datetime) -> None:
    """Called by bot/changes.py for every change to an incident: the ones Home tabs show refresh them."""
    if milestone is not None or SHOWN_FIELDS.intersection(fields):
        everyone_changed(session, now)


def queue_everyone(session, now: datetime) -> int:
    """The `refresh_homes` job's work: queue each recent viewer's publication. Returns how many."""
    viewers = home_viewers.recent_viewers(session, now - VIEWERS_FOR)
    for user_id in viewers:
        _queue_publish(session, user_id, now, timedelta(0))
    return len(viewers)


def _queue_publish(session, user_id: str, now: datetime, delay: timedelta) -> None:
    outbox_jobs.enqueue(session, PUBLISH_JOB, {"user_id": user_id}, now, coalesce_key=f"home:{user_id}", delay=delay)


# ---------------------------------------------------------------------------------------------
# what one person's Home tab shows


def gather(session, services: Services, user_id: str, now: datetime) -> home.Home | None:
    """One person's Home tab as of `now`, read in the caller's session (None: they never opened it)."""
    viewer = home_viewers.viewer(session, user_id)
    if viewer is None:
        return None
    zone = services.people.zone_of(user_id)
    # an incident in a private channel is shown only to that channel's members, as on the web view
    hidden = services.visibility().hidden(user_id, browse.incident_channels(session))
    per = home.INCIDENTS_PER_PAGE
    open_rows, open_total = incidents.open_incidents_page(session, viewer.incidents_page * per, per, hidden)
    incidents_page = min(viewer.incidents_page, home.last_page(open_total, per))
    if incidents_page != viewer.incidents_page:  # incidents were resolved meanwhile: show the last page
        open_rows, open_total = incidents.open_incidents_page(session, incidents_page * per, per, hidden)
    per_items = home.ITEMS_PER_PAGE
    item_rows, items_total = action_items.open_items_of(session, user_id, viewer.items_page * per_items, per_items)
    items_page = min(viewer.items_page, home.last_page(items_total, per_items))
    if items_page != viewer.items_page:
        item_rows, items_total = action_items.open_items_of(session, user_id, items_page * per_items, per_items)
    channels = {i.id: i.channel_id for i in session.exec(_incidents_of(r.incident_id for r in item_rows))}
    questions = _questions(session, services, user_id, now)
    resolved = []
    for incident, resolved_at in incidents.recently_resolved(session, home.RESOLVED_SHOWN, hidden):
        times = {name: m.at for name, m in incidents.milestones(session, incident.id).items()}
        resolved.append(home.Resolved(incident.id, incident.title, incident.severity, incident.channel_id, resolved_at,
                                      duration_text(times, incident.created_at)))
    return home.Home(
        viewer=user_id, zone=zone, now=now,
        incidents=tuple(home.OpenIncident(i.id, i.title, i.severity, i.status, i.commander_id, i.channel_id,
                                          i.created_at) for i in open_rows),
        incidents_total=open_total, incidents_page=incidents_page,
        items=tuple(home.MyItem(i.id, i.incident_id, i.text, i.due, channels.get(i.incident_id), i.snoozed_until,
                                issue=tracker_items.slack_link(i), retry=action_blocks.needs_retry(i)) for i in item_rows),
        items_total=items_total, items_page=items_page,
        questions=tuple(questions[:home.QUESTIONS_SHOWN]), questions_total=len(questions),
        resolved=tuple(resolved),
    )


def _incidents_of(ids: Iterable[int]):
    return select(Incident).where(Incident.id.in_(sorted(set(ids))))


def _questions(session, services: Services, user_id: str, now: datetime) -> list[home.Question]:
    """Resolved incidents (prompted within QUESTIONS_FOR) that asked this person, and what they still owe."""
    waiting = []
    for incident in incidents.prompted_since(session, now - QUESTIONS_FOR)[:QUESTIONS_SCANNED]:
        asked = postmortem.participants(session, incident.id)[: services.settings.prompt_max_people]
        if user_id not in asked:
            continue
        prompts = postmortem.prompts_for(session, incident.id, user_id)
        if prompts:
            waiting.append(home.Question(incident.id, incident.title, incident.channel_id, tuple(prompts)))
    return waiting


# ---------------------------------------------------------------------------------------------
# listeners


def register(app, services: Services) -> None:
    """The Home tab's More and Previous buttons (bot/app.py registers `app_home_opened` itself)."""

    @app.action(re.compile(rf"{home.PAGE_ACTION}_\w+"))
    def page_turned(ack, body):
        press = ButtonPress.from_payload(body)
        if press is not None:
            turn_page(services, press)
        ack()
