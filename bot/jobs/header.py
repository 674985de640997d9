"""The incident header message in the channel: posted once, then updated to the current state."""

from __future__ import annotations

import logging
import uuid

from slack_sdk.errors import SlackApiError

from bot import views
from bot.jobs.errors import raise_for, slack_error
from bot.outbox import PermanentFailure, RetryLater
from bot.services import Services
from storage import incidents
from storage.models import Incident

log = logging.getLogger(__name__)

HEADER_LEASE_SECONDS = 30

# chat.update answers these when someone deleted the header message: post a new one instead.
HEADER_GONE = {"message_not_found", "cant_update_message"}


def sync_header(services: Services, payload: dict) -> None:
    """Post the incident's header message, or update it to the current state (one replica at a time)."""
    incident_id = payload["incident_id"]
    owner = uuid.uuid4().hex
    with services.db.write() as session:
        if not incidents.take_header_lease(session, incident_id, owner, services.now(), HEADER_LEASE_SECONDS):
            raise RetryLater(1.0, "another replica is refreshing this header")
    try:
        _post_or_update(services, incident_id)
    finally:
        with services.db.write() as session:
            incidents.release_header_lease(session, incident_id, owner)


def _post_or_update(services: Services, incident_id: int) -> None:
    client = services.background
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
                log.warning("INC-%s header message is gone (%s); posting a new one", incident_id, slack_error(exc))
        response = client.chat_postMessage(channel=channel_id, unfurl_links=False, **message)
        with services.db.write() as session:
            incidents.set_header_ts(session, incident_id, response["ts"])
    except SlackApiError as exc:
        raise_for(exc, "header")


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
