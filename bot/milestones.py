"""Milestones, and the metrics between them, as data (SPEC 3, "Milestones and metrics").

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


METRICS: tuple[Metric, ...] = (
    Metric("time_to_detect", "Time to detect", "started", "detected",
           "from the start of impact to its detection"),
    Metric("time_to_acknowledge", "Time to acknowledge", "detected", "acknowledged",
           "from detection until a responder acknowledged it"),
    Metric("time_to_mitigate", "Time to mitigate", "started", "mitigated",
           "from the start of impact until the impact was mitigated"),
    Metric("time_to_resolve", "Time to resolve", "started", "resolved",
           "from the start of impact until the incident was resolved; this is the incident's duration"),
)
DURATION = next(m for m in METRICS if m.key == "time_to_resolve")
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class MetricValue:
    metric: Metric
    value: timedelta | None  # None: a milestone is missing

    @property
    def text(self) -> str:
        return NOT_RECORDED if self.value is None else format_duration(self.value)


def measure(times: Mapping[str, datetime]) -> list[MetricValue]:
    """Every metric for the given milestone times; one whose milestone is missing is not recorded."""
    values = []
    for metric in METRICS:
        start, end = times.get(metric.start), times.get(metric.end)
        values.append(MetricValue(metric, end - start if start and end else None))
    return values


def duration(times: Mapping[str, datetime]) -> timedelta | None:
    start, end = times.get(DURATION.start), times.get(DURATION.end)
    return end - start if start and end else None


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
