"""Buttons and modals: the postmortem prompts (SPEC 5).

A prompt button opens its modal at once (a trigger_id lives 3 seconds); a submitted modal is stored
before it is acknowledged, so a closed modal means a saved answer. Modal input arrives raw, exactly
as typed, and is stored in Slack's encoding like every other user text (bot/text.py).
"""

from __future__ import annotations

import logging
import re
from datetime import date

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import actions, views
from bot import text as T
from bot.services import Services
from storage import answers
from storage.models import ActionItem, Incident

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")  # what a users_select gives; anything else is not a person


def register(app: App, services: Services) -> None:
    @app.action(views.PROMPT_ACTIONS["root_cause"][0])
    def open_root_cause(ack, body, action):
        ack()
        open_modal(services, body, action, "root_cause")

    @app.action(views.PROMPT_ACTIONS["went"][0])
    def open_went(ack, body, action):
        ack()
        open_modal(services, body, action, "went")

    @app.action(views.PROMPT_ACTIONS["action"][0])
    def open_action(ack, body, action):
        ack()
        open_modal(services, body, action, "action")

    @app.view(views.ROOT_CAUSE_VIEW)
    def root_cause_submitted(ack, body, view):
        ack(**save_answers(services, body, view, ("root_cause", "contributing_factors"), required="root_cause"))

    @app.view(views.WENT_VIEW)
    def went_submitted(ack, body, view):
        ack(**save_answers(services, body, view, ("went_well", "went_wrong"), required=None))

    @app.view(views.ACTION_VIEW)
    def action_submitted(ack, body, view):
        ack(**save_action(services, body, view))


def _incident_of(services: Services, value: str | None) -> Incident | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    if not 0 < number < 2**31:  # not a number the database could hold (it would raise, not miss)
        return None
    with services.db.read() as session:
        return session.get(Incident, number)


def open_modal(services: Services, body: dict, action: dict, prompt: str) -> None:
    incident = _incident_of(services, action.get("value"))
    user_id = body["user"]["id"]
    if incident is None:
        log.warning("prompt button for an unknown incident %r", action.get("value"))
        return
    if prompt == "action":
        view = views.action_modal(incident.id, incident.title)
    else:
        with services.db.read() as session:
            current = {a.topic: T.decode(a.text) for a in answers.answers(session, incident.id) if a.user_id == user_id}
        view = (views.root_cause_modal if prompt == "root_cause" else views.went_modal)(incident.id, incident.title, current)
    try:
        services.slack.views_open(trigger_id=body["trigger_id"], view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.open failed for %s: %s", prompt, exc)


def _value(view: dict, block_id: str) -> dict:
    return (view.get("state", {}).get("values", {}).get(block_id) or {}).get("value") or {}


def _text(view: dict, block_id: str) -> str:
    return T.storable(_value(view, block_id).get("value") or "").strip()


def _errors(**errors: str) -> dict:
    return {"response_action": "errors", "errors": errors}


def save_answers(services: Services, body: dict, view: dict, topics: tuple[str, ...], required: str | None) -> dict:
    """Store a person's answers (the latest words replace earlier ones). Returns the ack's arguments."""
    incident = _incident_of(services, view.get("private_metadata"))
    if incident is None:
        return _errors(**{topics[0]: "This incident no longer exists."})
    given = {topic: _text(view, topic) for topic in topics}
    if required and not given[required]:
        return _errors(**{required: "Write a few words here, or press Cancel."})
    if not any(given.values()):
        return _errors(**{topics[0]: "Write something in at least one of the boxes, or press Cancel."})
    now = services.now()
    with services.db.write() as session:
        for topic, value in given.items():
            if value:
                answers.put_answer(session, incident.id, body["user"]["id"], topic, T.encode(value), now)
    return {}


def save_action(services: Services, body: dict, view: dict) -> dict:
    """Create the action item once per submitted modal, and confirm it in the modal."""
    incident = _incident_of(services, view.get("private_metadata"))
    if incident is None:
        return _errors(text="This incident no longer exists.")
    text = _text(view, "text")
    if not text:
        return _errors(text="Say what should be done, e.g. `Alert on checkout error rate above 1%`.")
    owner = _value(view, "owner").get("selected_user") or None
    if owner is not None and not _USER_ID.fullmatch(str(owner)):
        return _errors(owner="Pick the owner from the list, or leave it empty.")
    due_text = _value(view, "due").get("selected_date")
    try:
        due = date.fromisoformat(due_text) if due_text else None
    except ValueError:
        return _errors(due="Pick a date from the calendar.")
    user_id, now = body["user"]["id"], services.now()
    encoded = T.encode(text)
    with services.db.write() as session:
        item = actions.record_item(session, ActionItem(
            incident_id=incident.id, text=encoded, owner_id=owner, due=due, status="open",
            created_by=user_id, created_at=now, source_key=f"view:{view.get('id')}",
        ), now)
        number = item.id if item is not None else None
    owner_zone = services.people.zone_of(owner or user_id)
    past = due is not None and due < now.astimezone(owner_zone).date()
    lines = [f"*Action item{f' #{number}' if number else ''} saved for {views.ref(incident.id)}*",
             T.escape_mrkdwn_cut(text, 2000),
             f"Owner: {f'<@{owner}>' if owner else 'nobody yet'} · due: {due.isoformat() if due else 'no date'}"]
    if past:
        lines.append(":warning: That due date has already passed; the owner will be reminded at the next sweep.")
    return {"response_action": "update", "view": {
        "type": "modal", "title": views.plain_text(f"Action · {views.ref(incident.id)}", 24),
        "close": views.plain_text("Done", 24),
        "blocks": [{"type": "section", "text": views.mrkdwn_text("\n".join(lines))}],
    }}
