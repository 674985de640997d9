"""Block Kit and message text for timeline curation (pure): a log entry's post in the channel, the
edit and add modals, and the paged `/incident timeline` (bot/curation_slack.py sends them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot import text as T
from bot import views
from bot.curation import digest, editable_text
from bot.when import format_time, slack_date

LOG_TEXT_LIMIT = 3000


def log_post(entry, zone: tzinfo) -> dict:
    """A `/incident log` entry as the bot posts it in the incident channel: its time as a `<!date>`
    token (each reader sees their own zone), who logged it, its text (never a live mention)."""
    when = slack_date(entry.at, zone)
    who = f"<@{entry.author_id}>" if entry.author_id else "someone"
    text = T.mrkdwn_cut(entry.text, LOG_TEXT_LIMIT)
    if entry.hidden:
        line = f":memo: {when} logged by {who}, left out of the timeline: ~{text}~"
    else:
        line = f":memo: {when} logged by {who}: {text}" + (" _(edited)_" if entry.text_edited_by else "")
    return {"text": line}


# ---------------------------------------------------------------------------------------------
# the edit modal (message shortcut `edit_timeline_entry`, or Edit in `/incident timeline`)

EDIT_SHORTCUT = "edit_timeline_entry"
ADD_SHORTCUT = "add_to_timeline"
EDIT_VIEW = "timeline_entry_edit"
ADD_VIEW = "timeline_entry_add"
TEXT_INPUT_LIMIT = 3000  # plain_text_input's max_length
SELECT_OPTIONS = 100  # static_select options


def editable_time(at: datetime, zone: tzinfo) -> str:
    """An entry's time as the `<when>` grammar reads it back, in `zone`, with the zone named:
    `2026-11-22 14:05 Europe/Berlin` (seconds only when there are some). A time in a DST fold that
    the wall clock alone cannot name is given with its offset (`2026-10-25T02:30:00+01:00`)."""
    local = at.astimezone(zone)
    clock = f"{local:%H:%M}" if local.second == 0 and local.microsecond == 0 else f"{local:%H:%M:%S}"
    key = getattr(zone, "key", None)
    if key is None or local.fold:
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d}T{clock}{offset[:3]}:{offset[3:]}"
    return f"{local:%Y-%m-%d} {clock} {key}"


def edit_metadata(incident_id: int, entry_id: int, shown_time: str | None, *, at: datetime | None = None,
                  text: str | None = None, shown: str | None = None, key: bool | None = None,
                  hidden: bool | None = None) -> str:
    """What the edit modal showed, for its submission: only what the person changed is saved, and a
    field someone else changed meanwhile is refused (bot/curation.py `Seen`). Fingerprints, not texts:
    well within private_metadata's 3,000 characters."""
    return json.dumps({"incident": incident_id, "entry": entry_id, "time": shown_time,
                       "at": at.isoformat() if at else None, "text": text, "shown": shown, "key": key,
                       "hidden": hidden})


def edit_modal(*, incident_id: int, entry, zone: tzinfo, key: bool, editable: bool,
               names: T.NameLookup | None = None) -> dict:
    """The modal for one entry: its time (in the editor's zone, named), its text, key event, hidden.
    A change record (severity, role, …) or a text too long for the input shows only the flags."""
    shown_time = editable_time(entry.at, zone) if editable else None
    who = f" by <@{entry.author_id}>" if entry.author_id else ""
    blocks: list[dict] = [{"type": "context", "elements": [views.mrkdwn_text(
        f"{views.ref(incident_id)} · {entry.kind}{who} · {format_time(entry.at, zone)}", 2000)]}]
    # readable: `@bob`, `label (https://…)`; saved back untouched as it was, `@bob` back as the mention
    raw = editable_text(entry.text, names)
    if editable:
        blocks.append({"type": "input", "block_id": "when", "label": views.plain_text(
            f"Time (in your zone, {getattr(zone, 'key', None) or 'UTC'})", 2000),
            "hint": views.plain_text("e.g. 14:05, 2:05pm, 2026-11-22 14:05 or with a zone: 14:05 UTC", 2000),
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": shown_time,
                        "max_length": 100}})
    shown = editable and len(raw) <= TEXT_INPUT_LIMIT
    if shown:
        blocks.append({"type": "input", "block_id": "text", "label": views.plain_text("Text"),
                       "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                                   "initial_value": raw, "max_length": TEXT_INPUT_LIMIT}})
    else:
        blocks.append({"type": "section", "text": views.mrkdwn_text(T.mrkdwn_cut(entry.text, 2900))})
    options = [_option("key", "Key event (in the postmortem timeline)"),
               _option("hidden", "Leave out of the postmortem")]
    flags = {"type": "checkboxes", "action_id": "value", "options": options}
    ticked = [o for o in options if (o["value"] == "key" and key) or (o["value"] == "hidden" and entry.hidden)]
    if ticked:
        flags["initial_options"] = ticked
    blocks.append({"type": "input", "block_id": "flags", "optional": True,
                   "label": views.plain_text("Postmortem"), "element": flags})
    return {"type": "modal", "callback_id": EDIT_VIEW,
            "private_metadata": edit_metadata(incident_id, entry.id, shown_time, at=entry.at,
                                              text=digest(entry.text), shown=digest(raw) if shown else None,
                                              key=key, hidden=bool(entry.hidden)),
            "title": views.plain_text(f"Edit · {views.ref(incident_id)}", 24), "submit": views.plain_text("Save", 24),
            "close": views.plain_text("Cancel", 24), "blocks": blocks}


def _option(value: str, label: str) -> dict:
    return {"text": views.plain_text(label, 75), "value": value}


def notice_view(title: str, text: str) -> dict:
    """A modal that only says something (after a save, or why nothing was saved); `text` is safe mrkdwn."""
    return {"type": "modal", "title": views.plain_text(title, 24), "close": views.plain_text("Close", 24),
            "blocks": [{"type": "section", "text": views.mrkdwn_text(text)}]}


# ---------------------------------------------------------------------------------------------
# the add modal (message shortcut `add_to_timeline`)

ADD_METADATA_TEXT = 2000  # characters of the message kept in private_metadata (at most 3,000 in all)


def add_metadata(channel_id: str, ts: str, author_id: str | None, text: str, permalink: str | None,
                 thread_ts: str | None = None) -> str:
    """What the add modal carries to its submission: the message (its text cut to fit Slack's 3,000;
    `cut` says so, and the submission then reads the whole message again from Slack)."""
    data = {"channel": channel_id, "ts": ts, "user": author_id, "permalink": permalink, "thread": thread_ts,
            "cut": False, "text": ""}
    room = 2900 - len(json.dumps(data))
    cut = T.truncate(text, ADD_METADATA_TEXT)
    while len(json.dumps(cut)) > room:  # escapes in JSON take more room than the characters
        cut = T.truncate(cut, max(len(cut) - 200, 1))
    data["text"], data["cut"] = cut, cut != text
    return json.dumps(data)


def add_modal(*, incidents: Sequence, message_text: str, author_id: str | None, metadata: str) -> dict:
    """Pick one of the open incidents (most recent first) for a message."""
    options = [_option(str(i.id), f"{views.ref(i.id)} · {T.plain(i.title)}") for i in incidents[:SELECT_OPTIONS]]
    who = f"<@{author_id}>: " if author_id else ""
    shown = T.mrkdwn_cut(message_text, 2500) if message_text.strip() else "_(no text)_"  # never an empty section
    return {"type": "modal", "callback_id": ADD_VIEW, "private_metadata": metadata,
            "title": views.plain_text("Add to a timeline", 24), "submit": views.plain_text("Add", 24),
            "close": views.plain_text("Cancel", 24), "blocks": [
                {"type": "section", "text": views.mrkdwn_text(who + shown)},
                {"type": "input", "block_id": "incident", "label": views.plain_text("Incident"),
                 "element": {"type": "static_select", "action_id": "value", "options": options,
                             "initial_option": options[0]}},
                {"type": "context", "elements": [views.mrkdwn_text(
                    "It is stored with its own time, author, text and link, as a key event.")]},
            ]}


# ---------------------------------------------------------------------------------------------
# `/incident timeline [page]`

PAGE_SIZE = 20  # entries per page: two blocks each, within 50 blocks per message
ENTRY_TEXT = 400  # characters of an entry's text on a page
TIMELINE_ACTIONS = ("timeline_edit", "timeline_hide", "timeline_show", "timeline_page")


def pages(count: int) -> int:
    return max(1, -(-count // PAGE_SIZE))


def timeline_page(*, incident_id: int, rows: Sequence, page: int, count: int, zone: tzinfo,
                  key_of=lambda row: bool(row.key)) -> dict:
    """One page of an incident's entries (oldest first, so the newest are last on the last page), each
    with Edit and Hide or Show, and buttons to the pages before and after."""
    last = pages(count)
    blocks: list[dict] = [{"type": "context", "elements": [views.mrkdwn_text(
        f"*{views.ref(incident_id)} timeline*, page {page} of {last} · {count:,} entries · times in "
        f"{getattr(zone, 'key', None) or 'UTC'}", 2000)]}]
    for row in rows:
        flags = [row.kind] + (["key"] if key_of(row) else []) + (["hidden"] if row.hidden else []) \
            + (["edited"] if row.text_edited_by else [])
        who = f"<@{row.author_id}> · " if row.author_id else ""
        line = f"*{format_time(row.at, zone)}* · {who}{' · '.join(flags)}\n{T.mrkdwn_cut(row.text, ENTRY_TEXT)}"
        if row.hidden:
            line = f"~{format_time(row.at, zone)}~ · {who}{' · '.join(flags)}\n_{T.mrkdwn_cut(row.text, ENTRY_TEXT)}_"
        value = f"{incident_id}:{row.id}:{page}"
        toggle = ("timeline_show", "Show") if row.hidden else ("timeline_hide", "Hide")
        blocks.append({"type": "section", "block_id": f"entry-{row.id}", "text": views.mrkdwn_text(line)})
        blocks.append({"type": "actions", "block_id": f"buttons-{row.id}", "elements": [
            {"type": "button", "action_id": "timeline_edit", "text": views.plain_text("Edit", 75), "value": value},
            {"type": "button", "action_id": toggle[0], "text": views.plain_text(toggle[1], 75), "value": value},
        ]})
    if not rows:
        blocks.append({"type": "section", "text": views.mrkdwn_text("No entries yet.")})
    nav = []
    if page > 1:
        nav.append({"type": "button", "action_id": "timeline_page", "text": views.plain_text("Older", 75),
                    "value": f"{incident_id}:0:{page - 1}"})
    if page < last:
        nav.append({"type": "button", "action_id": "timeline_page_newer", "text": views.plain_text("Newer", 75),
                    "value": f"{incident_id}:0:{page + 1}"})
    if nav:
        blocks.append({"type": "actions", "block_id": "pages", "elements": nav})
    return {"text": f"{views.ref(incident_id)} timeline, page {page} of {last}", "blocks": blocks}
