"""What `incident-bot incidents`, `timeline` (and `timeline --history`) and `stats` print, as text, JSON or CSV.

Kept apart from bot/cli.py so that the command line imports none of this (nor bot.milestones and
bot.when) before it knows which command runs.
"""

from __future__ import annotations

import json

from bot import text as T
from bot.milestones import MILESTONES, severity_label
from bot.when import format_time, zone_display_name


def _iso(at) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def incidents_json(incidents, default_timezone: str) -> list[dict]:
    """storage.listing.IncidentRow items as the JSON objects `incidents --json` prints."""
    out = []
    for inc in incidents:
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
            "timezone": inc.display_tz or default_timezone,
        }
        item.update({name: _iso(inc.milestones.get(name)) for name in MILESTONES})
        out.append(item)
    return out


def print_incidents(incidents, settings, *, as_json: bool, open_only: bool) -> None:
    if as_json:
        print(json.dumps(incidents_json(incidents, settings.default_timezone), indent=2, ensure_ascii=False))
        return
    if not incidents:
        print("No open incidents." if open_only else "No incidents yet.")
        return
    zone = settings.zone
    for inc in incidents:
        started = inc.milestones.get("started") or inc.milestones.get("detected") or inc.created_at
        channel = f"#{inc.channel_name}" if inc.channel_name else (inc.channel_id or "-")
        print(f"INC-{inc.id:<5} {inc.status:<9} {severity_label(inc.severity):<8} {format_time(started, zone):<32} "
              f"{channel:<30} {T.one_line(T.truncate(T.plain(inc.title), 60))}")


def print_timeline(incident, items, names, settings, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([item.to_json(names) for item in items], indent=2, ensure_ascii=False))
        return
    zone = settings.display_zone(incident.display_tz)
    print(f"INC-{incident.id}: {T.one_line(T.plain(incident.title))} (times in {zone_display_name(zone)})")
    for item in items:
        who = "@" + names.get(item.author, item.author) if item.author else ""
        marker = "-" if item.hidden else "*" if item.key else " "  # - left out of drafts, * key event
        label = item.milestone if item.kind == "milestone" else item.kind
        text = "(deleted)" if item.deleted else T.plain(item.text, names)
        if item.files:
            text += " " + " ".join(f"[{f.get('name')}]({f.get('permalink')})" for f in item.files)
        print(f"{marker} {format_time(item.time, zone)}  {label:<12} {T.one_line(who):<16} {T.one_line(text)}")


def short_duration(seconds: float | None) -> str:
    """Durations for a table: `45s`, `12m 05s`, `1h 05m`, `2d 03h`; `-` for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return "{}m {:02d}s".format(*divmod(whole, 60))
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def _cell(figure) -> str:
    if not figure.n:
        return "-"
    return f"{short_duration(figure.median)} / {short_duration(figure.p90)} ({figure.n})"


def print_insights(rows, zone, dates, *, fmt: str = "table") -> None:
    """bot.statistics.InsightRow items as a table (fmt "table"), a JSON object ("json") or CSV ("csv")."""
    from bot.milestones import METRICS
    from bot.statistics import ALL, PERCENTILE_METHOD, to_csv, to_json

    if fmt == "csv":
        print(to_csv(rows), end="")
        return
    if fmt == "json":
        print(json.dumps({
            "timezone": zone_display_name(zone),
            "from": dates.first.isoformat() if dates.first else None,
            "to": dates.last.isoformat() if dates.last else None,
            "percentile": PERCENTILE_METHOD,
            "rows": to_json(rows),
        }, indent=2, ensure_ascii=False))
        return
    where = f"months and days in {zone_display_name(zone)}"
    if not rows:
        print("No incidents yet." if dates.describe() == "all" else
              f"No incidents declared {dates.describe()} ({where}).")
        return
    period = "" if dates.describe() == "all" else f" {dates.describe()}"
    print(f"Incidents declared{period}, by month ({where}).")
    print("Each time: median / 90th percentile (incidents measured).")
    print()
    titles = "  ".join(f"{m.label.lower():<24}" for m in METRICS).rstrip()
    print(f"{'month':<8} {'severity':<8} {'count':>5}  {titles}")
    for row in rows:
        severity = "all" if row.severity == ALL else severity_label(row.severity)
        cells = "  ".join(f"{_cell(row.figure(m.key)):<24}" for m in METRICS).rstrip()
        print(f"{row.month:<8} {severity:<8} {row.count:>5}  {cells}")
    totals = [row for row in rows if row.severity == ALL]
    from_declared = sum(row.time_to_resolve.from_declared for row in totals)
    mitigate_declared = sum(row.time_to_mitigate.from_declared for row in totals)
    excluded = {m.label.lower(): sum(row.figure(m.key).excluded for row in totals) for m in METRICS}
    notes = []
    if from_declared or mitigate_declared:
        notes.append(f"Time to mitigate ({mitigate_declared}) and to resolve ({from_declared}) are measured "
                     "from the declaration for incidents whose start of impact was not recorded.")
    left_out = ", ".join(f"{label} {count}" for label, count in excluded.items() if count)
    if left_out:
        notes.append(f"Left out, milestones out of order: {left_out}.")
    if notes:
        print()
        for note in notes:
            print(note)
def _history_value(name: str, value):
    """A before/after value as printed: every string made plain (text, summary, impact, a milestone's
    note, …: no live token ever), times as stored (ISO 8601)."""
    if isinstance(value, str):
        return T.plain(value)
    if isinstance(value, list):
        return [_history_value(name, v) for v in value]
    if isinstance(value, dict):
        return {k: _history_value(k, v) for k, v in value.items()}
    return value


def history_json(records) -> list[dict]:
    """storage.activity.Record items as `timeline --history --json` prints them."""
    return [{"at": _iso(r.at), "actor": r.actor, "action": r.action, "entry": r.entry_id,
             "before": {k: _history_value(k, v) for k, v in r.before.items()},
             "after": {k: _history_value(k, v) for k, v in r.after.items()}} for r in records]


def print_history(incident, records, names, settings, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(history_json(records), indent=2, ensure_ascii=False))
        return
    zone = settings.display_zone(incident.display_tz)
    print(f"INC-{incident.id}: changes, oldest first (times in {zone_display_name(zone)})")
    if not records:
        print("No changes recorded yet.")
    for r in records:
        who = "@" + names.get(r.actor, r.actor) if r.actor else ""
        entry = f"entry {r.entry_id}" if r.entry_id else ""
        fields = sorted(set(r.before) | set(r.after))
        change = "; ".join(f"{k}: {_history_value(k, r.before.get(k))!r} -> {_history_value(k, r.after.get(k))!r}"
                           for k in fields)
        print(f"{format_time(r.at, zone)}  {r.action:<10} {T.one_line(who):<16} {entry:<12} {T.one_line(change)}")
