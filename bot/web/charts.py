"""Charts drawn as SVG on the server: no script, no external library, readable without JavaScript.

Each function returns markup (`markupsafe.Markup`) for an `<svg>` element; every piece of text in it
is escaped. Colours come from CSS classes in static/style.css (CSP allows no inline style), with
text labels beside them, so colour is never the only way to tell things apart. Each chart has a
`<title>` and a `<desc>`, and the page shows the same figures as text or a table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from markupsafe import Markup, escape

from bot.milestones import MILESTONE_LABELS, MILESTONES
from bot.when import format_duration

WIDTH = 800
LEFT = 200  # room for the row labels
RIGHT = 20


@dataclass(frozen=True)
class Marker:
    at: datetime
    label: str  # plain text (escaped when drawn)


def _e(value) -> str:
    return str(escape(str(value)))


def _svg(height: int, title: str, desc: str, body: list[str], css: str) -> Markup:
    ident = f"chart-{abs(hash((title, desc))) % 10**8}"
    return Markup(
        f'<svg class="chart {css}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{_e(title)}</title><desc id="{ident}-d">{_e(desc)}</desc>'
        + "".join(body) + "</svg>")


def _ticks(start: datetime, end: datetime, count: int = 5) -> list[datetime]:
    span = end - start
    return [start + span * i / count for i in range(count + 1)]


def phase_chart(times: Mapping[str, datetime], markers: Sequence[Marker], zone: tzinfo,
                clock: Callable[[datetime, tzinfo], str], total_markers: int | None = None) -> Markup | None:
    """The phases between recorded milestones as bars on one time axis, each milestone a line, each
    key event a dot (`markers` may be a sample of `total_markers`); None with fewer than two
    milestones, or when they are out of order."""
    present = [name for name in MILESTONES if name in times]
    if len(present) < 2:
        return None
    ordered = [times[name] for name in present]
    if any(later < earlier for earlier, later in zip(ordered, ordered[1:], strict=False)):
        return None
    start, end = ordered[0], ordered[-1]
    shown_markers = [m for m in markers if start <= m.at <= end]
    if end == start:
        end = start + timedelta(minutes=1)
    plot = WIDTH - LEFT - RIGHT

    def x(at: datetime) -> float:
        return round(LEFT + plot * (at - start) / (end - start), 1)

    phases = list(zip(present, present[1:], strict=False))
    row_h, top = 26, 34
    height = top + row_h * (len(phases) + 1) + 40
    body = []
    days = start.astimezone(zone).date() != end.astimezone(zone).date()
    for i, tick in enumerate(_ticks(start, end)):
        tx = x(tick)
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        local = tick.astimezone(zone)
        if days:
            label = f"{local:%m-%d %H:%M}"
        else:
            label = f"{local:%H:%M:%S}" if end - start < timedelta(minutes=10) else f"{local:%H:%M}"
        body.append(f'<line class="grid" x1="{tx}" y1="{top - 6}" x2="{tx}" y2="{height - 30}"/>'
                    f'<text class="tick" x="{tx}" y="{height - 12}" text-anchor="{anchor}">{_e(label)}</text>')
    for row, (a, b) in enumerate(phases):
        y = top + row * row_h
        x1, x2 = x(times[a]), x(times[b])
        label = f"{MILESTONE_LABELS[a]} → {MILESTONE_LABELS[b]}"
        body.append(f'<text class="row-label" x="{LEFT - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>'
                    f'<rect class="phase phase-{row}" x="{x1}" y="{y + 3}" width="{max(x2 - x1, 2)}" height="{row_h - 8}">'
                    f'<title>{_e(label)}: {_e(format_duration(times[b] - times[a]))}</title></rect>')
    for name in present:
        mx = x(times[name])
        body.append(f'<line class="milestone" x1="{mx}" y1="{top - 4}" x2="{mx}" y2="{top + row_h * len(phases)}">'
                    f'<title>{_e(MILESTONE_LABELS[name])} {_e(clock(times[name], zone))}</title></line>')
    y = top + row_h * len(phases)
    body.append(f'<text class="row-label" x="{LEFT - 8}" y="{y + 15}" text-anchor="end">Key events</text>')
    for marker in shown_markers:
        body.append(f'<circle class="key-event" cx="{x(marker.at)}" cy="{y + 11}" r="5">'
                    f'<title>{_e(clock(marker.at, zone))}: {_e(marker.label)}</title></circle>')
    sampled = total_markers is not None and total_markers > len(markers)
    body.append(f'<text class="caption" x="{LEFT}" y="16">Phases from {_e(clock(start, zone))} to '
                f'{_e(clock(ordered[-1], zone))}'
                + (f' ({len(markers)} of {total_markers} key events drawn)' if sampled else '') + '</text>')
    desc = "; ".join(f"{MILESTONE_LABELS[a]} to {MILESTONE_LABELS[b].lower()}: {format_duration(times[b] - times[a])}"
                     for a, b in phases) + f"; {len(shown_markers)} key events drawn"
    return _svg(height, "Phases of the incident", desc, body, "phase-chart")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str


def axis_top(peak: float, *, whole: bool = False) -> float:
    """The top of a value axis with four intervals: a round number at or above `peak` (whole numbers
    for counts, so every tick is one)."""
    if peak <= 0:
        return 4 if whole else 1
    if whole:
        return max(4, math.ceil(peak / 4) * 4)
    scale = 10 ** math.floor(math.log10(peak))
    return next(m * scale for m in (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10) if m * scale >= peak)


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str],
              *, stacked: bool = False, whole: bool = False) -> Markup:
    """Bars per category (a month): side by side, or stacked; a legend names each series. `whole`:
    the values are counts."""
    height, top, bottom = 260, 30, 40
    plot_h = height - top - bottom
    left = 70
    plot_w = WIDTH - left - RIGHT
    if stacked:
        peak = max([sum(v or 0 for v in col) for col in zip(*(s.values for s in series), strict=True)] or [0])
    else:
        peak = max([v for s in series for v in s.values if v is not None] or [0])
    peak = axis_top(peak, whole=whole)
    body = []
    for i in range(5):
        value = peak * i / 4
        y = round(top + plot_h - plot_h * i / 4, 1)
        body.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
                    f'<text class="tick" x="{left - 6}" y="{y + 4}" text-anchor="end">{_e(fmt(value))}</text>')
    slot = plot_w / max(len(categories), 1)
    bars_in_slot = 1 if stacked else max(len(series), 1)
    bar_w = max(min(slot * 0.8 / bars_in_slot, 40), 1)
    for c, category in enumerate(categories):
        base = top + plot_h
        slot_x = left + c * slot + (slot - bar_w * bars_in_slot) / 2
        for s_index, s in enumerate(series):
            value = s.values[c]
            if value is None or value <= 0:
                continue
            h = plot_h * value / peak
            bx = slot_x if stacked else slot_x + s_index * bar_w
            by = base - h
            body.append(f'<rect class="bar {s.css}" x="{round(bx, 1)}" y="{round(by, 1)}" width="{round(bar_w, 1)}" '
                        f'height="{round(h, 1)}"><title>{_e(category)}, {_e(s.name)}: {_e(fmt(value))}</title></rect>')
            if stacked:
                base = by
        if len(categories) <= 24 or c % max(1, len(categories) // 12) == 0:
            body.append(f'<text class="tick" x="{round(left + c * slot + slot / 2, 1)}" y="{height - bottom + 16}" '
                        f'text-anchor="middle">{_e(category)}</text>')
    lx = left
    for s in series:
        body.append(f'<rect class="bar {s.css}" x="{lx}" y="8" width="12" height="12"/>'
                    f'<text class="legend" x="{lx + 16}" y="18">{_e(s.name)}</text>')
        lx += 24 + 8 * len(s.name)
    desc = "; ".join(f"{s.name}: " + ", ".join(f"{c} {fmt(v) if v is not None else 'none'}"
                                                 for c, v in zip(categories, s.values, strict=True))
                     for s in series)
    return _svg(height, title, desc, body, "bar-chart")


def duration_label(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))
