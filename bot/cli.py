"""The `incident-bot` command line (SPEC 7)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys

from bot import text as T
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.milestones import MILESTONES, severity_label
from bot.when import format_time, zone_display_name
from storage.db import Database, redacted

log = logging.getLogger("bot.cli")


def parse_incident_ref(value: str) -> int:
    """`INC-7`, `inc-7` or `7`."""
    m = re.fullmatch(r"(?:INC-)?(\d+)", value.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not an incident: use INC-7 or 7")
    return int(m.group(1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description="Slack incident capture bot")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP on PORT)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations")

    incidents = sub.add_parser("incidents", help="list incidents")
    incidents.add_argument("--open", action="store_true", help="only incidents that are not resolved")
    incidents.add_argument("--json", action="store_true", help="print a JSON array")

    timeline = sub.add_parser("timeline", help="an incident's captured timeline, oldest first")
    timeline.add_argument("incident", type=parse_incident_ref, help="INC-7 or 7")
    timeline.add_argument("--json", action="store_true", help="print a JSON array")

    pm = sub.add_parser("postmortem", help="postmortem drafts")
    pm_sub = pm.add_subparsers(dest="postmortem_command", required=True, metavar="ACTION")
    export = pm_sub.add_parser("export", help="write an incident's postmortem as Markdown")
    export.add_argument("incident", type=parse_incident_ref, help="INC-7 or 7")
    export.add_argument("--template", default="default", help="template name (default: default)")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    reminders = sub.add_parser("reminders", help="action item reminders")
    reminders_sub = reminders.add_subparsers(dest="reminders_command", required=True, metavar="ACTION")
    reminders_sub.add_parser("sweep", help="one reminder sweep now (DM overdue items, nudge for postmortems)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.log_level, _secrets(settings))
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _secrets(settings: Settings) -> list[str]:
    return [s.get_secret_value() for s in (settings.slack_bot_token, settings.slack_app_token,
                                            settings.slack_signing_secret) if s is not None]


def _database(settings: Settings, *, migrate: bool = True) -> Database:
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    return db


def cmd_run(args, settings: Settings) -> int:
    from bot.server import check_bot_token, run_http, run_socket_mode

    settings.require_server()
    log.info("database: %s", redacted(Database(settings.database_url).url))
    db = _database(settings)
    db.dispose()  # the serving process opens its own connections
    auth = check_bot_token(settings)  # or one line: a rejected token (exit 2), Slack not answering (exit 1)
    log.info("connected to Slack as %s in %s", auth.get("user"), auth.get("team"))
    if settings.socket_mode:
        run_socket_mode(settings)
    else:
        run_http(settings)
    return 0


def cmd_db(args, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        db.upgrade()
        print(f"database {redacted(db.url)} is at revision {db.current_revision()}")
    finally:
        db.dispose()
    return 0


def _iso(at) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def cmd_incidents(args, settings: Settings) -> int:
    from storage import incidents

    db = _database(settings)
    try:
        with db.read() as session:
            rows = incidents.list_incidents(session, open_only=args.open)
            times = incidents.milestones_for(session, [i.id for i in rows])
    finally:
        db.dispose()
    if args.json:
        out = []
        for inc in rows:
            item = {
                "number": inc.id,
                "ref": f"INC-{inc.id}",
                "title": T.plain(inc.title),
                "channel": inc.channel_id,
                "channel_name": inc.channel_name,
                "status": inc.status,
                "severity": inc.severity,
                "commander": inc.commander_id,
                "created_at": _iso(inc.created_at),
                "timezone": inc.display_tz or settings.default_timezone,
            }
            item.update({name: _iso(times[inc.id][name].at) if name in times[inc.id] else None for name in MILESTONES})
            out.append(item)
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No incidents yet." if not args.open else "No open incidents.")
        return 0
    zone = settings.zone
    for inc in rows:
        started = times[inc.id].get("started") or times[inc.id].get("detected")
        when = format_time(started.at, zone) if started else format_time(inc.created_at, zone)
        channel = f"#{inc.channel_name}" if inc.channel_name else (inc.channel_id or "-")
        print(f"INC-{inc.id:<5} {inc.status:<9} {severity_label(inc.severity):<8} {when:<32} {channel:<30} "
              f"{T.one_line(T.truncate(T.plain(inc.title), 60))}")
    return 0


def _incident(session, number: int):
    """The incident numbered `number`, or None after saying on stderr that there is none."""
    from storage import incidents

    incident = incidents.incident_by_number(session, number)
    if incident is None:
        print(f"incident-bot: there is no INC-{number}; `incident-bot incidents` lists them", file=sys.stderr)
    return incident


def cmd_timeline(args, settings: Settings) -> int:
    from bot.timeline import load
    from storage import profiles

    db = _database(settings)
    try:
        with db.read() as session:
            incident = _incident(session, args.incident)
            if incident is None:
                return 1
            items = load(session, incident.id, settings.key_event_emoji)
            names = profiles.user_names(session, [i.author for i in items if i.author])
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([item.to_json(names) for item in items], indent=2, ensure_ascii=False))
        return 0
    zone = settings.display_zone(incident.display_tz)
    print(f"INC-{incident.id}: {T.one_line(T.plain(incident.title))} (times in {zone_display_name(zone)})")
    for item in items:
        who = "@" + names.get(item.author, item.author) if item.author else ""
        marker = "*" if item.key else " "
        label = item.milestone if item.kind == "milestone" else item.kind
        text = "(deleted)" if item.deleted else T.plain(item.text, names)
        if item.files:
            text += " " + " ".join(f"[{f.get('name')}]({f.get('permalink')})" for f in item.files)
        print(f"{marker} {format_time(item.time, zone)}  {label:<12} {T.one_line(who):<16} {T.one_line(text)}")
    return 0


def cmd_postmortem(args, settings: Settings) -> int:
    from pathlib import Path

    from bot import postmortem
    from bot.drafting import DraftError
    from bot.services import system_clock

    db = _database(settings)
    try:
        with db.read() as session:
            incident = _incident(session, args.incident)
            if incident is None:
                return 1
            markdown = postmortem.export(session, incident, settings, args.template, system_clock())
    except DraftError as exc:
        print(f"incident-bot: {T.plain(exc.args[0]).replace('`', '')}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if args.output:
        Path(args.output).write_text(markdown, encoding="utf-8")
        print(f"wrote INC-{args.incident}'s postmortem ({len(markdown):,} characters) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(markdown)
    return 0


def cmd_reminders(args, settings: Settings) -> int:
    """One sweep now (e.g. from cron with REMINDERS_ENABLED=false): queue the reminders that are due,
    deliver them here, and say what was sent. Exit 1 when a DM failed."""
    from bot import reminders
    from bot.jobs import reminder_dms
    from bot.services import build_services
    from storage.db import DatabaseUnavailable

    settings.require_slack()
    db = _database(settings)
    try:
        services = build_services(settings, db)
        reminders.sweep(services)
        result = reminder_dms.deliver_now(services)
    except DatabaseUnavailable as exc:
        print(f"incident-bot: the database did not answer ({exc}); nothing more was sent, run the sweep again",
              file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(result.summary())
    return 1 if result.failed else 0


COMMANDS = {
    "run": cmd_run,
    "postmortem": cmd_postmortem,
    "reminders": cmd_reminders,
    "db": cmd_db,
    "incidents": cmd_incidents,
    "timeline": cmd_timeline,
}


if __name__ == "__main__":
    sys.exit(main())
