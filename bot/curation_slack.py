"""Timeline curation in Slack (docs/capture.md, "Curating the timeline"): the message shortcuts
`edit_timeline_entry` and `add_to_timeline`, their modals, `/incident timeline [page]` with its Edit and
Hide/Show buttons, and `/incident undo`. Each listener reads the payload into a frozen value
(bot/inbound.py), calls one use case of bot/curation.py, and answers: a modal, an inline error
(`response_action: errors`), or a short ephemeral line through the response_url (sent by the outbox).

A shortcut opens its modal before anything slow: a trigger_id works once, within 3 seconds.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot import actions, curation, curation_views, views
from bot import text as T
from bot.changes import Actor
from bot.commands.common import Reply
from bot.curation import CurationRefused, ElsewhereMessage
from bot.inbound import ButtonPress, MessageShortcut, ViewSubmission, message_text, number_in
from bot.services import Services
from bot.when import ACCEPTED_FORMS, FUTURE_SLACK, WhenError, format_time, split_when
from storage import entries, incidents
from storage.db import DatabaseUnavailable
from storage.models import Incident

log = logging.getLogger(__name__)

NOT_AN_ENTRY = ("That message is not in an incident's timeline (the bot's header, a message from before the "
                "incident, or a channel without an incident). To add it to one, use *Add to incident timeline*.")
NOT_SAVED = ":warning: Not saved: the database is not answering. Try again in a minute."


def register(app: App, services: Services) -> None:
    @app.shortcut(curation_views.EDIT_SHORTCUT)
    def edit_shortcut(ack, body):
        ack()
        _guarded(services, _response_url(body), lambda: open_edit_from_message(services, MessageShortcut.from_payload(body)))

    @app.shortcut(curation_views.ADD_SHORTCUT)
    def add_shortcut(ack, body):
        ack()
        _guarded(services, _response_url(body), lambda: open_add(services, MessageShortcut.from_payload(body)))

    @app.view(curation_views.EDIT_VIEW)
    def edit_submitted(ack, body):
        ack(**save_edit(services, ViewSubmission.from_payload(body)))

    @app.view(curation_views.ADD_VIEW)
    def add_submitted(ack, body):
        ack(**save_add(services, ViewSubmission.from_payload(body)))

    @app.action("timeline_edit")
    def edit_pressed(ack, body):
        ack()
        press = ButtonPress.from_payload(body)
        _guarded(services, press and press.response_url, lambda: open_edit_from_button(services, press))

    @app.action(re.compile("^timeline_(hide|show)$"))
    def hide_pressed(ack, body):
        ack()
        press = ButtonPress.from_payload(body)
        _guarded(services, press and press.response_url, lambda: toggle_hidden(services, press))

    @app.action(re.compile("^timeline_page"))
    def page_pressed(ack, body):
        ack()
        press = ButtonPress.from_payload(body)
        _guarded(services, press and press.response_url, lambda: turn_page(services, press))


def _response_url(body) -> str | None:
    url = body.get("response_url") if isinstance(body, dict) else None
    return url if isinstance(url, str) else None


def _guarded(services: Services, response_url: str | None, act) -> None:
    """Run what a shortcut or button does; a refusal or a failure is told to the person, in one line."""
    try:
        act()
    except CurationRefused as exc:
        _tell(services, response_url, f":warning: {exc}")
    except DatabaseUnavailable:
        services.outage.began(services.now())
        _tell(services, response_url, NOT_SAVED, direct=True)
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("curation failed (reference %s)", reference)
        _tell(services, response_url, f":warning: Something went wrong on my side (reference `{reference}`).")


def _tell(services: Services, response_url: str | None, text: str, *, direct: bool = False) -> None:
    """A short ephemeral answer, through the outbox (or straight away when the database is down)."""
    if not response_url:
        return
    if not direct:
        try:
            curation.tell(services, response_url, text)
            return
        except DatabaseUnavailable:
            pass
    try:
        WebhookClient(response_url, timeout=2).send(text=text, response_type="ephemeral", replace_original=False)
    except (OSError, SlackClientError) as exc:
        log.warning("could not answer through the response_url: %s", exc)


NOT_OPENED = (":warning: Slack did not open the form ({reason}). Press the shortcut again; if it keeps "
              "failing, use `/incident log` in the incident channel instead.")


def _open(services: Services, trigger_id: str | None, view: dict, response_url: str | None = None) -> None:
    """Open a modal; when Slack refuses it, the person is told (ephemeral) rather than left waiting."""
    if not trigger_id:
        log.warning("no trigger_id: modal %s not opened", view.get("callback_id"))
        return
    try:
        services.slack.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.open failed for %s: %s", view.get("callback_id"), exc)
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        _tell(services, response_url, NOT_OPENED.format(
            reason=f"`{T.escape_mrkdwn(str(reason))[:60]}`" if reason else "it did not answer"))


# ---------------------------------------------------------------------------------------------
# edit


def open_edit_from_message(services: Services, shortcut: MessageShortcut | None) -> None:
    if shortcut is None:
        return
    with services.db.read() as session:
        entry = entries.entry_of_message(session, shortcut.channel_id, shortcut.message_ts)
    if entry is None:
        raise CurationRefused(NOT_AN_ENTRY)
    _open_edit(services, shortcut.user_id, shortcut.trigger_id, entry.incident_id, entry.id, shortcut.response_url)


def open_edit_from_button(services: Services, press: ButtonPress | None) -> None:
    target = _target(press)
    if target is None:
        return
    incident_id, entry_id, _ = target
    _open_edit(services, press.user_id, press.trigger_id, incident_id, entry_id, press.response_url)


def _open_edit(services: Services, user_id: str, trigger_id: str | None, incident_id: int, entry_id: int,
               response_url: str | None = None) -> None:
    zone = services.people.zone_of(user_id)
    with services.db.read() as session:
        curation.check_may_curate(session, incident_id, user_id)
        entry = entries.entry_by_id(session, entry_id)
        if entry is None or entry.incident_id != incident_id:
            raise CurationRefused("That entry no longer exists; open the timeline again with `/incident timeline`.")
        if entry.deleted:
            raise CurationRefused("That message was deleted in Slack, so it is no longer in the timeline.")
        key = bool(entry.key) or entries.marked_key(session, entry, services.settings.key_event_emoji)
    names = {user: services.people.known_name(user) for user in curation.mentioned(entry.text)[:20]}
    view = curation_views.edit_modal(incident_id=incident_id, entry=entry, zone=zone, key=key,
                                     editable=entry.kind in curation.EDITABLE_KINDS, names=names.get)
    _open(services, trigger_id, view, response_url)


def _errors(**errors: str) -> dict:
    return {"response_action": "errors", "errors": errors}


def _notice(title: str, text: str) -> dict:
    return {"response_action": "update", "view": curation_views.notice_view(title, text)}


UNREADABLE = "This form could not be read. Press Cancel and open it again."


def save_edit(services: Services, submitted: ViewSubmission | None) -> dict:
    """Validate in the acknowledgement (a bad time is shown under its input) and save."""
    try:
        meta = json.loads(submitted.private_metadata) if submitted else None
        incident_id, entry_id = int(meta["incident"]), int(meta["entry"])
    except (ValueError, TypeError, KeyError):
        return _notice("Not saved", UNREADABLE)
    now, zone = services.now(), services.people.zone_of(submitted.user_id)
    at = None
    typed = submitted.text("when")
    if "when" in submitted.inputs and typed != (meta.get("time") or ""):
        if not typed:
            return _errors(when="Give the entry's time, e.g. `14:05`.")
        try:
            when, rest = split_when(typed, now, zone)
        except WhenError as exc:
            said = str(exc)
            if " is in the future." in said:  # when.py's advice (leave the time out) is for new entries
                said = said.split(" is in the future.")[0] + " is in the future; give a time that has passed."
            return _errors(when=said)
        if when is None or rest:
            return _errors(when=f"`{T.truncate(typed, 40)}` is not a time. {ACCEPTED_FORMS}")
        if when.at > now + FUTURE_SLACK:
            return _errors(when=f"{format_time(when.at, zone)} is in the future; give a time that has passed.")
        at = when.at
    text = submitted.inputs.get("text", {}).get("value") if "text" in submitted.inputs else None
    if isinstance(text, str) and not text.strip():
        return _errors(text="The text cannot be empty; tick “Leave out of the postmortem” to hide it instead.")
    flags = submitted.checked("flags")
    try:
        edit = curation.edit_entry(
            services, Actor(submitted.user_id), incident_id, entry_id, at=at,
            text=text if isinstance(text, str) else None,
            key=None if flags is None else "key" in flags, hidden=None if flags is None else "hidden" in flags,
            now=now, seen=_seen(meta), names=services.people.known_name)
    except curation.EditConflict as exc:
        block = {"at": "when", "text": "text"}.get(exc.field, "flags")
        return _errors(**{block if block in submitted.inputs else "flags": str(exc)})
    except CurationRefused as exc:
        return _notice("Not saved", T.escape_mrkdwn(str(exc)))
    except DatabaseUnavailable:
        services.outage.began(now)
        return _notice("Not saved", NOT_SAVED)
    log.info("entry %s of INC-%s: %s", entry_id, incident_id, edit.action or "unchanged")
    return {}  # the modal closes: saved


def _seen(meta: dict) -> curation.Seen:
    """What the modal showed (curation_views.edit_metadata); a modal opened before it said so: nothing."""
    def flag(name: str) -> bool | None:
        return meta.get(name) if isinstance(meta.get(name), bool) else None

    def fingerprint(name: str) -> str | None:
        return meta.get(name) if isinstance(meta.get(name), str) else None

    try:
        at = datetime.fromisoformat(meta["at"]) if isinstance(meta.get("at"), str) else None
    except ValueError:
        at = None
    return curation.Seen(at=at if at and at.tzinfo else None, text=fingerprint("text"),
                         shown=fingerprint("shown"), key=flag("key"), hidden=flag("hidden"))


# ---------------------------------------------------------------------------------------------
# add from another channel


def open_add(services: Services, shortcut: MessageShortcut | None) -> None:
    if shortcut is None:
        return
    with services.db.read() as session:
        open_ones = [i for i in reversed(incidents.list_incidents(session, open_only=True))]
    # an incident in a private channel is listed only to its members, as on the Home tab and the web
    # view (Slack not answering: not listed)
    hidden = services.visibility().hidden(shortcut.user_id, [i.channel_id for i in open_ones if i.channel_id])
    open_ones = [i for i in open_ones if i.channel_id not in hidden]
    if not open_ones:
        raise CurationRefused("No incident is open. Start one with `/incident start <title>`.")
    permalink = _permalink(services, shortcut)
    metadata = curation_views.add_metadata(shortcut.channel_id, shortcut.message_ts, shortcut.author_id,
                                           shortcut.text, permalink, shortcut.thread_ts)
    _open(services, shortcut.trigger_id, curation_views.add_modal(
        incidents=open_ones, message_text=shortcut.text, author_id=shortcut.author_id, metadata=metadata),
        shortcut.response_url)


def _permalink(services: Services, shortcut: MessageShortcut) -> str | None:
    """The message's link, built as Slack builds it (no call to Slack before the modal opens)."""
    base = services.workspace_url(shortcut.team_domain)
    if not base:
        return None
    link = f"{base.rstrip('/')}/archives/{shortcut.channel_id}/p{shortcut.message_ts.replace('.', '')}"
    if shortcut.thread_ts and shortcut.thread_ts != shortcut.message_ts:
        link += f"?thread_ts={shortcut.thread_ts}&cid={shortcut.channel_id}"
    return link


CUT_NOTE = (" Only its first 2,000 characters were stored: the bot cannot read that channel. Invite it "
            "there and add the message again to keep it whole.")


def save_add(services: Services, submitted: ViewSubmission | None) -> dict:
    try:
        meta = json.loads(submitted.private_metadata) if submitted else None
        message = ElsewhereMessage(channel_id=str(meta["channel"]), ts=str(meta["ts"]), user_id=meta.get("user"),
                                   text=str(meta.get("text") or ""), permalink=meta.get("permalink"))
    except (ValueError, TypeError, KeyError):
        return _notice("Not added", UNREADABLE)
    incident_id = number_in(submitted.selected_option("incident") or "")
    if incident_id is None:
        return _errors(incident="Pick an incident from the list.")
    note = ""
    if meta.get("cut") is True:  # the modal could carry only the start of a long message: read it whole
        whole = _whole_text(services, message.channel_id, message.ts, meta.get("thread"))
        if whole:
            message = ElsewhereMessage(message.channel_id, message.ts, message.user_id, whole, message.permalink)
        else:
            note = CUT_NOTE
    try:
        added = curation.add_from_elsewhere(services, Actor(submitted.user_id), incident_id, message)
    except CurationRefused as exc:
        return _errors(incident=str(exc))
    except DatabaseUnavailable:
        services.outage.began(services.now())
        return _notice("Not added", NOT_SAVED)
    ref = views.ref(incident_id)
    if added.created:
        return _notice("Added", f"Added to the timeline of {ref} as a key event." + note)
    return _notice("Already there", f"That message is already in the timeline of {ref}.")


def _whole_text(services: Services, channel_id: str, ts: str, thread_ts) -> str | None:
    """A message's whole text, read again from Slack (conversations.history, or .replies in a thread)
    with the fast client, before the submission's 3-second acknowledgement; None when the bot cannot
    read the channel (not a member, private, Slack slow or down)."""
    try:
        if isinstance(thread_ts, str) and thread_ts != ts:
            answer = services.slack.conversations_replies(channel=channel_id, ts=thread_ts, oldest=ts, latest=ts,
                                                          inclusive=True, limit=1)
        else:
            answer = services.slack.conversations_history(channel=channel_id, oldest=ts, latest=ts, inclusive=True,
                                                          limit=1)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.info("could not read message %s in %s again: %s", ts, channel_id, getattr(exc, "response", exc))
        return None
    for found in answer.get("messages") or []:
        if isinstance(found, dict) and found.get("ts") == ts:
            return message_text(found) or None
    return None


# ---------------------------------------------------------------------------------------------
# `/incident timeline [page]` and its buttons


def _target(press: ButtonPress | None) -> tuple[int, int, int] | None:
    """(incident, entry, page) from a timeline button's value."""
    if press is None:
        return None
    parts = press.value.split(":")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def timeline_message(services: Services, incident_id: int, page: int | None) -> dict:
    """One page of the timeline (the last when `page` is None or past the end)."""
    with services.db.read() as session:
        incident = session.get(Incident, incident_id)
        count = entries.count_shown(session, incident_id)
        last = curation_views.pages(count)
        page = last if page is None else max(1, min(page, last))
        rows = entries.page(session, incident_id, (page - 1) * curation_views.PAGE_SIZE, curation_views.PAGE_SIZE)
        marked = {r.id for r in rows if r.kind == "message" and not r.key
                  and entries.marked_key(session, r, services.settings.key_event_emoji)}
    return curation_views.timeline_page(incident_id=incident_id, rows=rows, page=page, count=count,
                                        zone=services.zone_for(incident),
                                        key_of=lambda r: bool(r.key) or r.id in marked)


def timeline_command(services: Services, incident_id: int, rest: str) -> Reply:
    word = rest.strip()
    if word and not (word.isdigit() and len(word) <= 6):
        return Reply("Usage: `/incident timeline [page]`, e.g. `/incident timeline 2`; without a page, the newest.")
    message = timeline_message(services, incident_id, int(word) if word else None)
    return Reply(message["text"], blocks=message["blocks"])


def undo_command(services: Services, actor: Actor, incident_id: int, now: datetime) -> Reply:
    try:
        return Reply(curation.undo(services, actor, incident_id, now))
    except CurationRefused as exc:
        return Reply(T.escape_mrkdwn(str(exc)))


def toggle_hidden(services: Services, press: ButtonPress | None) -> None:
    target = _target(press)
    if target is None:
        return
    incident_id, entry_id, page = target
    curation.set_hidden(services, Actor(press.user_id, press.response_url), incident_id, entry_id,
                        press.action_id == "timeline_hide")
    _rewrite_page(services, press, incident_id, page)


def turn_page(services: Services, press: ButtonPress | None) -> None:
    target = _target(press)
    if target is None:
        return
    incident_id, _, page = target
    _rewrite_page(services, press, incident_id, page)


def _rewrite_page(services: Services, press: ButtonPress, incident_id: int, page: int) -> None:
    """The ephemeral timeline, rewritten in place through its response_url (by the outbox)."""
    if not press.response_url:
        return
    message = timeline_message(services, incident_id, page)
    now = services.now()
    with services.db.write() as session:
        actions.queue_rewrite(session, {"response_url": press.response_url, "text": message["text"],
                                        "blocks": message["blocks"]}, now, coalesce_key=None)
