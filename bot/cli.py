"""The `incident-bot` command line.

It starts fast: only argparse is imported before the arguments are parsed, and each command imports
what it needs. The read-only commands (`incidents`, `timeline`, `postmortem export`, `stats`) open a database
that must exist already (storage.existing): they never create or migrate one. `incidents` and
`stats` read through a plain driver connection, without SQLAlchemy or pydantic.

Whatever a person can get wrong, or what can be down, ends in one line on stderr saying what to do
next: exit 2 for a setting or an argument, 1 for a failure.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

# The incident number is a 32-bit integer column on PostgreSQL: no incident has a larger number.
MAX_INCIDENT_NUMBER = 2**31 - 1


def parse_incident_ref(value: str) -> int:
    """`INC-7`, `inc-7` or `7`."""
    m = re.fullmatch(r"(?:INC-)?(\d+)", value.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not an incident: use INC-7 or 7")
    return int(m.group(1))


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for (importlib.metadata is not free)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("incident-bot")
        except PackageNotFoundError:
            number = "unknown (not installed: pip install -e .)"
        print(f"incident-bot {number}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description="Slack incident capture bot")
    parser.add_argument("--version", action=_VersionAction)
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
    timeline.add_argument("--history", action="store_true",
                          help="the activity log instead: who changed what, when, before and after")

    pm = sub.add_parser("postmortem", help="postmortem drafts")
    pm_sub = pm.add_subparsers(dest="postmortem_command", required=True, metavar="ACTION")
    export = pm_sub.add_parser("export", help="write an incident's postmortem as Markdown")
    export.add_argument("incident", type=parse_incident_ref, help="INC-7 or 7")
    export.add_argument("--template", default="default", help="template name (default: default)")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.add_argument("--key-only", action="store_true",
                        help="key events and milestones only, without the appendix of channel messages")

    stats = sub.add_parser("stats", help="incidents per month and severity, with median and p90 times to "
                                         "detect, acknowledge, mitigate and resolve")
    stats.add_argument("--from", dest="date_from", metavar="DATE",
                       help="first day (YYYY-MM-DD, or YYYY-MM from the month's first day) in "
                            "DEFAULT_TIMEZONE; default: from the first incident")
    stats.add_argument("--to", dest="date_to", metavar="DATE",
                       help="last day, included (YYYY-MM-DD, or YYYY-MM to the month's last day); "
                            "default: to the latest incident")
    stats_format = stats.add_mutually_exclusive_group()
    stats_format.add_argument("--json", action="store_true", help="print a JSON object with the rows")
    stats_format.add_argument("--csv", action="store_true",
                              help="print CSV (the same columns as /insights.csv)")

    reminders = sub.add_parser("reminders", help="action item reminders")
    reminders_sub = reminders.add_subparsers(dest="reminders_command", required=True, metavar="ACTION")
    reminders_sub.add_parser("sweep", help="one reminder sweep now (DM overdue items, nudge for postmortems)")
    return parser


READ_ONLY_COMMANDS = ("incidents", "timeline", "postmortem", "stats")


def console_main() -> None:
    """The `incident-bot` script (and `python -m bot.cli`): one process per command."""
    status = main(short_lived=True)
    import gc

    gc.freeze()  # the process ends here: spare the interpreter's final walk over every object left
    sys.exit(status)


def main(argv: list[str] | None = None, *, short_lived: bool = False) -> int:
    args = build_parser().parse_args(argv)
    if short_lived and args.command in READ_ONLY_COMMANDS:
        # A read-only command's objects all live until it exits: the cyclic collector would only walk
        # them again and again (a third of a 10,000-entry export's time). Long-lived commands keep it.
        import gc

        gc.disable()
    from bot.environment import ConfigError

    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return status
    except ConfigError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`incident-bot timeline 1 --json | head -1`): stop quietly, and keep
        # the interpreter's final flush from failing on the closed pipe too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _database_failure(exc)


def _database_failure(exc: Exception) -> int:
    """A database error as one line (re-raised when it is something else: a bug must show)."""
    from bot.environment import default_database_url, read_environment
    from storage.db_errors import explain

    problem = explain(exc, read_environment().get("database_url") or default_database_url())
    if problem is None:
        db = sys.modules.get("storage.db")  # not imported: the error cannot be its DatabaseUnavailable
        if db is None or not isinstance(exc, db.DatabaseUnavailable):
            raise exc
        print(f"incident-bot: the database did not answer ({exc}): check it is up, then try again", file=sys.stderr)
        return 1
    print(f"incident-bot: {problem}", file=sys.stderr)
    return problem.exit_status


def _command_settings():
    """The settings of the commands that need only the database (no pydantic, no tokens)."""
    from bot.environment import load_command_settings
    from bot.logs import setup_logging

    settings = load_command_settings()
    setup_logging(settings.log_level, [])
    return settings


def _full_settings():
    from bot.config import load_settings
    from bot.logs import setup_logging

    settings = load_settings()
    secrets = (settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret)
    setup_logging(settings.log_level, [s.get_secret_value() for s in secrets if s is not None])
    return settings


def _migrated(database_url: str):
    from storage.db import Database

    db = Database(database_url)
    try:
        db.upgrade()
    except BaseException:
        db.dispose()
        raise
    return db


def cmd_run(args) -> int:
    import logging

    from bot.server import run_http
    from bot.socket_mode import run_socket_mode
    from bot.start_checks import check_bot_token
    from storage.db_errors import redacted

    log = logging.getLogger("bot.cli")
    settings = _full_settings()
    settings.require_server()
    log.info("database: %s", redacted(settings.database_url))
    _migrated(settings.database_url).dispose()  # the serving process opens its own connections
    auth = check_bot_token(settings)  # or one line: a rejected token (exit 2), Slack not answering (exit 1)
    log.info("connected to Slack as %s in %s", auth.get("user"), auth.get("team"))
    if settings.socket_mode:
        run_socket_mode(settings)
    else:
        run_http(settings)
    return 0


def cmd_db(args) -> int:
    from storage.db_errors import redacted

    settings = _command_settings()
    db = _migrated(settings.database_url)
    try:
        print(f"database {redacted(db.url)} is at revision {db.current_revision()}")
    finally:
        db.dispose()
    return 0


def cmd_incidents(args) -> int:
    from bot.cli_output import print_incidents
    from storage.existing import connect_existing
    from storage.listing import list_incidents

    settings = _command_settings()
    connection, dialect = connect_existing(settings.database_url)
    try:
        incidents = list_incidents(connection, dialect, open_only=args.open)
    finally:
        connection.close()
    print_incidents(incidents, settings, as_json=args.json, open_only=args.open)
    return 0


def cmd_stats(args) -> int:
    from bot.cli_output import print_insights
    from bot.statistics import PeriodError, insights, period, times_from_rows
    from storage.existing import connect_existing
    from storage.stats import incident_times_on

    settings = _command_settings()
    try:
        dates = period(args.date_from, args.date_to, settings.zone)
    except PeriodError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    connection, dialect = connect_existing(settings.database_url)
    try:
        rows = incident_times_on(connection, dialect, since=dates.since, until=dates.until)
    finally:
        connection.close()
    fmt = "json" if args.json else "csv" if args.csv else "table"
    print_insights(insights(times_from_rows(rows), settings.zone), settings.zone, dates, fmt=fmt)
    return 0


def _incident(session, number: int):
    """The incident numbered `number`, or None after saying on stderr that there is none."""
    from storage import incidents

    incident = incidents.incident_by_number(session, number) if number <= MAX_INCIDENT_NUMBER else None
    if incident is None:
        print(f"incident-bot: there is no INC-{number}; `incident-bot incidents` lists them", file=sys.stderr)
    return incident


def cmd_timeline(args) -> int:
    from bot.cli_output import print_timeline
    from bot.timeline import load
    from storage import profiles
    from storage.db import Database

    settings = _command_settings()
    db = Database.open_existing(settings.database_url)
    try:
        with db.read() as session:
            incident = _incident(session, args.incident)
            if incident is None:
                return 1
            if args.history:
                from storage import activity

                records = activity.history(session, incident.id)
                names = profiles.user_names(session, [r.actor for r in records])
            else:
                items = load(session, incident.id, settings.key_event_emoji)
                names = profiles.user_names(session, [i.author for i in items if i.author])
    finally:
        db.dispose()
    if args.history:
        from bot.cli_output import print_history

        print_history(incident, records, names, settings, as_json=args.json)
        return 0
    print_timeline(incident, items, names, settings, as_json=args.json)
    return 0


def cmd_postmortem(args) -> int:
    from datetime import UTC, datetime

    from bot import postmortem
    from bot import text as T
    from bot.drafting import DraftError
    from storage.db import Database

    settings = _command_settings()
    db = Database.open_existing(settings.database_url)
    try:
        with db.read() as session:
            incident = _incident(session, args.incident)
            if incident is None:
                return 1
            markdown = postmortem.export(session, incident, settings, args.template, datetime.now(UTC),
                                         key_only=args.key_only)
    except DraftError as exc:
        print(f"incident-bot: {T.plain(exc.args[0]).replace('`', '')}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if not args.output:
        sys.stdout.write(markdown)
        return 0
    return _write_output(args.output, markdown, args.incident)


def _write_output(output: str, markdown: str, number: int) -> int:
    from pathlib import Path

    path = Path(output)
    try:
        path.write_text(markdown, encoding="utf-8")
    except FileNotFoundError:
        print(f"incident-bot: the folder {path.parent} does not exist: create it, or give --output a file in "
              "an existing folder", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"incident-bot: cannot write {path} ({exc.strerror}): give --output a file in a folder you may "
              "write to, or leave it out to print the postmortem", file=sys.stderr)
        return 2
    print(f"wrote INC-{number}'s postmortem ({len(markdown):,} characters) to {output}", file=sys.stderr)
    return 0


def cmd_reminders(args) -> int:
    """One sweep now (e.g. from cron with REMINDERS_ENABLED=false): queue the reminders that are due,
    deliver them here, and say what was sent. Exit 1 when a DM failed."""
    from bot import reminders
    from bot.jobs import reminder_dms
    from bot.services import build_services
    from storage.db import DatabaseUnavailable

    settings = _full_settings()
    settings.require_slack()
    db = _migrated(settings.database_url)
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
    "stats": cmd_stats,
}


if __name__ == "__main__":
    console_main()
