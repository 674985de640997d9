"""The SVG charts (pure): text in them is escaped, a chart of meaningless phases is not drawn, many key
events are sampled and say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.web import charts
from bot.when import format_time

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
TIMES = {"started": T0, "detected": T0 + timedelta(minutes=5), "mitigated": T0 + timedelta(hours=1),
         "resolved": T0 + timedelta(hours=2)}


def test_the_phase_chart_escapes_key_event_text_and_names_the_phases():
    svg = str(charts.phase_chart(TIMES, [charts.Marker(T0 + timedelta(minutes=20), "<script>x</script> & co")],
                                 ZoneInfo("Europe/Berlin"), format_time))
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt; &amp; co" in svg
    assert "Impact started → Detected" in svg and "Mitigated → Resolved" in svg
    assert svg.count('class="key-event"') == 1
    assert "01:30" in svg and "03:30 CEST" in svg  # Berlin time, before and after the change to summer time


def test_no_chart_with_fewer_than_two_milestones_or_out_of_order():
    zone = ZoneInfo("UTC")
    assert charts.phase_chart({"detected": T0}, [], zone, format_time) is None
    backwards = {**TIMES, "mitigated": T0 - timedelta(minutes=1)}
    assert charts.phase_chart(backwards, [], zone, format_time) is None


def test_a_sample_of_key_events_says_how_many_there_are():
    markers = [charts.Marker(T0 + timedelta(minutes=m), f"event {m}") for m in range(0, 120, 2)]
    svg = str(charts.phase_chart(TIMES, markers, ZoneInfo("UTC"), format_time, total_markers=600))
    assert "(60 of 600 key events drawn)" in svg


def test_bar_charts_stack_or_stand_side_by_side_and_label_each_bar():
    series = [charts.Series("SEV1", [1, None, 2], "sev-sev1"), charts.Series("SEV2", [3, 0, 1], "sev-sev2")]
    stacked = str(charts.bar_chart("Incidents", ["2026-01", "2026-02", "2026-03"], series, str, stacked=True))
    assert stacked.count('class="bar sev-sev1"') == 2 + 1  # two bars and the legend's swatch
    assert "<title>2026-03, SEV1: 2</title>" in stacked
    side = str(charts.bar_chart("Median", ["2026-01"], [charts.Series("median", [3600.0], "median")],
                                charts.duration_label))
    assert "1 h 0 min" in side


def test_axes_end_on_round_numbers_and_counts_tick_in_whole_numbers():
    assert charts.axis_top(1, whole=True) == 4 and charts.axis_top(9, whole=True) == 12
    assert charts.axis_top(3500) == 4000 and abs(charts.axis_top(0.3) - 0.3) < 1e-9 and charts.axis_top(0) == 1
    svg = str(charts.bar_chart("n", ["2026-01"], [charts.Series("all", [1], "x")], lambda v: str(round(v)), whole=True))
    assert [t for t in ("0", "1", "2", "3", "4") if f'text-anchor="end">{t}</text>' in svg] == ["0", "1", "2", "3", "4"]
