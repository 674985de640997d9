"""`GET /insights` (charts) and `GET /insights.csv` (the same figures): per month and severity, the
count of incidents and the median and 90th percentile of each metric. The figures are bot.statistics',
the same as `incident-bot stats`; months are the viewer's (their zone, or UTC)."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from bot import statistics
from bot.milestones import METRICS, SEVERITIES
from bot.web import charts
from bot.web.incident_pages import BadFilter, day_range
from storage import browse, stats

blueprint = Blueprint("insights", __name__)

SEVERITY_CSS = {s: f"sev-{s}" for s in SEVERITIES}


def _web():
    from bot.web import web_of

    return web_of()


def _rows():
    """(insight rows for the viewer, the from/to typed, a problem with them or None)."""
    zone = g.viewer.zone
    typed_from, typed_to = request.args.get("from", ""), request.args.get("to", "")
    since = until = None
    problem = None
    try:
        since, until = day_range(typed_from, typed_to, zone)
    except BadFilter as exc:
        problem = str(exc)
    with _web().services.db.read() as session:
        hidden = _web().visibility.hidden(g.viewer.user_id, browse.incident_channels(session))
        times = stats.incident_times(session, since=since, until=until, exclude_channels=hidden)
    rows = statistics.insights(statistics.times_from_rows(times), zone)
    return rows, typed_from, typed_to, problem


@blueprint.get("/insights")
def insights_page():
    rows, typed_from, typed_to, problem = _rows()
    totals = [r for r in rows if r.severity == statistics.ALL]
    months = [r.month for r in totals]
    severities = [s for s in (*SEVERITIES, None) if any(r.severity == s for r in rows)]
    by_key = {(r.month, r.severity): r for r in rows}
    count_chart = None
    metric_charts = []
    if totals:
        count_chart = charts.bar_chart(
            "Incidents per month, by severity", months,
            [charts.Series(s.upper() if s else "No severity",
                           [by_key[(m, s)].count if (m, s) in by_key else None for m in months],
                           SEVERITY_CSS.get(s, "sev-none")) for s in severities],
            lambda v: str(round(v)), stacked=True, whole=True)
        for metric in METRICS:
            figures = [r.figure(metric.key) for r in totals]
            measured = any(f.median is not None for f in figures)
            metric_charts.append({
                "metric": metric,
                "chart": measured and charts.bar_chart(
                    f"{metric.label} per month (all severities)", months,
                    [charts.Series("median", [f.median for f in figures], "median"),
                     charts.Series("90th percentile", [f.p90 for f in figures], "p90")],
                    charts.duration_label),
            })
    return render_template("insights.html", rows=rows, totals=totals, count_chart=count_chart,
                           metric_charts=metric_charts, metrics=METRICS, all_key=statistics.ALL,
                           duration=lambda s: charts.duration_label(s) if s is not None else "–",
                           day_from=typed_from, day_to=typed_to, problem=problem), 400 if problem else 200


@blueprint.get("/insights.csv")
def insights_csv():
    rows, *_rest, problem = _rows()
    if problem:
        return Response(problem + "\n", status=400, mimetype="text/plain")
    return Response(statistics.to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="incident-insights.csv"'})
