"""Participants' answers to the postmortem prompts, one per person and topic."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage import sql
from storage.models import (
    PromptAnswer,
)


def put_answer(session: Session, incident_id: int, user_id: str, topic: str, text: str, now: datetime) -> None:
    """A participant's answer for one topic; answering again replaces the earlier words."""
    current = session.exec(
        select(PromptAnswer).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id,
                                   PromptAnswer.topic == topic)
    ).first()
    if current is None:
        if sql.insert_ignoring_conflict(session, PromptAnswer, {"incident_id": incident_id, "user_id": user_id,
                                                            "topic": topic, "text": text, "answered_at": now},
                                    ["incident_id", "user_id", "topic"]):
            return
        current = session.exec(
            select(PromptAnswer).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id,
                                       PromptAnswer.topic == topic)
        ).one()
    current.text, current.answered_at = text, now
    session.add(current)
    session.flush()


def answers(session: Session, incident_id: int) -> list[PromptAnswer]:
    """Every answer of an incident, oldest first."""
    return list(session.exec(
        select(PromptAnswer).where(PromptAnswer.incident_id == incident_id)
        .order_by(PromptAnswer.answered_at, PromptAnswer.id)
    ))


def answered_topics(session: Session, incident_id: int, user_id: str) -> set[str]:
    return set(session.exec(
        select(PromptAnswer.topic).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id)
    ))

