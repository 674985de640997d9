"""Outbox job handlers: each Slack side effect the bot performs in the background, by name.

Handlers receive the job's JSON payload and use the background Web API client (retries on 429 and
5xx). They are written to be harmless if repeated, because a crash after a Slack call and before
the job is recorded as done makes the outbox run it again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import actions, capture, drafting, postmortem, views
from bot.milestones import duration_text, measure
from bot.outbox import PermanentFailure, RetryLater
from bot.services import Services
from bot.slack import forget_dm, open_dm
from bot.when import from_slack_ts
from storage import action_items, drafts, incidents
from storage.models import Incident

log = logging.getLogger(__name__)

HEADER_LEASE_SECONDS = 30

# Slack errors that no retry will fix.
PERMANENT_ERRORS = {
    "channel_not_found", "is_archived", "invalid_auth", "account_inactive", "token_revoked",
    "not_authed", "missing_scope", "user_not_found", "cant_update_message", "message_not_found",
    "msg_too_long", "invalid_blocks", "no_text", "restricted_action",
}


# chat.update answers these when someone deleted the header message: post a new one instead.
HEADER_GONE = {"message_not_found", "cant_update_message"}


def slack_error(exc: SlackApiError) -> str:
    return str((exc.response or {}).get("error") or exc)


def _raise_for(exc: SlackApiError, what: str):
    error = slack_error(exc)
    if error in PERMANENT_ERRORS:
        raise PermanentFailure(f"{what}: {error}") from exc
    raise RuntimeError(f"{what}: {error}") from exc


def handlers(services: Services) -> dict[str, Callable[[dict], None]]:
    """The job kinds this bot knows, bound to its services."""
    client = services.background

    def sync_header(payload: dict) -> None:
        """Post the incident's header message, or update it to the current state."""
        incident_id = payload["incident_id"]
        owner = uuid.uuid4().hex
        now = services.now()
        with services.db.write() as session:
            if not incidents.take_header_lease(session, incident_id, owner, now, HEADER_LEASE_SECONDS):
                raise RetryLater(1.0, "another replica is refreshing this header")
        try:
            with services.db.read() as session:
                incident = incidents.incident_by_number(session, incident_id)
                if incident is None or not incident.channel_id:
                    raise PermanentFailure(f"INC-{incident_id} has no channel")
                message = header_for(services, session, incident)
                channel_id, header_ts = incident.channel_id, incident.header_ts
            try:
                if header_ts:
                    try:
                        client.chat_update(channel=channel_id, ts=header_ts, **message)
                        return
                    except SlackApiError as exc:
                        if slack_error(exc) not in HEADER_GONE:
                            raise
                        log.warning("INC-%s header message is gone (%s); posting a new one", incident_id,
                                    slack_error(exc))
                response = client.chat_postMessage(channel=channel_id, unfurl_links=False, **message)
                with services.db.write() as session:
                    incidents.set_header_ts(session, incident_id, response["ts"])
            except SlackApiError as exc:
                _raise_for(exc, "header")
        finally:
            with services.db.write() as session:
                incidents.release_header_lease(session, incident_id, owner)

    def invite(payload: dict) -> None:
        users = [u for u in payload.get("users", []) if u]
        if not users:
            return
        try:
            client.conversations_invite(channel=payload["channel_id"], users=",".join(users))
        except SlackApiError as exc:
            if slack_error(exc) in {"already_in_channel", "cant_invite_self"}:
                return
            _raise_for(exc, "invite")

    def announce(payload: dict) -> None:
        try:
            client.chat_postMessage(
                channel=payload["channel_id"],
                text=payload["text"],
                blocks=payload.get("blocks"),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            _raise_for(exc, "announce")

    def join(payload: dict) -> None:
        try:
            client.conversations_join(channel=payload["channel_id"])
        except SlackApiError as exc:
            if slack_error(exc) in {"already_in_channel"}:
                return
            if slack_error(exc) in {"method_not_supported_for_channel_type", "channel_not_found"}:
                raise PermanentFailure("private channel: someone must /invite the bot") from exc
            _raise_for(exc, "join")

    def backfill(payload: dict) -> None:
        oldest = from_slack_ts(payload["oldest"])
        try:
            capture.backfill(services, client, payload["incident_id"], payload["channel_id"], oldest,
                             known_threads=bool(payload.get("threads")))
        except SlackApiError as exc:
            _raise_for(exc, "backfill")

    def profile(payload: dict) -> None:
        services.people.fetch(payload["user_id"], client=client)

    def prompt_channel(payload: dict) -> None:
        with services.db.read() as session:
            incident = incidents.incident_by_number(session, payload["incident_id"])
        if incident is None or not incident.channel_id:
            raise PermanentFailure("the incident has no channel")
        message = views.prompt_message(incident.id, incident.title, list(postmortem.PROMPTS), personal=False)
        try:
            client.chat_postMessage(channel=incident.channel_id, unfurl_links=False, unfurl_media=False, **message)
        except SlackApiError as exc:
            _raise_for(exc, "prompt in channel")

    def prompt_dm(payload: dict) -> None:
        """Ask one participant for what they have not answered yet (nothing, if they answered it all)."""
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
            _raise_for(exc, "prompt DM")

    def upload_draft(payload: dict) -> None:
        """Upload a stored draft to its incident channel (once), then post the short summary beside it."""
        now = services.now()
        with services.db.read() as session:
            draft = drafts.draft(session, payload["draft_id"])
            if draft is None:
                raise PermanentFailure("the draft is gone")
            incident = incidents.incident_by_number(session, draft.incident_id)
            if incident is None or not incident.channel_id:
                raise PermanentFailure(f"INC-{draft.incident_id} has no channel")
            data = postmortem.gather(session, incident, services.settings, now)
            prompts = list(postmortem.PROMPTS)
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
                open_questions=drafting.open_questions(data), prompts=prompts,
            )
            client.chat_postMessage(channel=incident.channel_id, unfurl_links=False, **message)
        except SlackApiError as exc:
            _raise_for(exc, "draft upload")

    def rewrite_message(payload: dict) -> None:
        """Show what a button press did, in the message that had the button (bot/actions.py)."""
        blocks = payload["blocks"]
        if "digest" in payload:  # a reminder DM: every item's row as the item is now
            pressed = [i for i in payload["digest"] if isinstance(i, int)]
            wanted = list(dict.fromkeys(actions.digest_item_ids(blocks) + pressed))
            with services.db.read() as session:
                items = action_items.action_items_by_id(session, wanted)
            blocks = actions.rewrite_digest(blocks, items, services.now(), pressed)
        if payload.get("channel") and payload.get("ts"):
            try:
                client.chat_update(channel=payload["channel"], ts=payload["ts"], text=payload["text"], blocks=blocks)
            except SlackApiError as exc:
                _raise_for(exc, "rewrite")
            return
        response = WebhookClient(payload["response_url"], timeout=10).send(
            text=payload["text"], blocks=blocks, replace_original=True)
        if response.status_code != 200:
            raise RuntimeError(f"response_url answered {response.status_code}: {response.body}")

    return {
        actions.REWRITE_JOB: rewrite_message,
        "prompt_channel": prompt_channel,
        "prompt_dm": prompt_dm,
        "upload_draft": upload_draft,
        "sync_header": sync_header,
        "invite": invite,
        "announce": announce,
        "join": join,
        "backfill": backfill,
        "profile": profile,
    }


def report_give_up(services: Services) -> Callable[[str, dict, str], None]:
    """When a job is given up, tell the person who asked for it (through their response_url)."""

    def report(kind: str, payload: dict, error: str) -> None:
        log.error("outbox job %s given up: %s", kind, error)
        response_url = payload.get("response_url")
        if response_url:
            WebhookClient(response_url, timeout=5).send(
                text=f":warning: {payload.get('failure_text') or 'A Slack update failed'} (`{error}`). "
                     "What you recorded is stored; nothing was lost.",
                response_type="ephemeral",
            )

    return report


def header_for(services: Services, session, incident: Incident) -> dict:
    times = {name: m.at for name, m in incidents.milestones(session, incident.id).items()}
    return views.header_message(
        number=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        commander_id=incident.commander_id,
        milestones=times,
        roles=incidents.roles(session, incident.id),
        zone=services.zone_for(incident),
        summary=incident.summary,
        impact=incident.impact,
    )
