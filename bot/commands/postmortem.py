"""`/postmortem`: the draft, the prompts, the templates (docs/postmortem.md).

`draft` renders and stores the new version before it answers (a template error is told at once,
naming the template and line); the upload and the summary message go through the outbox.
"""

from __future__ import annotations

from bot import drafting, postmortem, views
from bot import text as T
from bot.commands.common import NO_INCIDENT, Call, Reply, first_word
from bot.services import Services
from storage import capture_sql

HELP = """*`/postmortem` commands*
• `/postmortem draft [<template>] [key]`: render the postmortem for this channel's incident, upload it here, keep it as a new version (`key`: key events and milestones only, no chat appendix)
• `/postmortem prompt`: ask everyone who took part (again) for root cause, what went well / wrong and action items
• `/postmortem templates`: the templates you can draft with
• `/postmortem help`
From the command line: `incident-bot postmortem export INC-7 [--template T] [--key-only] [--output FILE]`."""


def handle(services: Services, call: Call) -> Reply:
    word, rest = first_word(call.text)
    name = word.lower()
    if name in ("", "help"):
        return Reply(HELP)
    if name == "templates":
        return templates(services)
    if name not in ("draft", "prompt"):
        shown = T.escape_mrkdwn(T.truncate(T.plain(word), 40))
        return Reply(f"`{shown}` is not a `/postmortem` subcommand.\n{HELP}")
    with services.db.reading() as conn:
        here = capture_sql.channel_incident(conn, call.channel_id, services.capture_cutoff())
    if here is None:
        return Reply(NO_INCIDENT)
    if name == "draft":
        return draft(services, call, here.id, rest)
    return prompt(services, call, here.id)


def templates(services: Services) -> Reply:
    names = drafting.template_names(services.settings.templates_dir)
    lines = [f"• `{n}`" + (" (the default)" if n == drafting.DEFAULT_TEMPLATE else "") for n in names]
    where = " Add your own as `<name>.md.j2` in `TEMPLATES_DIR`." if not services.settings.templates_dir else ""
    return Reply("*Postmortem templates*\n" + "\n".join(lines) + f"\nUse one with `/postmortem draft <name>`.{where}")


def draft(services: Services, call: Call, incident_id: int, rest: str) -> Reply:
    words = rest.split()
    key_only = bool(words) and words[-1].lower() == "key"
    if key_only:
        words = words[:-1]
    template = " ".join(words) or drafting.DEFAULT_TEMPLATE
    now = services.now()
    try:
        stored = postmortem.save_draft(
            services.db, incident_id, services.settings, template, call.user_id, now,
            workspace_url=services.workspace_url(call.team_domain),
            upload={"response_url": call.response_url, "failure_text": "Uploading the postmortem draft failed"},
            key_only=key_only,
        )
        version, size = stored.version, len(stored.markdown)
    except drafting.DraftError as exc:
        return Reply(f":warning: No draft was made. {T.mrkdwn(str(exc))}")  # it quotes the template name typed
    return Reply(f"Postmortem draft v{version} of {views.ref(incident_id)} is saved ({size:,} characters, "
                 f"template `{T.escape_mrkdwn(template.lower())}`{', key events only' if key_only else ''}); "
                 "uploading it to this channel now.")


def prompt(services: Services, call: Call, incident_id: int) -> Reply:
    with services.db.write() as session:
        count = postmortem.queue_prompts(session, incident_id, services.settings, services.now())
    if not count:
        return Reply(f"Posting the prompts for {views.ref(incident_id)} in the channel. Nobody is asked by DM: "
                     "everyone who took part has answered already, or nobody has taken part yet.")
    return Reply(f"Asking {count} {'person' if count == 1 else 'people'} who took part in {views.ref(incident_id)} "
                 "for their part of the postmortem (by DM, and in the channel). "
                 "Nobody is asked again for what they already answered.")
