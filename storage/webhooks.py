"""Tracker webhook deliveries already applied (replay protection), by source and delivery id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from storage import sql
from storage.models import WebhookDelivery


def remember_delivery(session: Session, source: str, delivery_id: str, now: datetime) -> bool:
    """Record a delivery in the caller's transaction. False when it was seen before (a replay)."""
    return sql.insert_ignoring_conflict(session, WebhookDelivery,
                                        {"source": source, "delivery_id": delivery_id[:100], "received_at": now},
                                        ["source", "delivery_id"])


def forget_deliveries_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff))
    return result.rowcount or 0
