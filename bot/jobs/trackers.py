"""Tracker jobs: create an item's issue, close it, poll the issues' states, tell the commander about a
refused token, and publish a postmortem (docs/trackers.md).

- `tracker_create` is queued with the item (bot.actions.record_item), once per item (idempotency key
  `tracker:create:<id>`). Before the first POST the item is marked as tried, in its own commit; any
  later attempt searches the tracker by the item's marker first, so a create whose answer was lost
  (a timeout, a 5xx after the POST) is found instead of made twice.
- TrackerRetryLater → outbox RetryAfter: retried after the longer of the tracker's time (Retry-After,
  rate-limit reset; none for a 5xx or a dropped connection that named none) and the outbox's backoff,
  the same for GitHub and Jira; after the last attempt `gave_up` marks the item "could not create the
  tracker issue" (shown with a Retry button). TrackerAuthError → the item shows the failure and the
  incident's commander gets one DM saying what to fix (`tracker_alert`, claimed once per incident).
- `tracker_close` makes the issue closed when the item is done (completed) or dropped (not planned);
  an item that is open again when it runs is left alone.
- `tracker_poll` (queued by the reminder sweep, once per interval) reads the states of the tracked
  items' issues in one batch (POLL_BATCH, the least recently read first, so every tracked item is
  read in turn) and applies what changed there, like a webhook would.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import text as T
from bot import home_tab, tracker_items, views
from bot.jobs.errors import raise_for
from bot.outbox import PermanentFailure, RetryAfter
from bot.services import Services
from bot.slack import forget_dm, open_dm
from bot.trackers import Tracker, TrackerAuthError, TrackerError, TrackerRetryLater
from bot.actions import apply_tracker_change
from bot.tracking import ALERT_JOB, queue_close
from storage import action_items, incidents, outbox_jobs
from storage.models import ActionItem, Incident

log = logging.getLogger(__name__)

# items asked about per poll (their issues are read 100 a page, or 50 keys a search): when more are
# tracked, each poll takes the ones read least recently (action_item.tracker_polled_at), so all of
# them are read in turn, POLL_BATCH a sweep. At most ~70 GitHub requests (50 pages and 20 single
# reads) or 10 Jira searches a poll, far below either tracker's hourly budget.
POLL_BATCH = 500
POLL_CLOSED_FOR = timedelta(days=30)  # a closed item's issue is watched this long for a reopen


def _retry(exc: TrackerRetryLater) -> RetryAfter:
    return RetryAfter(str(exc), exc.after_seconds)


# ---------------------------------------------------------------------------------------------
# create


def create_issue(services: Services, payload: dict) -> None:
    """The `tracker_create` job."""
    tracker = services.tracker()
    if tracker is None:
        return  # TRACKER=none: items are not sent anywhere
    item_id = int(payload["item_id"])
    with services.db.read() as session:
        item = session.get(ActionItem, item_id)
        incident = session.get(Incident, item.incident_id) if item is not None else None
    if item is None or incident is None or item.tracker_key:
        return  # gone, or created already (by an earlier attempt that was recorded)
    try:
        if item.tracker_tried_at is not None:  # an earlier attempt may have created it: look first
            found = tracker.find_by_marker(tracker_items.marker(item_id))
            if found is not None:
                _created(services, tracker, item_id, found)
                return
        new = _new_issue(services, item, incident)
        with services.db.write() as session:
            action_items.mark_tracker_tried(session, item_id, tracker.name, services.now())
        issue = tracker.create_issue(new)
    except TrackerRetryLater as exc:
        raise _retry(exc) from None
    except TrackerAuthError as exc:
        _failed(services, item, incident, exc, alert=True)
        raise PermanentFailure(str(exc)) from None
    except TrackerError as exc:
        _failed(services, item, incident, exc)
        raise PermanentFailure(str(exc)) from None
    _created(services, tracker, item_id, issue)


def _new_issue(services: Services, item: ActionItem, incident: Incident):
    owner_name = owner_email = None
    if item.owner_id:
        person = services.people.get(item.owner_id)
        owner_name = person.name if person is not None else None
        owner_email = _email(services, item.owner_id) if services.settings.tracker == "jira" else None
    workspace = incident.workspace_url or services.workspace_url()
    channel_url = f"{workspace.rstrip('/')}/archives/{incident.channel_id}" if workspace and incident.channel_id \
        else None
    return tracker_items.new_issue(
        item_id=item.id, text=item.text, due=item.due, incident_ref=views.ref(incident.id),
        incident_title=incident.title, channel_url=channel_url, owner_name=owner_name, owner_email=owner_email)


def _email(services: Services, user_id: str) -> str | None:
    """The owner's e-mail from Slack, for trackers that map people by it (Jira); None when Slack does
    not say (the app needs the `users:read.email` scope for it: docs/trackers.md)."""
    try:
        return ((services.background.users_info(user=user_id).get("user") or {}).get("profile") or {}).get("email")
    except (SlackApiError, SlackClientError, OSError):
        return None


def _created(services: Services, tracker: Tracker, item_id: int, issue) -> None:
    with services.db.write() as session:
        item = action_items.set_tracker_issue(session, item_id, tracker.name, issue.key, issue.url, issue.state)
        if item is not None and item.status != "open" and issue.state == "open":
            queue_close(session, item_id, services.now())  # closed in Slack while the issue was being made
        if item is not None:
            home_tab.people_changed(session, [item.owner_id], services.now())  # its link on the Home tab
    log.info("action item #%s: %s issue %s", item_id, tracker.name, issue.key)


def _failed(services: Services, item: ActionItem, incident: Incident, exc: TrackerError, alert: bool = False):
    with services.db.write() as session:
        action_items.set_tracker_error(session, item.id, f"{tracker_items.CREATE_FAILED}: {exc}")
        home_tab.people_changed(session, [item.owner_id], services.now())  # its Retry button on the Home tab
        if alert:
            _alert_once(services, session, incident, item, exc)


def _alert_once(services: Services, session, incident: Incident, item: ActionItem, exc: TrackerError) -> None:
    """Queue the commander's DM about a refused token or permission, once per incident."""
    recipient = incident.commander_id or item.created_by
    if recipient and incidents.claim_tracker_alert(session, incident.id, services.now()):
        outbox_jobs.enqueue_once(session, ALERT_JOB, {"incident_id": incident.id, "user_id": recipient,
                                                      "error": str(exc)[:500]},
                                 services.now(), f"tracker:alert:{incident.id}")


def gave_up(services: Services, payload: dict, error: str) -> None:
    """After the last retry of a create: the item says so wherever it is shown, with a Retry button."""
    item_id = payload.get("item_id")
    if item_id is None:
        return
    with services.db.write() as session:
        action_items.set_tracker_error(session, int(item_id), f"{tracker_items.CREATE_FAILED}: {error}")
        item = session.get(ActionItem, int(item_id))
        if item is not None:
            home_tab.people_changed(session, [item.owner_id], services.now())  # its Retry button on the Home tab


# ---------------------------------------------------------------------------------------------
# close


def close_issue(services: Services, payload: dict) -> None:
    """The `tracker_close` job: the item is done or dropped, so its issue is closed."""
    tracker = services.tracker()
    if tracker is None:
        return
    item_id = int(payload["item_id"])
    with services.db.read() as session:
        item = session.get(ActionItem, item_id)
    if item is None or not item.tracker_key or item.tracker != tracker.name or item.status == "open":
        return  # no issue yet (the create closes it), another tracker's, or reopened since
    try:
        tracker.close(item.tracker_key, "completed" if item.status == "done" else "not_planned")
    except TrackerRetryLater as exc:
        raise _retry(exc) from None
    except TrackerAuthError as exc:
        with services.db.write() as session:
            incident = session.get(Incident, item.incident_id)
            if incident is not None:
                _alert_once(services, session, incident, item, exc)
        raise PermanentFailure(str(exc)) from None
    except TrackerError as exc:
        raise PermanentFailure(str(exc)) from None
    with services.db.write() as session:
        action_items.set_tracker_state(session, item_id, "closed")


# ---------------------------------------------------------------------------------------------
# changes made in the tracker (webhooks and polling)


def poll(services: Services, payload: dict) -> None:
    """The `tracker_poll` job: the tracked items' issues' states, in one batch, applied like webhooks."""
    tracker = services.tracker()
    if tracker is None:
        return
    with services.db.read() as session:
        items = action_items.tracked_items(session, tracker.name, services.now() - POLL_CLOSED_FOR, POLL_BATCH)
    if not items:
        return
    try:
        states = tracker.states([i.tracker_key for i in items])
    except TrackerRetryLater as exc:
        raise _retry(exc) from None
    except TrackerError as exc:
        raise PermanentFailure(str(exc)) from None
    now = services.now()
    changed = 0
    with services.db.write() as session:
        for item in items:
            seen = states.get(item.tracker_key)
            if seen is None:
                continue
            if seen.state != item.tracker_state:  # it changed there since we last looked
                apply_tracker_change(session, tracker.name, item.tracker_key, seen.state, seen.reason, now)
                changed += 1
            elif item.status != "open" and seen.state == "open":  # closed here; the close has not got there
                queue_close(session, item.id, now)
        action_items.mark_polled(session, [i.id for i in items], now)
    log.info("tracker poll: %s issue(s) read, %s changed there", len(states), changed)


# ---------------------------------------------------------------------------------------------
# the commander's one message about a refused token


def alert(services: Services, payload: dict) -> None:
    """The `tracker_alert` job: DM the commander what the tracker refused and what to fix."""
    ref = views.ref(int(payload["incident_id"]))
    name = {"github": "GitHub", "jira": "Jira"}.get(services.settings.tracker, "the tracker")
    text = (f":warning: {name} refused the bot's change to action items of {ref}: "
            f"{T.escape_mrkdwn(payload['error'])}\nOnce that is fixed, press *Retry issue* beside each item in "
            "`/incident actions` (closed items are brought in step by the next reminder sweep). "
            "You get this message once per incident.")
    user_id = payload["user_id"]
    client = services.background
    try:
        channel = open_dm(client, user_id)
        client.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False,
                                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}])
    except SlackApiError as exc:
        forget_dm(client, user_id)
        raise_for(exc, "tracker alert")


# ---------------------------------------------------------------------------------------------
# postmortems as code


def publish(services: Services, payload: dict) -> None:
    """The `postmortem_publish` job: commit the latest draft, open or update the pull request, and
    answer the person who asked with its link (through their response_url)."""
    from slack_sdk.webhook import WebhookClient

    from bot import publishing

    incident_id = int(payload["incident_id"])
    try:
        draft, pull = publishing.publish(services.db, services.settings, incident_id, payload.get("user_id"),
                                         services.now())
    except publishing.NothingToPublish as exc:
        raise PermanentFailure(str(exc)) from None
    except TrackerRetryLater as exc:
        raise _retry(exc) from None
    except TrackerError as exc:
        raise PermanentFailure(str(exc)) from None
    link = f"<{tracker_items.safe_url(pull.url)}|pull request #{pull.number}>"
    repo = f"`{T.escape_mrkdwn(services.settings.postmortem_repo)}`"
    if pull.merged:
        text = (f":page_facing_up: The postmortem of {views.ref(incident_id)} (draft v{draft.version}) is "
                f"already published: {link} was merged in {repo}, and the draft has not changed since.")
    else:
        verb = "opened" if pull.created else "updated"
        text = (f":page_facing_up: The postmortem of {views.ref(incident_id)} (draft v{draft.version}) is "
                f"published: {link} {verb} in {repo}.")
    if payload.get("response_url"):
        response = WebhookClient(payload["response_url"], timeout=10).send(text=text, response_type="in_channel")
        if response.status_code != 200:
            raise RuntimeError(f"response_url answered {response.status_code}")
