"""Milestones, and the metrics between them, as data (docs/postmortem.md, metrics).

Adding a metric is adding a row to METRICS; nothing else has to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.when import format_duration

MILESTONES: tuple[str, ...] = ("started", "detected", "acknowledged", "mitigated", "resolved")

MILESTONE_LABELS = {
    "started": "Impact started",
    "detected": "Detected",
    "acknowledged": "Acknowledged",
    "mitigated": "Mitigated",
    "resolved": "Resolved",
}

SEVERITIES: tuple[str, ...] = ("sev1", "sev2", "sev3", "sev4")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    start: str
    end: str
    definition: str
    # How it reads when measured from the declaration, for lack of its start milestone (None: it
    # is not measured then: time to detect from the declaration says nothing about detection).
    declared_definition: str | None = None


NOT_STARTED = "when the incident was declared (the start of impact was not recorded)"
METRICS: tuple[Metric, ...] = (
    Metric("time_to_detect", "Time to detect", "started", "detected",
           "from the start of impact to its detection"),
    Metric("time_to_acknowledge", "Time to acknowledge", "detected", "acknowledged",
           "from detection until a responder acknowledged it"),
    Metric("time_to_mitigate", "Time to mitigate", "started", "mitigated",
           "from the start of impact until the impact was mitigated",
           f"from {NOT_STARTED} until the impact was mitigated"),
    Metric("time_to_resolve", "Time to resolve", "started", "resolved",
           "from the start of impact until the incident was resolved; this is the incident's duration",
           f"from {NOT_STARTED} until it was resolved; this is the incident's duration"),
)
DURATION = next(m for m in METRICS if m.key == "time_to_resolve")
NOT_RECORDED = "not recorded"
FROM_DECLARATION = "from declaration"


@dataclass(frozen=True)
class MetricValue:
    metric: Metric
    value: timedelta | None  # None: a milestone is missing
    from_declared: bool = False  # measured from the declaration, the start milestone being missing

    @property
    def text(self) -> str:
        if self.value is None:
            return NOT_RECORDED
        return format_duration(self.value) + (f" ({FROM_DECLARATION})" if self.from_declared else "")

    @property
    def definition(self) -> str:
        return self.metric.declared_definition if self.from_declared else self.metric.definition


def _value(metric: Metric, times: Mapping[str, datetime], declared_at: datetime | None) -> MetricValue:
    start, end = times.get(metric.start), times.get(metric.end)
    if end is None:
        return MetricValue(metric, None)
    if start is not None:
        return MetricValue(metric, end - start)
    if declared_at is not None and metric.declared_definition is not None:
        return MetricValue(metric, end - declared_at, from_declared=True)
    return MetricValue(metric, None)


def measure(times: Mapping[str, datetime], declared_at: datetime | None = None) -> list[MetricValue]:
    """Every metric for the given milestone times; one whose milestone is missing is not recorded.

    Without a `started` time, the metrics that run to mitigation and resolution are measured from
    `declared_at` (when the incident was declared), and say so.
    """
    return [_value(metric, times, declared_at) for metric in METRICS]


def duration(times: Mapping[str, datetime], declared_at: datetime | None = None) -> timedelta | None:
    """The incident's duration: from the start of impact (else its declaration) to resolution."""
    return _value(DURATION, times, declared_at).value


def duration_text(times: Mapping[str, datetime], declared_at: datetime | None = None) -> str | None:
    """`1 h 6 min`, or `1 h 2 min (from declaration)`; None until it is resolved."""
    value = _value(DURATION, times, declared_at)
    return value.text if value.value is not None else None


def order_warnings(times: Mapping[str, datetime]) -> list[str]:
    """A warning for each recorded milestone earlier than one that should precede it."""
    warnings = []
    for i, later in enumerate(MILESTONES):
        for earlier in MILESTONES[:i]:
            if later in times and earlier in times and times[later] < times[earlier]:
                warnings.append(
                    f"{MILESTONE_LABELS[later]} is recorded before {MILESTONE_LABELS[earlier].lower()}: "
                    f"check the times with `/incident {later}` or `/incident {earlier}`."
                )
    return warnings


def status_of(recorded: set[str] | Mapping[str, object]) -> str:
    """open, mitigated or resolved, from which milestones are recorded."""
    if "resolved" in recorded:
        return "resolved"
    if "mitigated" in recorded:
        return "mitigated"
    return "open"


STATUS_LABELS = {"open": "Investigating", "mitigated": "Mitigated", "resolved": "Resolved"}


def severity_label(severity: str | None) -> str:
    return severity.upper() if severity else "not set"
