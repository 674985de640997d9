"""Insights over many incidents: per month and per severity, how many were declared and how long they
took to detect, acknowledge, mitigate and resolve (docs/insights.md). Pure: plain values in, plain
values out; `storage.stats.incident_times` reads the rows, `times_from_rows` turns them into
`IncidentTimes`.

- **What is measured** is exactly what an incident's postmortem shows: each incident's metrics follow
  `bot.milestones.METRICS` and the rule of `bot.milestones.measure` (tested to agree). Time to
  mitigate and time to resolve are measured from the incident's declaration when `started` was never
  set (and counted in `Figure.from_declared`); time to detect and to acknowledge are not measured
  without their start.
- **A negative value** (milestones out of order: mitigated before started, or before the declaration)
  is left out of that metric, not averaged in, and counted in `Figure.excluded`.
- **The month** of an incident is the month of its declaration (`created_at`) in the zone given, so
  an incident declared at 00:30 on 1 April in Berlin (22:30 UTC on 31 March) is April's.
- **Percentiles** are by linear interpolation between the two nearest ranks (Hyndman and Fan's type 7:
  `statistics.quantiles(values, n=10, method="inclusive")`, numpy's default): the p-th percentile of
  sorted x[0..n-1] is at position h = (n - 1) p, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
  The median is the 50th percentile (the middle value, or the mean of the two middle ones); one value
  is its own median and 90th percentile.
- **Rows**: for each month, first the total across severities (`severity == ALL`, "all"), then one row
  per severity that has incidents that month (sev1 … sev4, then None for incidents whose severity was
  never set). Months run oldest first; a month between the first and the last with no incidents still
  has its "all" row, with a count of 0, so a chart shows the gap.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.milestones import METRICS, MILESTONES, SEVERITIES

ZERO = timedelta(0)
ALL = "all"  # InsightRow.severity of a month's total across severities
METRIC_KEYS: tuple[str, ...] = tuple(metric.key for metric in METRICS)
PERCENTILE_METHOD = ("linear interpolation between the nearest ranks "
                     "(type 7, statistics.quantiles method='inclusive')")


@dataclass(frozen=True)
class IncidentTimes:
    """One incident as insights need it: its number, severity, declaration and milestones (UTC, aware)."""

    number: int
    severity: str | None
    declared_at: datetime  # the incident's created_at: when `/incident start` declared it
    started: datetime | None = None
    detected: datetime | None = None
    acknowledged: datetime | None = None
    mitigated: datetime | None = None
    resolved: datetime | None = None

    @property
    def milestones(self) -> dict[str, datetime]:
        """The milestones that are set, by name."""
        return {name: at for name in MILESTONES if (at := getattr(self, name)) is not None}


def times_from_rows(rows: Iterable[Sequence]) -> list[IncidentTimes]:
    """storage.stats.incident_times rows (number, severity, declared_at, started … resolved) as values."""
    return [IncidentTimes(*row) for row in rows]


@dataclass(frozen=True)
class Figure:
    """One metric over a group of incidents, in seconds."""

    median: float | None  # None: no incident of the group has this metric
    p90: float | None
    n: int  # how many incidents the median and p90 are over
    from_declared: int = 0  # of those, measured from the declaration (`started` was never set)
    excluded: int = 0  # incidents left out because the value was negative (milestones out of order)


@dataclass(frozen=True)
class InsightRow:
    month: str  # "YYYY-MM", in the zone insights() was given
    severity: str | None  # ALL ("all") for the month's total, "sev1" … "sev4", or None: severity not set
    count: int  # incidents declared that month (with that severity)
    time_to_detect: Figure
    time_to_acknowledge: Figure
    time_to_mitigate: Figure
    time_to_resolve: Figure

    def figure(self, key: str) -> Figure:
        """The figure of a metric by its key in bot.milestones.METRICS (`time_to_resolve`, …)."""
        if key not in METRIC_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    @property
    def figures(self) -> dict[str, Figure]:
        return {key: getattr(self, key) for key in METRIC_KEYS}


# -- percentiles -------------------------------------------------------------------------------------

def percentile(ordered: Sequence[float], p: float) -> float:
    """The p-th quantile (0 <= p <= 1) of values sorted ascending, by linear interpolation (type 7)."""
    if not ordered:
        raise ValueError("no values")
    if not 0 <= p <= 1:
        raise ValueError("p must be between 0 and 1")
    h = (len(ordered) - 1) * p
    lo = math.floor(h)
    if lo + 1 >= len(ordered):
        return ordered[-1]
    a, b = ordered[lo], ordered[lo + 1]
    # Clamped: rounding must not take the value outside [a, b] (it keeps p90 >= median, too).
    return min(max(a + (h - lo) * (b - a), a), b)


def figure(values: Iterable[float], *, from_declared: int = 0, excluded: int = 0) -> Figure:
    ordered = sorted(values)
    if not ordered:
        return Figure(None, None, 0, from_declared, excluded)
    return Figure(percentile(ordered, 0.5), percentile(ordered, 0.9), len(ordered), from_declared, excluded)


# -- grouping ----------------------------------------------------------------------------------------

class _Group:
    """The measured values of one (month, severity) while incidents are read."""

    __slots__ = ("count", "excluded", "from_declared", "values")

    def __init__(self) -> None:
        self.count = 0
        self.values: dict[str, list[float]] = {key: [] for key in METRIC_KEYS}
        self.from_declared = dict.fromkeys(METRIC_KEYS, 0)
        self.excluded = dict.fromkeys(METRIC_KEYS, 0)

    def add(self, measured: list[tuple[str, float, bool]]) -> None:
        self.count += 1
        for key, seconds, from_declared in measured:
            if seconds < 0:
                self.excluded[key] += 1
                continue
            self.values[key].append(seconds)
            if from_declared:
                self.from_declared[key] += 1

    def merge(self, other: _Group) -> None:
        self.count += other.count
        for key in METRIC_KEYS:
            self.values[key].extend(other.values[key])
            self.from_declared[key] += other.from_declared[key]
            self.excluded[key] += other.excluded[key]

    def row(self, month: str, severity: str | None) -> InsightRow:
        figures = {key: figure(self.values[key], from_declared=self.from_declared[key],
                               excluded=self.excluded[key]) for key in METRIC_KEYS}
        return InsightRow(month, severity, self.count, **figures)


def month_of(at: datetime, zone: ZoneInfo) -> str:
    """`YYYY-MM` of an instant in a zone."""
    if 2 <= at.day <= 27 and at.utcoffset() == ZERO:
        # No zone is a day or more away from UTC: from the 2nd to the 27th (UTC), the month is UTC's.
        return f"{at.year:04d}-{at.month:02d}"
    return at.astimezone(zone).strftime("%Y-%m")


# bot.milestones' rule for each metric (its `_value`), unrolled: (key, start, end, measured from the
# declaration when `start` is missing). tests/bot/test_statistics.py checks it agrees with measure().
_PLAN = tuple((m.key, m.start, m.end, m.declared_definition is not None) for m in METRICS)


def measured(incident: IncidentTimes) -> list[tuple[str, float, bool]]:
    """(metric key, seconds, measured from the declaration) for each metric the incident has, exactly
    as bot.milestones.measure(incident.milestones, incident.declared_at) has them."""
    out = []
    for key, start_name, end_name, from_declared in _PLAN:
        end = getattr(incident, end_name)
        if end is None:
            continue
        start = getattr(incident, start_name)
        if start is not None:
            out.append((key, (end - start).total_seconds(), False))
        elif from_declared:
            out.append((key, (end - incident.declared_at).total_seconds(), True))
    return out


def _months_between(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    out = []
    while (current := f"{year:04d}-{month:02d}") <= last:
        out.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _severity_order(severity: str | None) -> tuple[int, str]:
    if severity in SEVERITIES:
        return (SEVERITIES.index(severity), "")
    return (len(SEVERITIES) + (1 if severity is None else 0), severity or "")


def insights(rows: Iterable[IncidentTimes], zone: ZoneInfo) -> list[InsightRow]:
    """Per month (in `zone`) and per severity: the count and the metrics' median and p90 (see the module)."""
    groups: dict[tuple[str, str | None], _Group] = {}
    for incident in rows:
        key = (month_of(incident.declared_at, zone), incident.severity)
        if (group := groups.get(key)) is None:
            group = groups[key] = _Group()
        group.add(measured(incident))
    if not groups:
        return []
    by_month: dict[str, list[str | None]] = {}
    for month, severity in groups:
        by_month.setdefault(month, []).append(severity)
    out = []
    for month in _months_between(min(by_month), max(by_month)):
        severities = sorted(by_month.get(month, ()), key=_severity_order)
        total = _Group()
        for severity in severities:
            total.merge(groups[(month, severity)])
        out.append(total.row(month, ALL))
        out.extend(groups[(month, severity)].row(month, severity) for severity in severities)
    return out


# -- the period asked for -------------------------------------------------------------------------------

class PeriodError(ValueError):
    """A --from/--to (or a web form's) that is not a date, or an empty period: the message says what to do."""


@dataclass(frozen=True)
class Period:
    """Whole days in a zone: incidents declared in [since, until). None: unbounded on that side."""

    first: date | None  # the first day included
    last: date | None  # the last day included
    since: datetime | None  # the start of `first` in the zone
    until: datetime | None  # the start of the day after `last` in the zone

    def describe(self) -> str:
        if self.first and self.last:
            return f"from {self.first} to {self.last}"
        if self.first:
            return f"from {self.first}"
        if self.last:
            return f"to {self.last}"
        return "all"


MIN_YEAR, MAX_YEAR = 1970, 9998  # and no overflow at either end, in any zone
_DATE_FORMS = "write YYYY-MM-DD (such as 2026-03-01) or YYYY-MM (a whole month)"


def _day(text: str, option: str, *, last: bool) -> date:
    value = text.strip()
    day = None
    try:
        if len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit():
            # YYYY-MM: the month's first day, or (--to) its last
            day = date(int(value[:4]), int(value[5:]), 1)
            if last:
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)
        elif len(value) == 10 and value[4] == "-" and value[7] == "-":
            day = date.fromisoformat(value)
    except ValueError:
        pass
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        shown = value if len(value) <= 40 else value[:39] + "…"
        bounds = "" if day is None else f" between {MIN_YEAR} and {MAX_YEAR}"
        raise PeriodError(f"{option} {shown!r} is not a date{bounds}: {_DATE_FORMS}")
    return day


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a day in a zone, in UTC (where DST skips midnight, the instant the day begins:
    a time in the gap takes the offset before it, fold=0)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def period(date_from: str | None, date_to: str | None, zone: ZoneInfo,
           names: tuple[str, str] = ("--from", "--to")) -> Period:
    """`--from` and `--to` as whole days in `zone`, `--to` included: `--from 2026-01-01 --to 2026-03-31`
    (or `--from 2026-01 --to 2026-03`) is the first quarter. None or "" leaves that side open.
    PeriodError when one is not a date or the period is empty; its message calls them `names` (a web
    form passes its fields' labels)."""
    first = _day(date_from, names[0], last=False) if date_from else None
    last = _day(date_to, names[1], last=True) if date_to else None
    if first and last and first > last:
        raise PeriodError(f"{names[0]} {first} is after {names[1]} {last}: give the earlier day first")
    since = start_of_day(first, zone) if first else None
    until = start_of_day(last + timedelta(days=1), zone) if last else None
    return Period(first, last, since, until)


# -- CSV and JSON ------------------------------------------------------------------------------------

FIGURE_FIELDS = ("median_s", "p90_s", "n", "from_declared", "excluded")
COLUMNS: tuple[str, ...] = ("month", "severity", "count",
                            *(f"{key}_{field}" for key in METRIC_KEYS for field in FIGURE_FIELDS))


def seconds(value: float | None) -> float | int | None:
    """Seconds to the millisecond, as an int when whole (3900, not 3900.0); None stays None."""
    if value is None:
        return None
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _flat(row: InsightRow) -> dict:
    item: dict = {"month": row.month, "severity": row.severity, "count": row.count}
    for key in METRIC_KEYS:
        fig = row.figure(key)
        item.update({f"{key}_median_s": seconds(fig.median), f"{key}_p90_s": seconds(fig.p90),
                     f"{key}_n": fig.n, f"{key}_from_declared": fig.from_declared,
                     f"{key}_excluded": fig.excluded})
    return item


def to_json(rows: Iterable[InsightRow]) -> list[dict]:
    """Each row as a JSON object: month, severity ("all", "sev1" … or null: not set), count, and per
    metric `<key>_median_s`, `<key>_p90_s` (seconds, null when nothing was measured), `<key>_n`,
    `<key>_from_declared`, `<key>_excluded`. The same columns, in the same order, as to_csv."""
    return [_flat(row) for row in rows]


def to_csv(rows: Iterable[InsightRow]) -> str:
    """A header row, then one line per row: to_json's columns, seconds as numbers, empty for None
    (a severity never set is empty too; the total's is `all`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in to_json(rows):
        writer.writerow(["" if item[column] is None else item[column] for column in COLUMNS])
    return out.getvalue()
