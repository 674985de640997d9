"""`<when>` parsing: the rules of docs/commands.md, across midnight, DST changes, offsets and IANA zones."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.when import (
    WhenError,
    format_duration,
    format_time,
    from_slack_ts,
    slack_date,
    split_when,
    zone_label,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


def at(*args, tz=UTC):
    return datetime(*args, tzinfo=tz)


def parse(text, now, zone=UTC):
    when, rest = split_when(text, now, zone)
    return (when.at if when else None), rest


def test_bare_clock_time_is_today_when_it_has_passed():
    assert parse("14:05 rolled back deploy", at(2026, 11, 22, 15, 0)) == (at(2026, 11, 22, 14, 5), "rolled back deploy")


def test_bare_clock_time_after_now_is_yesterday_across_midnight():
    # 23:50 typed at 00:10 is yesterday
    assert parse("23:50 deploy started", at(2026, 11, 22, 0, 10))[0] == at(2026, 11, 21, 23, 50)


def test_bare_clock_time_up_to_one_minute_ahead_is_today():
    now = at(2026, 11, 22, 14, 5, 30)
    assert parse("14:06 x", now)[0] == at(2026, 11, 22, 14, 6)
    assert parse("14:07 x", now)[0] == at(2026, 11, 21, 14, 7)


def test_caller_zone_applies_without_an_explicit_zone():
    # 09:00 in New York (EST, UTC-5) on 22 Nov is 14:00 UTC
    assert parse("09:00 paged", at(2026, 11, 22, 15, 0), NEW_YORK)[0] == at(2026, 11, 22, 14, 0)


def test_midnight_in_the_callers_zone_not_utc():
    # 00:30 in Kolkata on 23 Nov is 19:00 UTC on 22 Nov; typed at 19:30 UTC, it is today in Kolkata
    assert parse("00:30 x", at(2026, 11, 22, 19, 30), KOLKATA)[0] == at(2026, 11, 22, 19, 0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2:05pm x", at(2026, 11, 22, 14, 5)),
        ("2:05 PM x", at(2026, 11, 22, 14, 5)),
        ("12:30am x", at(2026, 11, 22, 0, 30)),
        ("12:00pm x", at(2026, 11, 22, 12, 0)),
        ("14:05:30 x", at(2026, 11, 22, 14, 5, 30)),
        ("9:05 x", at(2026, 11, 22, 9, 5)),
    ],
)
def test_clock_forms(text, expected):
    assert parse(text, at(2026, 11, 22, 20, 0)) == (expected, "x")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("14:05 UTC x", at(2026, 11, 22, 14, 5)),
        ("14:05 gmt x", at(2026, 11, 22, 14, 5)),
        ("14:05 Z x", at(2026, 11, 22, 14, 5)),
        ("14:05 +01:00 x", at(2026, 11, 22, 13, 5)),
        ("14:05 -0530 x", at(2026, 11, 22, 19, 35)),
        ("14:05 UTC+1 x", at(2026, 11, 22, 13, 5)),
        ("14:05 Europe/Berlin x", at(2026, 11, 22, 13, 5)),
        ("14:05 europe/berlin x", at(2026, 11, 22, 13, 5)),
        ("2026-11-21 14:05 America/New_York x", at(2026, 11, 21, 19, 5)),
        ("2026-11-21T14:05Z x", at(2026, 11, 21, 14, 5)),
        ("2026-11-21T14:05:10+02:00 x", at(2026, 11, 21, 12, 5, 10)),
        ("2026-11-21T14:05:10.250Z x", at(2026, 11, 21, 14, 5, 10) + timedelta(milliseconds=250)),
    ],
)
def test_explicit_zones_and_offsets_override_the_callers_zone(text, expected):
    when, rest = split_when(text, at(2026, 11, 22, 23, 0), KOLKATA)
    assert (when.at, rest, when.zone_given) == (expected, "x", True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-21 14:05 x", at(2026, 11, 21, 8, 35)),
        ("2026-11-21T14:05 x", at(2026, 11, 21, 8, 35)),
        ("2026-11-21 2:05 pm x", at(2026, 11, 21, 8, 35)),
    ],
)
def test_dates_without_a_zone_are_in_the_callers_zone(text, expected):
    when, rest = split_when(text, at(2026, 11, 22, 23, 0), KOLKATA)
    assert (when.at, rest, when.zone_given) == (expected, "x", False)


def test_explicit_zone_wins_over_the_callers_zone():
    when, _ = split_when("14:05 UTC x", at(2026, 11, 22, 23, 0), KOLKATA)
    assert when.at == at(2026, 11, 22, 14, 5) and when.zone_given


@pytest.mark.parametrize("text", ["500 errors", "deploy at noon", "10:1 ratio", "v2.3.4 released", "+1 from me", ""])
def test_anything_else_is_text(text):
    assert parse(text, at(2026, 11, 22, 12, 0)) == (None, text)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("25:99 x", "not a time"),
        ("24:00 x", "not a time"),
        ("13:05pm x", "1 to 12"),
        ("2026-02-30 10:00 x", "not a date"),
        ("2026-13-01 10:00 x", "not a date"),
        ("2026-11-21 x", "needs a time"),
        ("14:05 PST x", "ambiguous"),
        ("14:05 IST x", "ambiguous"),
        ("14:05 Europe/Berln x", "not a time zone"),
        ("14:05 +25:00 x", "not a UTC offset"),
        ("2026-11-21T25:00 x", "not a time"),
    ],
)
def test_time_like_but_invalid_is_refused_with_the_accepted_forms(text, fragment):
    with pytest.raises(WhenError) as error:
        split_when(text, at(2026, 11, 22, 12, 0), UTC)
    assert fragment in str(error.value)
    if fragment not in ("not a time zone",):
        assert "Accepted times" in str(error.value) or "daylight" in str(error.value)


def test_future_times_are_refused():
    with pytest.raises(WhenError, match="is in the future"):
        split_when("2026-11-22 12:05 x", at(2026, 11, 22, 12, 0), UTC)
    # exactly one minute ahead is allowed (clock skew)
    assert parse("2026-11-22 12:01 x", at(2026, 11, 22, 12, 0))[0] == at(2026, 11, 22, 12, 1)


def test_backdating_has_no_lower_bound():
    assert parse("2020-01-01 00:00 x", at(2026, 11, 22, 12, 0))[0] == at(2020, 1, 1)


# --- daylight saving time ----------------------------------------------------------------------


def test_spring_forward_gap_is_refused():
    # Berlin skipped 02:00-03:00 on 2026-03-29
    with pytest.raises(WhenError, match="does not exist"):
        split_when("2026-03-29 02:30 x", at(2026, 3, 29, 12, 0), BERLIN)
    with pytest.raises(WhenError, match="does not exist"):
        split_when("02:30 x", at(2026, 3, 29, 12, 0), BERLIN)


def test_spring_forward_gap_today_but_in_the_future_means_yesterday():
    # at 00:30 UTC (02:30 CEST? no: 01:30 CET) the gap time 02:30 today is still ahead -> yesterday 02:30 CET
    assert parse("02:30 x", at(2026, 3, 29, 0, 30), BERLIN)[0] == at(2026, 3, 28, 1, 30)


def test_times_either_side_of_spring_forward():
    now = at(2026, 3, 29, 12, 0)
    assert parse("01:59 x", now, BERLIN)[0] == at(2026, 3, 29, 0, 59)  # CET, UTC+1
    assert parse("03:00 x", now, BERLIN)[0] == at(2026, 3, 29, 1, 0)  # CEST, UTC+2


def test_fall_back_fold_takes_the_earlier_instant_and_shows_its_offset():
    # Berlin repeated 02:00-03:00 on 2026-10-25: first in CEST (UTC+2), then in CET (UTC+1)
    when, _ = split_when("02:30 x", at(2026, 10, 25, 12, 0), BERLIN)
    assert when.at == at(2026, 10, 25, 0, 30)
    assert format_time(when.at, BERLIN) == "2026-10-25 02:30 CEST (UTC+02:00)"


def test_fall_back_in_new_york():
    when, _ = split_when("2026-11-01 01:30 x", at(2026, 11, 2, 12, 0), NEW_YORK)
    assert when.at == at(2026, 11, 1, 5, 30)  # EDT, the earlier one


def test_offsets_are_not_affected_by_dst():
    assert parse("2026-03-29 02:30 +01:00 x", at(2026, 3, 29, 12, 0), BERLIN)[0] == at(2026, 3, 29, 1, 30)


# --- showing times ----------------------------------------------------------------------------


def test_labels_show_abbreviation_and_offset():
    assert zone_label(at(2026, 1, 10, 12, 0), BERLIN) == "CET (UTC+01:00)"
    assert zone_label(at(2026, 7, 10, 12, 0), BERLIN) == "CEST (UTC+02:00)"
    assert zone_label(at(2026, 7, 10, 12, 0), UTC) == "UTC"
    assert zone_label(at(2026, 7, 10, 12, 0), ZoneInfo("Europe/Istanbul")) == "UTC+03:00"
    assert zone_label(at(2026, 7, 10, 12, 0), timezone(timedelta(hours=5, minutes=30))) == "UTC+05:30"
    assert format_time(at(2026, 1, 10, 13, 32), BERLIN) == "2026-01-10 14:32 CET (UTC+01:00)"


def test_slack_date_token_carries_the_instant_and_a_labelled_fallback():
    token = slack_date(at(2026, 1, 10, 13, 32), BERLIN)
    assert token == "<!date^1768051920^{date_short_pretty} {time}|2026-01-10 14:32 CET (UTC+01:00)>"


@pytest.mark.parametrize(
    "delta, text",
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=12), "12 min"),
        (timedelta(hours=1, minutes=6), "1 h 6 min"),
        (timedelta(days=1, minutes=11), "1 d 0 h 11 min"),
        (timedelta(minutes=-5), "-5 min"),
    ],
)
def test_durations_read_naturally(delta, text):
    assert format_duration(delta) == text


def test_slack_ts_is_exact_to_the_microsecond():
    assert from_slack_ts("1700000000.000100") == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)


@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from([UTC, BERLIN, NEW_YORK, KOLKATA, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Pacific/Chatham")]),
)
def test_a_bare_clock_time_is_the_latest_occurrence_not_in_the_future(hour, minute, now, zone):
    try:
        when, rest = split_when(f"{hour}:{minute:02d} note", now, zone)
    except WhenError as exc:
        assert "does not exist" in str(exc)  # only a DST gap may refuse a well-formed clock time
        return
    assert rest == "note"
    local = when.at.astimezone(zone)
    assert (local.hour, local.minute) == (hour, minute)
    assert when.at <= now + timedelta(minutes=1)
    assert now + timedelta(minutes=1) - when.at < timedelta(hours=26)  # today or yesterday, never older


@pytest.mark.parametrize("text", ["0001-01-01T00:00+14:00 x", "0001-01-01 00:00 Asia/Tokyo x",
                                  "0001-01-01 12:00 x", "9999-12-31 23:59 -14:00 x", "9999-12-31T23:59 x"])
def test_the_edges_of_the_calendar_are_refused_not_crashed_on(text):
    """Year 1 east of UTC and year 9999 west of it do not fit a datetime once converted: refuse them."""
    with pytest.raises(WhenError) as refused:
        split_when(text, at(2026, 11, 22, 12, 0), ZoneInfo("America/Los_Angeles"))
    assert "future" in str(refused.value) or "earliest" in str(refused.value)


def test_the_earliest_time_every_zone_can_show_is_accepted_and_shown_anywhere():
    when, rest = split_when("0001-01-02 00:00 UTC deploy", at(2026, 11, 22, 12, 0), UTC)
    assert when.at == at(1, 1, 2) and rest == "deploy"
    for zone in (ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12"), NEW_YORK):
        assert format_time(when.at, zone)


def test_an_error_quotes_a_long_input_briefly():
    with pytest.raises(WhenError) as refused:
        split_when("12:00 Europe/" + "x" * 40_000, at(2026, 11, 22, 12, 0), UTC)
    assert len(str(refused.value)) < 400
