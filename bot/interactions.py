"""Buttons and modals: the postmortem prompts (docs/postmortem.md).

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

from bot import actions, home_tab, views
from bot import text as T
from bot.inbound import ButtonPress, ViewSubmission
from bot.services import Services
from storage import answers
from storage.models import ActionItem, Incident

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")  # what a users_select gives; anything else is not a person


def register(app: App, services: Services) -> None:
    @app.action(views.PROMPT_ACTIONS["root_cause"][0])
    def open_root_cause(ack, body):
        ack()
        open_modal(services, ButtonPress.from_payload(body), "root_cause")

    @app.action(views.PROMPT_ACTIONS["went"][0])
    def open_went(ack, body):
        ack()
        open_modal(services, ButtonPress.from_payload(body), "went")

    @app.action(views.PROMPT_ACTIONS["action"][0])
    def open_action(ack, body):
        ack()
        open_modal(services, ButtonPress.from_payload(body), "action")

    @app.view(views.ROOT_CAUSE_VIEW)
    def root_cause_submitted(ack, body):
        submitted = ViewSubmission.from_payload(body)
        ack(**save_answers(services, submitted, ("root_cause", "contributing_factors"), required="root_cause"))

    @app.view(views.WENT_VIEW)
    def went_submitted(ack, body):
        ack(**save_answers(services, ViewSubmission.from_payload(body), ("went_well", "went_wrong"), required=None))

    @app.view(views.ACTION_VIEW)
    def action_submitted(ack, body):
        ack(**save_action(services, ViewSubmission.from_payload(body)))


UNREADABLE = "This form could not be read. Press Cancel and open it again from the prompt."


def _incident(services: Services, number: int | None) -> Incident | None:
    if number is None:
        return None
    with services.db.read() as session:
        return session.get(Incident, number)


def open_modal(services: Services, press: ButtonPress | None, prompt: str) -> None:
    if press is None or press.trigger_id is None:
        log.warning("prompt button %s without a person or a trigger_id; no modal opened", prompt)
        return
    incident = _incident(services, press.number)
    if incident is None:
        log.warning("prompt button for an unknown incident %r", press.value[:40])
        return
    if prompt == "action":
        view = views.action_modal(incident.id, incident.title)
    else:
        current = answers_of(services, incident.id, press.user_id)
        view = (views.root_cause_modal if prompt == "root_cause" else views.went_modal)(incident.id, incident.title, current)
    try:
        services.slack.views_open(trigger_id=press.trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.open failed for %s: %s", prompt, exc)


def answers_of(services: Services, incident_id: int, user_id: str) -> dict[str, str]:
    """A person's earlier answers by topic, as they typed them (to prefill the modal)."""
    with services.db.read() as session:
        given = answers.answers(session, incident_id)
        return {a.topic: T.decode(a.text) for a in given if a.user_id == user_id}


def _errors(**errors: str) -> dict:
    return {"response_action": "errors", "errors": errors}


def save_answers(services: Services, submitted: ViewSubmission | None, topics: tuple[str, ...],
                 required: str | None) -> dict:
    """Store a person's answers (the latest words replace earlier ones). Returns the ack's arguments."""
    if submitted is None:
        return _errors(**{topics[0]: UNREADABLE})
    incident = _incident(services, submitted.number)
    if incident is None:
        return _errors(**{topics[0]: "This incident no longer exists."})
    given = {topic: submitted.text(topic) for topic in topics}
    if required and not given[required]:
        return _errors(**{required: "Write a few words here, or press Cancel."})
    if not any(given.values()):
        return _errors(**{topics[0]: "Write something in at least one of the boxes, or press Cancel."})
    put_answers(services, incident.id, submitted.user_id, given)
    return {}


def put_answers(services: Services, incident_id: int, user_id: str, given: dict[str, str]) -> None:
    now = services.now()
    with services.db.write() as session:
        for topic, value in given.items():
            if value:
                answers.put_answer(session, incident_id, user_id, topic, T.encode(value), now)
        home_tab.people_changed(session, [user_id], now, at_once=[user_id])  # a question answered


def save_action(services: Services, submitted: ViewSubmission | None) -> dict:
    """Create the action item once per submitted modal, and confirm it in the modal."""
    if submitted is None:
        return _errors(text=UNREADABLE)
    incident = _incident(services, submitted.number)
    if incident is None:
        return _errors(text="This incident no longer exists.")
    text = submitted.text("text")
    if not text:
        return _errors(text="Say what should be done, e.g. `Alert on checkout error rate above 1%`.")
    owner = submitted.selected_user("owner")
    if owner is not None and not _USER_ID.fullmatch(owner):
        return _errors(owner="Pick the owner from the list, or leave it empty.")
    due_text = submitted.selected_date("due")
    try:
        due = date.fromisoformat(due_text) if due_text else None
    except ValueError:
        return _errors(due="Pick a date from the calendar.")
    user_id, now = submitted.user_id, services.now()
    with services.db.write() as session:
        item = actions.record_item(session, ActionItem(
            incident_id=incident.id, text=T.encode(text), owner_id=owner, due=due, status="open",
            created_by=user_id, created_at=now, source_key=f"view:{submitted.view_id}",
        ), now)
        number = item.id if item is not None else None
    past = due is not None and due < now.astimezone(services.people.zone_of(owner or user_id)).date()
    return _saved_view(incident.id, number, text, owner, due, past)


def _saved_view(incident_id: int, number: int | None, text: str, owner: str | None, due: date | None,
                past: bool) -> dict:
    """The modal's answer once the item is saved: the item as stored, in place of the form."""
    lines = [f"*Action item{f' #{number}' if number else ''} saved for {views.ref(incident_id)}*",
             T.escape_mrkdwn_cut(text, 2000),
             f"Owner: {f'<@{owner}>' if owner else 'nobody yet'} · due: {due.isoformat() if due else 'no date'}"]
    if past:
        lines.append(":warning: That due date has already passed; the owner will be reminded at the next sweep.")
    return {"response_action": "update", "view": {
        "type": "modal", "title": views.plain_text(f"Action · {views.ref(incident_id)}", 24),
        "close": views.plain_text("Done", 24),
        "blocks": [{"type": "section", "text": views.mrkdwn_text("\n".join(lines))}],
    }}
