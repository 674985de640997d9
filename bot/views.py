"""Block Kit builders (pure: plain values in, dicts out).

User text goes into `plain_text` objects where Block Kit allows it, and through `text.mrkdwn()`
where it must be mrkdwn, so nothing a user typed becomes a mention or a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo

from bot import text as T
from bot.milestones import MILESTONE_LABELS, MILESTONES, STATUS_LABELS, severity_label
from bot.when import format_time, slack_date, zone_display_name, zone_label

# Block Kit's limits, in characters (tests/support/slack_limits.py checks every message against all)
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
# user text in a text-only message (Slack advises under 4,000 characters), with room for the bot's words
ANNOUNCED_TEXT_LIMIT = 3000
# chat.postMessage and chat.update refuse a message whose blocks hold about 12,000 characters of text
# in all (`msg_blocks_too_long`), though every block is within its own limit: the bot's stay under this
POSTED_BLOCKS_TEXT = 10_000


def share_of(budget: int, count: int, most: int, least: int = 60) -> int:
    """Characters each of `count` pieces may use so that together they fit `budget` (at most `most`)."""
    return max(least, min(most, budget // max(count, 1)))


def ref(number: int) -> str:
    return f"INC-{number}"


def plain_text(value: str, limit: int = SECTION_LIMIT) -> dict:
    return {"type": "plain_text", "text": T.truncate(value, limit) or " ", "emoji": False}


def mrkdwn_text(value: str, limit: int = SECTION_LIMIT) -> dict:
    """A mrkdwn object of text already made safe (user parts cut and escaped with `T.mrkdwn_cut`);
    the cut here is a last resort that never leaves half an `&lt;` or `<…>` token."""
    return {"type": "mrkdwn", "text": T.cut_mrkdwn(value, limit) or " "}


def roles_field(roles: Mapping[str, str], limit: int = FIELD_LIMIT) -> str | None:
    """`*Roles*` and a line per role but the commander's, as many as fit in a field; then how many more."""
    lines = [f"{T.escape_mrkdwn(role)}: <@{user}>" for role, user in roles.items() if role != "commander"]
    if not lines:
        return None
    text = "*Roles*"
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        more = f"\n…and {rest} more" if rest else ""
        if len(text) + 1 + len(line) + len(more) > limit:
            return text + f"\n…and {len(lines) - index} more"
        text += "\n" + line
    return text


def header_message(
    *,
    number: int,
    title: str,
    severity: str | None,
    status: str,
    commander_id: str | None,
    milestones: Mapping[str, datetime],
    roles: Mapping[str, str],
    zone: tzinfo,
    summary: str | None = None,
    impact: str | None = None,
) -> dict:
    """The incident's header message: kept current with chat.update whenever any of this changes."""
    title_plain = T.plain(title)
    fields = [
        mrkdwn_text(f"*Severity*\n{severity_label(severity)}", FIELD_LIMIT),
        mrkdwn_text(f"*Status*\n{STATUS_LABELS.get(status, status)}", FIELD_LIMIT),
        mrkdwn_text(f"*Commander*\n{f'<@{commander_id}>' if commander_id else 'nobody yet'}", FIELD_LIMIT),
    ]
    other_roles = roles_field(roles)
    if other_roles:
        fields.append(mrkdwn_text(other_roles, FIELD_LIMIT))
    lines = []
    for name in MILESTONES:
        at = milestones.get(name)
        shown = slack_date(at, zone) if at else "—"
        lines.append(f"*{MILESTONE_LABELS[name]}*: {shown}")
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(f"{ref(number)}: {title_plain}", HEADER_LIMIT)},
        {"type": "section", "fields": fields},
        {"type": "section", "text": mrkdwn_text("\n".join(lines))},
    ]
    for label, value in (("Summary", summary), ("Impact", impact)):
        if value:
            heading = f"*{label}*\n"
            shown = T.mrkdwn_cut(value, SECTION_LIMIT - len(heading))
            blocks.append({"type": "section", "text": mrkdwn_text(heading + shown)})
    blocks.append(
        {
            "type": "context",
            "elements": [
                mrkdwn_text(
                    f"Times show in your own zone; the postmortem uses {zone_display_name(zone)}. "
                    "Log with `/incident log`, set milestones with `/incident mitigated` and "
                    "`/incident resolved`; `/incident help` for more."
                )
            ],
        }
    )
    fallback = f"{ref(number)} · {severity_label(severity)} · {STATUS_LABELS.get(status, status)}: "
    return {"text": fallback + T.escape_mrkdwn_cut(title_plain, SECTION_LIMIT - len(fallback)), "blocks": blocks}


def confirmation_time(at: datetime, zone: tzinfo, caller_zone: tzinfo | None) -> str:
    """`2026-11-22 14:05 CET (UTC+01:00)`, plus the caller's own time when their zone differs."""
    shown = format_time(at, zone)
    if caller_zone is not None and zone_label(at, caller_zone) != zone_label(at, zone):
        shown += f" (your time: {format_time(at, caller_zone)})"
    return shown


# ---------------------------------------------------------------------------------------------
# after the incident: prompts, their modals, the draft's summary

PROMPT_ACTIONS = {
    "root_cause": ("prompt_root_cause", "Root cause"),
    "went": ("prompt_went", "What went well / wrong"),
    "action": ("prompt_action", "Add action item"),
}
ROOT_CAUSE_VIEW = "postmortem_root_cause"
WENT_VIEW = "postmortem_went"
ACTION_VIEW = "postmortem_action"
INPUT_LIMIT = 3000  # plain_text_input max_length


def prompt_buttons(incident_id: int, prompts: list[str]) -> dict:
    """Buttons for the prompts still open, plus adding an action item (always welcome)."""
    elements = []
    for prompt in [*prompts, "action"]:
        action_id, label = PROMPT_ACTIONS[prompt]
        elements.append({"type": "button", "action_id": action_id, "value": str(incident_id),
                         "text": plain_text(label, 75), **({"style": "primary"} if prompts and prompt == prompts[0] else {})})
    return {"type": "actions", "block_id": f"prompts:{incident_id}", "elements": elements}


def prompt_message(number: int, title: str, prompts: list[str], *, personal: bool) -> dict:
    """The ask, in the channel or in a participant's DM: the parts only the people who were there know."""
    who = "You took part in" if personal else "Everyone who took part in"
    lines = (
        f"*{ref(number)} is resolved.* {who} *{T.mrkdwn_cut(title, 300)}*"
        + (" — please add your part to the postmortem:" if personal else
           " can add their part to the postmortem:")
        + "\n• the root cause and what contributed to it\n• what went well, what went wrong"
        + "\n• action items that would prevent it next time"
    )
    return {
        "text": f"{ref(number)} is resolved: please add your part to the postmortem",
        "blocks": [{"type": "section", "text": mrkdwn_text(lines)}, prompt_buttons(number, prompts)],
    }


def _metadata(incident_id: int) -> str:
    return str(incident_id)


def _text_input(block_id: str, label: str, *, initial: str | None = None, optional: bool = False,
                placeholder: str | None = None) -> dict:
    element = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": INPUT_LIMIT}
    if initial:
        element["initial_value"] = T.truncate(initial, INPUT_LIMIT)
    if placeholder:
        element["placeholder"] = plain_text(placeholder, 150)
    return {"type": "input", "block_id": block_id, "optional": optional, "label": plain_text(label, 2000),
            "element": element}


def _modal(callback_id: str, title: str, incident_id: int, blocks: list[dict]) -> dict:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": _metadata(incident_id),
        "title": plain_text(title, 24),
        "submit": plain_text("Save", 24),
        "close": plain_text("Cancel", 24),
        "blocks": blocks,
    }


def root_cause_modal(number: int, title: str, current: dict[str, str]) -> dict:
    """`current` holds this person's earlier answers as raw text (shown for editing)."""
    return _modal(ROOT_CAUSE_VIEW, f"Root cause · {ref(number)}", number, [
        {"type": "context", "elements": [plain_text(f"{ref(number)}: {T.plain(title)}", 2000)]},
        _text_input("root_cause", "What was the root cause?", initial=current.get("root_cause"),
                    placeholder="The underlying cause, not who did what"),
        _text_input("contributing_factors", "What contributed to it?", initial=current.get("contributing_factors"),
                    optional=True, placeholder="Conditions that made it possible, worse or longer"),
    ])


def went_modal(number: int, title: str, current: dict[str, str]) -> dict:
    return _modal(WENT_VIEW, f"Retro · {ref(number)}", number, [
        {"type": "context", "elements": [plain_text(f"{ref(number)}: {T.plain(title)}", 2000)]},
        _text_input("went_well", "What went well?", initial=current.get("went_well"), optional=True),
        _text_input("went_wrong", "What went wrong?", initial=current.get("went_wrong"), optional=True),
    ])


def action_modal(number: int, title: str) -> dict:
    return _modal(ACTION_VIEW, f"Action · {ref(number)}", number, [
        {"type": "context", "elements": [plain_text(f"{ref(number)}: {T.plain(title)}", 2000)]},
        {"type": "input", "block_id": "text", "label": plain_text("What should be done?"),
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": INPUT_LIMIT,
                     "placeholder": plain_text("e.g. Alert on checkout error rate above 1%")}},
        {"type": "input", "block_id": "owner", "optional": True, "label": plain_text("Owner"),
         "element": {"type": "users_select", "action_id": "value"}},
        {"type": "input", "block_id": "due", "optional": True, "label": plain_text("Due date"),
         "element": {"type": "datepicker", "action_id": "value"}},
    ])


def draft_summary(*, number: int, version: int, title: str, severity: str | None, duration: str | None,
                  metrics: list[tuple[str, str]], open_questions: list[str], prompts: list[str]) -> dict:
    """The short message posted beside an uploaded draft."""
    facts = [
        f"*Severity*: {severity_label(severity)}",
        f"*Duration*: {duration or 'not recorded'}",
    ] + [f"*{label}*: {value}" for label, value in metrics]
    blocks = [
        {"type": "header", "text": plain_text(f"{ref(number)} postmortem draft v{version}", HEADER_LIMIT)},
        {"type": "section", "text": mrkdwn_text(f"*{T.mrkdwn_cut(title, 300)}*\n" + " · ".join(facts))},
    ]
    if open_questions:
        blocks.append({"type": "section", "text": mrkdwn_text(
            "*Still open:* " + ", ".join(open_questions) + ". Answer with the buttons below; the next "
            "`/postmortem draft` includes every answer, attributed.")})
    else:
        blocks.append({"type": "section", "text": mrkdwn_text("Every prompt has an answer. :tada:")})
    blocks.append(prompt_buttons(number, prompts))
    return {"text": f"{ref(number)} postmortem draft v{version}", "blocks": blocks}
