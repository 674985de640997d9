"""Insights over incidents (bot/statistics.py): the figures a team would read on /insights and in
`incident-bot stats`, and that they mean what an incident's postmortem means."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.milestones import METRICS, MILESTONES, measure
from bot.statistics import (
    ALL,
    COLUMNS,
    METRIC_KEYS,
    IncidentTimes,
    PeriodError,
    figure,
    insights,
    measured,
    month_of,
    percentile,
    period,
    to_csv,
    to_json,
)

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def incident(number=1, severity="sev2", declared=T0, **offsets_min) -> IncidentTimes:
    """An incident declared at `declared`, its milestones `offsets_min` minutes after it (or None)."""
    times = {name: (None if m is None else declared + timedelta(minutes=m))
             for name, m in offsets_min.items()}
    return IncidentTimes(number, severity, declared, **times)


def one(rows, month, severity=ALL):
    [row] = [r for r in rows if r.month == month and r.severity == severity]
    return row


# -- what is measured ------------------------------------------------------------------------------

def test_each_metric_is_measured_between_the_milestones_the_postmortem_uses():
    item = incident(started=-30, detected=0, acknowledged=10, mitigated=60, resolved=120)
    rows = insights([item], UTC_ZONE)
    row = one(rows, "2026-03")
    assert (row.count, row.time_to_detect.median, row.time_to_acknowledge.median) == (1, 1800, 600)
    assert (row.time_to_mitigate.median, row.time_to_resolve.median) == (90 * 60, 150 * 60)
    assert all(row.figure(key).n == 1 and row.figure(key).from_declared == 0 for key in METRIC_KEYS)


def test_without_started_mitigate_and_resolve_run_from_the_declaration_and_detect_is_not_measured():
    declared = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    item = incident(declared=declared, detected=0, acknowledged=5, mitigated=45, resolved=100)
    rows = insights([item], UTC_ZONE)
    row = one(rows, "2026-03")
    assert row.time_to_detect == figure([])  # nothing to measure from: not recorded, as in the postmortem
    assert row.time_to_acknowledge.median == 300 and row.time_to_acknowledge.from_declared == 0
    assert row.time_to_mitigate.median == 45 * 60 and row.time_to_mitigate.from_declared == 1
    assert row.time_to_resolve.median == 100 * 60 and row.time_to_resolve.from_declared == 1


def test_a_missing_milestone_leaves_its_metrics_out_but_the_incident_is_counted():
    rows = insights([incident(1, started=-10, detected=0, resolved=60),
                     incident(2, started=-20, detected=0, mitigated=30, resolved=90)], UTC_ZONE)
    row = one(rows, "2026-03")
    assert row.count == 2
    assert row.time_to_acknowledge.n == 0 and row.time_to_acknowledge.median is None
    assert row.time_to_mitigate.n == 1 and row.time_to_mitigate.median == 50 * 60
    assert row.time_to_resolve.n == 2 and row.time_to_resolve.median == (70 * 60 + 110 * 60) / 2


def test_out_of_order_milestones_are_left_out_of_that_metric_not_counted_negative():
    rows = insights([
        incident(1, started=30, detected=0, mitigated=10, resolved=60),  # started after mitigated, detected
        incident(2, started=-10, detected=0, acknowledged=5, mitigated=20, resolved=40),
    ], UTC_ZONE)
    row = one(rows, "2026-03")
    assert row.time_to_mitigate.n == 1 and row.time_to_mitigate.median == 30 * 60
    assert row.time_to_mitigate.excluded == 1 and row.time_to_detect.excluded == 1
    assert row.time_to_resolve.n == 2 and row.time_to_resolve.excluded == 0  # 30 min and 50 min
    assert all((row.figure(k).median or 0) >= 0 for k in METRIC_KEYS)


def test_mitigated_before_the_declaration_without_started_is_left_out():
    row = one(insights([incident(detected=0, mitigated=-15, resolved=30)], UTC_ZONE), "2026-03")
    assert row.time_to_mitigate.n == 0 and row.time_to_mitigate.excluded == 1
    assert row.time_to_resolve.median == 1800


times_st = st.one_of(st.none(), st.integers(-10_000, 10_000))


@given(st.fixed_dictionaries({name: times_st for name in MILESTONES}))
def test_the_metrics_are_bot_milestones_measure(offsets):
    item = incident(**offsets)
    expected = [(v.metric.key, v.value.total_seconds(), v.from_declared)
                for v in measure(item.milestones, item.declared_at) if v.value is not None]
    assert measured(item) == expected


def test_the_metric_keys_are_the_postmortems():
    assert METRIC_KEYS == tuple(m.key for m in METRICS)
    assert METRIC_KEYS == ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve")


# -- months and severities ----------------------------------------------------------------------------

@pytest.mark.parametrize(("utc", "zone", "month"), [
    # Berlin in summer time (UTC+2): 22:30 UTC on 31 March is 00:30 on 1 April
    (datetime(2026, 3, 31, 22, 30, tzinfo=UTC), BERLIN, "2026-04"),
    (datetime(2026, 3, 31, 21, 59, tzinfo=UTC), BERLIN, "2026-03"),
    # after the change back (UTC+1, 25 October 2026): 23:00 UTC on 31 October is 00:00 on 1 November
    (datetime(2026, 10, 31, 23, 0, tzinfo=UTC), BERLIN, "2026-11"),
    (datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC), BERLIN, "2026-10"),
    # the change itself, in the month's last night (Europe changes on 29 March 2026 at 01:00 UTC)
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), BERLIN, "2026-03"),
    # west of UTC: 03:00 UTC on 1 November is still October in New York (EDT until 1 November 06:00 UTC)
    (datetime(2026, 11, 1, 3, 0, tzinfo=UTC), ZoneInfo("America/New_York"), "2026-10"),
    (datetime(2026, 12, 1, 4, 59, tzinfo=UTC), ZoneInfo("America/New_York"), "2026-11"),
    (datetime(2026, 12, 1, 5, 0, tzinfo=UTC), ZoneInfo("America/New_York"), "2026-12"),
    # the southern hemisphere, and the zones furthest from UTC
    (datetime(2026, 3, 31, 13, 0, tzinfo=UTC), ZoneInfo("Australia/Sydney"), "2026-04"),
    (datetime(2026, 1, 31, 10, 0, tzinfo=UTC), ZoneInfo("Pacific/Kiritimati"), "2026-02"),
    (datetime(2026, 2, 1, 10, 59, tzinfo=UTC), ZoneInfo("Pacific/Pago_Pago"), "2026-01"),
    (datetime(2026, 2, 1, 11, 0, tzinfo=UTC), ZoneInfo("Pacific/Pago_Pago"), "2026-02"),
    (datetime(2026, 2, 27, 23, 59, tzinfo=UTC), ZoneInfo("Pacific/Kiritimati"), "2026-02"),
])
def test_an_incident_belongs_to_the_month_it_was_declared_in_the_zone(utc, zone, month):
    assert month_of(utc, zone) == month
    [row] = [r for r in insights([incident(declared=utc)], zone) if r.severity == ALL]
    assert row.month == month


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
                        "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns", "UTC"]))
def test_the_month_is_the_zones_calendar_month(at, zone_name):
    zone = ZoneInfo(zone_name)
    assert month_of(at, zone) == at.astimezone(zone).strftime("%Y-%m")


def test_rows_per_month_total_first_then_each_severity_and_not_set_last():
    rows = insights([
        incident(1, "sev3", datetime(2026, 1, 5, tzinfo=UTC), resolved=10),
        incident(2, None, datetime(2026, 1, 6, tzinfo=UTC), resolved=20),
        incident(3, "sev1", datetime(2026, 1, 7, tzinfo=UTC), resolved=30),
        incident(4, "sev1", datetime(2026, 3, 7, tzinfo=UTC), resolved=40),
    ], UTC_ZONE)
    assert [(r.month, r.severity, r.count) for r in rows] == [
        ("2026-01", ALL, 3), ("2026-01", "sev1", 1), ("2026-01", "sev3", 1), ("2026-01", None, 1),
        ("2026-02", ALL, 0),  # no incident in February: the chart shows the gap
        ("2026-03", ALL, 1), ("2026-03", "sev1", 1),
    ]
    january = one(rows, "2026-01")
    assert january.time_to_resolve.median == 20 * 60 and january.time_to_resolve.n == 3
    assert one(rows, "2026-02").time_to_resolve == figure([])


def test_months_run_across_the_turn_of_the_year_and_nothing_is_no_rows():
    rows = insights([incident(1, declared=datetime(2025, 11, 3, tzinfo=UTC)),
                     incident(2, declared=datetime(2026, 2, 3, tzinfo=UTC))], UTC_ZONE)
    assert [r.month for r in rows if r.severity == ALL] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert insights([], UTC_ZONE) == []


# -- percentiles ----------------------------------------------------------------------------------------

def test_percentiles_by_linear_interpolation():
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([10.0, 20.0], 0.5) == 15.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(9.1)
    assert figure([600, 60, 120]) == figure([60, 120, 600])
    assert figure([600, 60, 120]).median == 120 and figure([60, 120, 600]).p90 == pytest.approx(504)


durations = st.lists(st.floats(min_value=0, max_value=400 * 86400, allow_nan=False), min_size=1, max_size=60)


@given(durations)
def test_median_and_p90_lie_within_the_values_in_order(values):
    result = figure(values)
    assert min(values) <= result.median <= result.p90 <= max(values)
    assert result.n == len(values)


@given(durations, st.randoms(use_true_random=False))
def test_the_order_of_the_incidents_does_not_matter(values, rng):
    shuffled = list(values)
    rng.shuffle(shuffled)
    assert figure(shuffled) == figure(values)


@given(st.floats(min_value=0, max_value=400 * 86400, allow_nan=False))
def test_one_incident_is_its_own_median_and_p90(value):
    assert (figure([value]).median, figure([value]).p90, figure([value]).n) == (value, value, 1)


@given(st.lists(st.integers(0, 10**7), min_size=2, max_size=60))
def test_the_method_is_pythons_inclusive_quantiles(values):
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    result = figure([float(v) for v in values])
    assert result.p90 == pytest.approx(deciles[8], abs=1e-6)
    assert result.median == pytest.approx(statistics.median(values), abs=1e-6)


@given(st.lists(st.tuples(st.sampled_from(["sev1", "sev2", None]), st.integers(0, 86400 * 90),
                          st.one_of(st.none(), st.integers(-600, 86400))), max_size=30),
       st.randoms(use_true_random=False))
def test_insights_do_not_depend_on_the_order_of_the_incidents(items, rng):
    incidents = [incident(n, sev, T0 + timedelta(seconds=at), resolved=None if r is None else r / 60)
                 for n, (sev, at, r) in enumerate(items)]
    shuffled = list(incidents)
    rng.shuffle(shuffled)
    assert insights(shuffled, BERLIN) == insights(incidents, BERLIN)
    totals = [r for r in insights(incidents, BERLIN) if r.severity == ALL]
    assert sum(r.count for r in totals) == len(incidents)


# -- CSV and JSON ------------------------------------------------------------------------------------------

def test_csv_has_a_header_seconds_as_numbers_and_empty_cells_for_nothing_measured():
    rows = insights([incident(1, "sev1", started=-30, detected=0, acknowledged=1.5, resolved=65.25),
                     incident(2, None, detected=0)], UTC_ZONE)
    text = to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0]) == COLUMNS
    assert [(r["month"], r["severity"], r["count"]) for r in parsed] == [
        ("2026-03", "all", "2"), ("2026-03", "sev1", "1"), ("2026-03", "", "1")]
    total = parsed[0]
    assert total["time_to_detect_median_s"] == "1800" and total["time_to_acknowledge_median_s"] == "90"
    assert total["time_to_resolve_median_s"] == "5715" and total["time_to_resolve_n"] == "1"
    assert total["time_to_mitigate_median_s"] == "" and total["time_to_mitigate_n"] == "0"
    assert to_csv([]) == ",".join(COLUMNS) + "\r\n"


def test_json_has_the_same_columns_with_null_for_nothing_measured():
    rows = insights([incident(1, "sev1", detected=0, mitigated=0.5, resolved=10)], UTC_ZONE)
    [total, sev1] = to_json(rows)
    assert list(total) == list(COLUMNS)
    assert total["severity"] == "all" and sev1["severity"] == "sev1"
    assert total["time_to_detect_median_s"] is None and total["time_to_mitigate_median_s"] == 30
    assert total["time_to_resolve_p90_s"] == 600 and total["time_to_resolve_from_declared"] == 1


# -- the period asked for ----------------------------------------------------------------------------------

def test_from_and_to_are_whole_days_in_the_zone_and_to_is_included():
    dates = period("2026-03-01", "2026-03-31", BERLIN)
    assert dates.since == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # CET
    assert dates.until == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # 1 April 00:00 CEST
    assert (dates.first, dates.last) == (date(2026, 3, 1), date(2026, 3, 31))
    assert period("2026-02", "2026-02", UTC_ZONE).last == date(2026, 2, 28)
    assert period("2028-02", "2028-02", UTC_ZONE).last == date(2028, 2, 29)
    assert period("2026-12", "2026-12", UTC_ZONE).until == datetime(2027, 1, 1, tzinfo=UTC)
    assert period(None, None, UTC_ZONE).since is None and period("", None, UTC_ZONE).until is None


def test_a_web_form_names_its_own_fields():
    with pytest.raises(PeriodError, match=r"^From 2026-05-01 is after To 2026-04-30: give the earlier day"):
        period("2026-05-01", "2026-04", UTC_ZONE, names=("From", "To"))
    with pytest.raises(PeriodError, match=r"^To 'soon' is not a date"):
        period(None, "soon", UTC_ZONE, names=("From", "To"))


def test_a_day_that_begins_after_a_skipped_midnight_begins_when_it_begins():
    # Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026: the day began at 01:00 (-03)
    start = period("2026-09-06", None, ZoneInfo("America/Santiago")).since
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(("date_from", "date_to", "fragment"), [
    ("2026-13-01", None, "--from '2026-13-01' is not a date"),
    ("yesterday", None, "--from 'yesterday' is not a date"),
    (None, "2026-02-30", "--to '2026-02-30' is not a date"),
    (None, "2026-1", "--to '2026-1' is not a date"),
    ("0001-01-01", None, "is not a date between 1970 and 9998"),
    ("2026-04-01", "2026-03-31", "--from 2026-04-01 is after --to 2026-03-31"),
    ("x" * 500, None, "is not a date"),
])
def test_a_bad_date_says_what_to_write(date_from, date_to, fragment):
    with pytest.raises(PeriodError) as raised:
        period(date_from, date_to, UTC_ZONE)
    message = str(raised.value)
    assert fragment in message and "\n" not in message and len(message) < 200
    if "is not a date" in fragment:
        assert "YYYY-MM-DD" in message
