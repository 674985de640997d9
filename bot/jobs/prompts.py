"""Postmortem jobs: the prompts in the channel and in participants' DMs, and the draft's upload."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot import drafting, postmortem, views
from bot.jobs.errors import raise_for
from bot.milestones import duration_text, measure
from bot.outbox import PermanentFailure
from bot.services import Services
from bot.slack import forget_dm, open_dm
from storage import drafts, incidents


def prompt_channel(services: Services, payload: dict) -> None:
    with services.db.read() as session:
        incident = incidents.incident_by_number(session, payload["incident_id"])
    if incident is None or not incident.channel_id:
        raise PermanentFailure("the incident has no channel")
    message = views.prompt_message(incident.id, incident.title, list(postmortem.PROMPTS), personal=False)
    try:
        services.background.chat_postMessage(channel=incident.channel_id, unfurl_links=False, unfurl_media=False,
                                             **message)
    except SlackApiError as exc:
        raise_for(exc, "prompt in channel")


def prompt_dm(services: Services, payload: dict) -> None:
    """Ask one participant for what they have not answered yet (nothing, if they answered it all)."""
    client = services.background
    incident_id, user_id = payload["incident_id"], payload["user_id"]
    with services.db.read() as session:
        incident = incidents.incident_by_number(session, incident_id)
        prompts = postmortem.prompts_for(session, incident_id, user_id)
    if incident is None or not prompts:
        return
    services.people.fetch(user_id, client=client)  # their name, for the attributed draft
    try:
        channel = open_dm(client, user_id)
        client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False,
                                **views.prompt_message(incident.id, incident.title, prompts, personal=True))
    except SlackApiError as exc:
        forget_dm(client, user_id)
        raise_for(exc, "prompt DM")


def upload_draft(services: Services, payload: dict) -> None:
    """Upload a stored draft to its incident channel (once), then post the short summary beside it."""
    client = services.background
    with services.db.read() as session:
        draft = drafts.draft(session, payload["draft_id"])
        if draft is None:
            raise PermanentFailure("the draft is gone")
        incident = incidents.incident_by_number(session, draft.incident_id)
        if incident is None or not incident.channel_id:
            raise PermanentFailure(f"INC-{draft.incident_id} has no channel")
        data = postmortem.gather(session, incident, services.settings, services.now())
    try:
        if draft.file_id is None:
            response = client.files_upload_v2(
                channel=incident.channel_id,
                content=draft.markdown,
                filename=f"INC-{incident.id}-postmortem-v{draft.version}.md",
                title=f"INC-{incident.id} postmortem draft v{draft.version}",
                snippet_type="markdown",
            )
            with services.db.write() as session:
                drafts.set_draft_file(session, draft.id, response["file"]["id"])
        message = views.draft_summary(
            number=incident.id, version=draft.version, title=incident.title, severity=incident.severity,
            duration=duration_text(data.milestones, data.created_at),
            metrics=[(m.metric.label, m.text) for m in measure(data.milestones, data.created_at)],
            open_questions=drafting.open_questions(data), prompts=list(postmortem.PROMPTS),
        )
        client.chat_postMessage(channel=incident.channel_id, unfurl_links=False, **message)
    except SlackApiError as exc:
        raise_for(exc, "draft upload")
